"""A model's network as an fp32 ONNX graph in memory (``onnx_bytes``): what the runtime exports, once,
on a miss of its export cache, and what ``crnn export`` (``export.py``) checks, quantises and writes.

The TorchScript-based exporter (``dynamo=False``, opset 17) is used on purpose: measured with torch
2.13, the default dynamo exporter bakes the sequence length into a Reshape around the LSTM, so its
model only works at the export width; this one emits native ONNX ``LSTM`` nodes and works at every
width. The graph takes ``images`` (N, C, H, W) and ``widths`` (N,) and returns ``log_probs``
(N, T, classes) and ``lengths`` (N,), the same contract as every engine (``runtime.Engine``).
It imports PyTorch, so ``runtime`` imports it only on a cache miss.
"""

from __future__ import annotations

import io
import json
import warnings

import torch

from ..bundle import METADATA_KEY, ModelBundle
from ..model import CRNN
from .metadata import DEFAULT_OPSET


class _WithLengths(torch.nn.Module):
    def __init__(self, model: CRNN) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor, widths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model(images, widths), self.model.output_lengths(widths)


def onnx_bytes(bundle: ModelBundle, opset: int = DEFAULT_OPSET) -> bytes:
    """The model as an ONNX file in memory, with the bundle's JSON config in its metadata."""
    import onnx

    # The wrapper must be in eval mode: export restores the wrapper's mode afterwards, recursively.
    wrapper = _WithLengths(bundle.model).eval()
    channels, height = bundle.preprocess.channels, bundle.preprocess.height
    images = torch.zeros(2, channels, height, 64)
    widths = torch.tensor([64, 40])
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            wrapper, (images, widths), buffer, dynamo=False, opset_version=opset,  # type: ignore[arg-type]
            input_names=["images", "widths"], output_names=["log_probs", "lengths"],
            dynamic_axes={"images": {0: "batch", 3: "width"}, "widths": {0: "batch"},
                          "log_probs": {0: "batch", 1: "steps"}, "lengths": {0: "batch"}},
        )  # fmt: skip
    graph = onnx.load_from_string(buffer.getvalue())
    entry = graph.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(bundle.describe(), ensure_ascii=False)
    graph.producer_name = "crnn-ctc"
    return graph.SerializeToString()
