"""The ONNX Runtime engine: the exported graph on the CPU (or any provider ONNX Runtime has)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..bundle import METADATA_KEY
from ..cpu import int8_kernels_may_saturate
from ..errors import ModelFileError


class OnnxEngine:
    name = "onnx"

    def __init__(self, model: bytes | str | Path, threads: int | None = None) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        # Idle pool threads sleep instead of spinning: measured here with 2 threads on a busy 2-core
        # machine, spinning cost 30-50% more CPU per image and 20-45% of the throughput.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if int8_kernels_may_saturate():
            # x86 without VNNI: ONNX Runtime's int8 graphs run on u8s8 kernels that add pairs of products in
            # 16 bits and saturate (an 8-bit graph read 1.8 points less of IIIT5K there). This option makes
            # it turn int8 weights into uint8 and use exact u8u8 kernels: slower, but the answers of a VNNI
            # CPU (checked under an emulated AVX2 CPU: tests/runtime/test_int8_without_vnni.py). Not set
            # with VNNI, where it changes no answer and cost 1.3-1.8x the time here. fp32 graphs: no effect.
            options.add_session_config_entry("session.x64quantprecision", "1")
        source = model if isinstance(model, bytes) else str(model)
        try:
            self.session = onnxruntime.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own exception types for damaged files
            where = "the exported model" if isinstance(model, bytes) else str(model)
            raise ModelFileError(f"{where}: ONNX Runtime cannot load it ({error})") from None

    def metadata(self) -> dict[str, str]:
        """The graph's metadata entries: the config, and for an exported file its source and quantisation."""
        return dict(self.session.get_modelmeta().custom_metadata_map)

    def description(self) -> dict[str, Any]:
        """The crnn-ctc JSON config stored in the graph's metadata."""
        metadata = self.metadata()
        if METADATA_KEY not in metadata:
            raise ModelFileError("an ONNX model, but not one exported by crnn-ctc (no config in its metadata)")
        try:
            description: dict[str, Any] = json.loads(metadata[METADATA_KEY])
        except json.JSONDecodeError as error:
            raise ModelFileError(f"the ONNX model's config is malformed: {error}") from None
        return description

    def run(self, batch: np.ndarray, widths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        log_probs, lengths = self.session.run(
            None, {"images": np.ascontiguousarray(batch, dtype=np.float32), "widths": widths.astype(np.int64)}
        )
        return log_probs, lengths
