"""An int8 graph reads the same on an x86 CPU without VNNI as on one with it.

ONNX Runtime picks its int8 kernels by CPUID, so such a CPU is emulated: ``qemu-x86_64 -cpu EPYC-Milan``
(AMD Zen 3: AVX2, no VNNI), the CPU on which the bundled 8-bit graph once read 65.85% of IIIT5K against
fp32's 67.65%. The emulated run must pick the same class at every step as this machine's native run;
the same graph without the engine's precise-kernel option must not, or the emulation proves nothing.
The emulated runs go through ``benchmarks/int8_cpus.py``, the same code that prints the measured table.
qemu-user comes with ``make install`` (the ``qemu`` target); without it the test is skipped.
"""

from __future__ import annotations

import importlib.util
import platform
import shutil
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from crnn_ctc.bundle import load_bundle
from crnn_ctc.export import export_onnx
from crnn_ctc.preprocess import collate, preprocess
from crnn_ctc.runtime.onnx_engine import OnnxEngine

QEMU = shutil.which("qemu-x86_64")
EMULATED_CPU = "EPYC-Milan"
REPO = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        QEMU is None or platform.machine().lower() not in ("x86_64", "amd64"),
        reason="needs qemu-user (qemu-x86_64) on an x86-64 host: make install",
    ),
]


def _benchmark() -> ModuleType:
    """benchmarks/int8_cpus.py, whose emulated runner this test drives (the same code a person runs)."""
    spec = importlib.util.spec_from_file_location("int8_cpus", REPO / "benchmarks" / "int8_cpus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_int8_graph_reads_the_same_without_vnni(model_path, word_images, tmp_path) -> None:
    from PIL import Image

    from test_export import labelled_folder

    benchmark = _benchmark()
    bundle = load_bundle(model_path)
    calibration = labelled_folder(word_images, tmp_path / "calibration")
    graph, _ = export_onnx(bundle, tmp_path / "m.int8.onnx", int8="static", calibration=calibration,
                           calibration_count=30)  # fmt: skip
    batches = [collate([preprocess(Image.open(path), bundle.preprocess)]) for path in word_images[:6]]
    inputs = tmp_path / "inputs.npz"
    benchmark.write_inputs(batches, inputs)
    engine = OnnxEngine(graph, threads=1)
    native = {f"best{i}": engine.run(*batch)[0].argmax(-1) for i, batch in enumerate(batches)}

    qemu = QEMU or "qemu-x86_64"
    plain = benchmark.emulated(qemu, EMULATED_CPU, graph, inputs, tmp_path / "default.npz", "default")
    differing = sum(int((plain[key] != native[key]).sum()) for key in native)
    assert differing > 0, "the emulated CPU read exactly as this one without the option: it emulates no saturation"

    precise = benchmark.emulated(qemu, EMULATED_CPU, graph, inputs, tmp_path / "engine.npz", "engine")
    for key in native:
        np.testing.assert_array_equal(precise[key], native[key])
