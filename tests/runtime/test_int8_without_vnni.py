"""An int8 graph reads the same on an x86 CPU without VNNI as on one with it.

ONNX Runtime picks its int8 kernels by CPUID, so such a CPU is emulated: ``qemu-x86_64 -cpu EPYC-Milan``
(AMD Zen 3: AVX2, no VNNI), the CPU on which the bundled 8-bit graph once read 65.85% of IIIT5K against
fp32's 67.65%. The emulated run must pick the same class at every step as this machine's native run;
the same graph without the engine's precise-kernel option must not, or the emulation proves nothing.
qemu-user comes with ``make install`` (the ``qemu`` target); without it the test is skipped.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

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

# Runs under the emulated CPU: this package's OnnxEngine on the inputs, best class per step saved.
# /proc/cpuinfo stays the host's under qemu-user, so the package is told what CPUID says: AVX2, no VNNI.
# argv: GRAPH INPUTS OUT MODE, MODE "engine" (as shipped) or "plain" (without the precise kernels).
EMULATED = """
import sys

import numpy as np

from crnn_ctc import cpu

graph, inputs, out, mode = sys.argv[1:]
cpu.cpu_flags = lambda cpuinfo="/proc/cpuinfo": frozenset({"avx2", "fma", "sse4_1"})
if mode == "plain":
    from crnn_ctc.runtime import onnx_engine

    onnx_engine.int8_kernels_may_saturate = lambda: False
from crnn_ctc.runtime.onnx_engine import OnnxEngine

engine = OnnxEngine(graph, threads=1)
data = np.load(inputs)
best = {}
for index in range(len(data.files) // 2):
    log_probs, lengths = engine.run(data[f"images{index}"], data[f"widths{index}"])
    best[f"best{index}"] = log_probs.argmax(-1)
np.savez(out, **best)
"""


def _emulated(graph: Path, inputs: Path, out: Path, mode: str) -> dict[str, np.ndarray]:
    site = [path for path in sys.path if path.endswith("site-packages")]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), *site]), "OMP_NUM_THREADS": "1"}
    command = [QEMU or "qemu-x86_64", "-cpu", EMULATED_CPU, os.path.realpath(sys.executable), "-c", EMULATED]
    result = subprocess.run(
        [*command, str(graph), str(inputs), str(out), mode], env=environment, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    with np.load(out) as saved:
        return {key: saved[key] for key in saved.files}


def test_int8_graph_reads_the_same_without_vnni(model_path, word_images, tmp_path) -> None:
    from PIL import Image

    from test_export import labelled_folder

    bundle = load_bundle(model_path)
    calibration = labelled_folder(word_images, tmp_path / "calibration")
    graph, _ = export_onnx(bundle, tmp_path / "m.int8.onnx", int8="static", calibration=calibration,
                           calibration_count=30)  # fmt: skip
    batches = [collate([preprocess(Image.open(path), bundle.preprocess)]) for path in word_images[:6]]
    inputs = tmp_path / "inputs.npz"
    np.savez(inputs, **{f"images{i}": b[0] for i, b in enumerate(batches)},
             **{f"widths{i}": b[1] for i, b in enumerate(batches)})  # fmt: skip
    engine = OnnxEngine(graph, threads=1)
    native = {f"best{i}": engine.run(*batch)[0].argmax(-1) for i, batch in enumerate(batches)}

    plain = _emulated(graph, inputs, tmp_path / "plain.npz", "plain")
    differing = sum(int((plain[key] != native[key]).sum()) for key in native)
    assert differing > 0, "the emulated CPU read exactly as this one without the option: it emulates no saturation"

    precise = _emulated(graph, inputs, tmp_path / "engine.npz", "engine")
    for key in native:
        np.testing.assert_array_equal(precise[key], native[key])
