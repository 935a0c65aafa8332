"""ONNX export: dynamic batch and width, the model's config in the file's metadata, a parity check.

The TorchScript-based exporter (``dynamo=False``, opset 17) is used on purpose: measured with torch
2.13, the default dynamo exporter bakes the sequence length into a Reshape around the LSTM, so its
model only works at the export width; this one emits native ONNX ``LSTM`` nodes and works at every
width. The graph takes ``images`` (N, C, H, W) and ``widths`` (N,) and returns ``log_probs``
(N, T, classes) and ``lengths`` (N,), the same contract as every engine (``runtime.Engine``).
"""

from __future__ import annotations

import io
import json
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from .bundle import METADATA_KEY, ModelBundle
from .errors import CrnnError
from .files import atomic_file
from .model import CRNN

DEFAULT_OPSET = 17
PARITY_WIDTHS = (16, 100, 257, 640)
PARITY_BATCHES = (1, 3)
PARITY_TOLERANCE = 1e-3  # max |difference| of log-probabilities, fp32
# int8 changes numbers by design: it must still pick the same class at (nearly) every step.
INT8_MIN_AGREEMENT = 0.99
# Measured here (docs/benchmarks.md): quantising the matrix products and LSTMs is 1.2-1.45x faster
# than fp32, while quantising every op (ConvInteger) is 2-3x slower.
INT8_OPS = ("MatMul", "Gemm", "LSTM")


class ExportError(CrnnError):
    """An export failed, or its parity check found outputs that differ from PyTorch's."""


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


def quantize_int8(model_bytes: bytes) -> bytes:
    """Dynamic int8 quantisation of the matrix products and LSTMs (``INT8_OPS``) only."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / "fp32.onnx", Path(folder) / "int8.onnx"
        source.write_bytes(model_bytes)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_dynamic(source, target, op_types_to_quantize=list(INT8_OPS), weight_type=QuantType.QInt8)
        return target.read_bytes()


def parity_check(
    bundle: ModelBundle, model_bytes: bytes, tolerance: float = PARITY_TOLERANCE, int8: bool = False
) -> float:
    """Largest |log-prob difference| between PyTorch and ONNX Runtime over several widths and batch
    sizes, with padding; raises ``ExportError`` above ``tolerance`` (fp32), below
    ``INT8_MIN_AGREEMENT`` of steps with the same best class (int8), or if any length differs."""
    from .runtime.onnx_engine import OnnxEngine

    engine = OnnxEngine(model_bytes, threads=1)
    generator = np.random.default_rng(0)
    worst = 0.0
    agreeing = steps = 0
    channels, height = bundle.preprocess.channels, bundle.preprocess.height
    for width in PARITY_WIDTHS:
        for batch in PARITY_BATCHES:
            images = generator.standard_normal((batch, channels, height, width)).astype(np.float32)
            widths = np.full(batch, width, dtype=np.int64)
            widths[1:] = generator.integers(max(16, width // 3), width + 1, size=batch - 1)
            with torch.no_grad():
                expected = bundle.model(torch.from_numpy(images), torch.from_numpy(widths)).numpy()
                expected_lengths = bundle.model.output_lengths(torch.from_numpy(widths)).numpy()
            got, lengths = engine.run(images, widths)
            if got.shape != expected.shape or not np.array_equal(lengths, expected_lengths):
                raise ExportError(f"ONNX output shape or lengths differ at width {width}, batch {batch}")
            for row, length in enumerate(lengths):
                worst = max(worst, float(np.abs(got[row, :length] - expected[row, :length]).max()))
                agreeing += int((got[row, :length].argmax(-1) == expected[row, :length].argmax(-1)).sum())
                steps += int(length)
    if int8:
        if agreeing < INT8_MIN_AGREEMENT * steps:
            raise ExportError(f"the int8 model picks another class at {steps - agreeing} of {steps} steps; rejected")
        return worst
    if worst > tolerance:
        raise ExportError(f"ONNX Runtime and PyTorch differ by {worst:.2e} (limit {tolerance:.0e}); export rejected")
    return worst


def export_onnx(
    bundle: ModelBundle, out: str | Path, opset: int = DEFAULT_OPSET, int8: bool = False
) -> tuple[Path, float]:
    """Write ``out`` atomically after a passing parity check; return the path and the worst difference."""
    bundle.model.eval()
    data = onnx_bytes(bundle, opset)
    if int8:
        data = quantize_int8(data)
    worst = parity_check(bundle, data, int8=int8)
    out = Path(out)
    with atomic_file(out) as file:
        file.write(data)
    return out, worst
