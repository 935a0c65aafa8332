"""int8 graphs on an x86 CPU without VNNI, emulated, against this machine's own run.

ONNX Runtime picks its int8 kernels by CPUID, so the CPU without VNNI is emulated with qemu-user
(``make qemu``; default ``-cpu EPYC-Milan``: AMD Zen 3, AVX2 only). Each graph runs once natively and
twice emulated: with ONNX Runtime's default kernels, and as ``OnnxEngine`` runs it on such a CPU (exact
kernels, ``session.x64quantprecision``). Printed: how many images and time steps pick the same class as
the native run. Run it on a CPU with VNNI, so that the native run is the reference; emulation is
hundreds of times slower than the native run (about 3 s an image), hence few images: on the first 12
IIIT5K images the default kernels happened to agree with the native run, on the first 40 they did not.

    .venv/bin/python benchmarks/int8_cpus.py --count 40
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from crnn_ctc import cpu
from crnn_ctc.bundle import BUNDLED_MODEL, load_bundle
from crnn_ctc.data.readers import open_source
from crnn_ctc.preprocess import collate, preprocess
from crnn_ctc.runtime.onnx_engine import OnnxEngine

REPO = Path(__file__).resolve().parents[1]

# Runs under qemu: argv GRAPH INPUTS OUT MODE ("default" kernels or "engine" as OnnxEngine picks them on
# a CPU without VNNI). /proc/cpuinfo stays the host's under qemu-user, so the package is told the CPUID's.
EMULATED = """
import sys
import time

import numpy as np

from crnn_ctc import cpu
from crnn_ctc.runtime import onnx_engine

graph, inputs, out, mode = sys.argv[1:]
cpu.cpu_flags = lambda cpuinfo="/proc/cpuinfo": frozenset({"avx2", "fma", "sse4_1"})
if mode == "default":
    onnx_engine.int8_kernels_may_saturate = lambda: False
engine = onnx_engine.OnnxEngine(graph, threads=1)
data = np.load(inputs)
start = time.perf_counter()
best = {}
for i in range(len(data.files) // 2):
    best[f"best{i}"] = engine.run(data[f"images{i}"], data[f"widths{i}"])[0].argmax(-1)
np.savez(out, seconds=time.perf_counter() - start, **best)
"""


def write_inputs(batches: list[tuple[np.ndarray, np.ndarray]], path: Path) -> None:
    """Preprocessed (images, widths) batches as the emulated run reads them."""
    np.savez(path, **{f"images{i}": b[0] for i, b in enumerate(batches)},
             **{f"widths{i}": b[1] for i, b in enumerate(batches)})  # fmt: skip


def emulated(qemu: str, cpu_model: str, graph: Path, inputs: Path, out: Path, mode: str) -> dict[str, np.ndarray]:
    site = [path for path in sys.path if path.endswith("site-packages")]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), *site]), "OMP_NUM_THREADS": "1"}
    command = [qemu, "-cpu", cpu_model, os.path.realpath(sys.executable), "-c", EMULATED]
    result = subprocess.run([*command, str(graph), str(inputs), str(out), mode], env=environment,
                            capture_output=True, text=True)  # fmt: skip
    if result.returncode != 0:
        raise SystemExit(f"the emulated run failed:\n{result.stderr[-3000:]}")
    with np.load(out) as saved:
        return {key: saved[key] for key in saved.files}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=BUNDLED_MODEL, help="model file whose graphs to run")
    parser.add_argument("--graphs", type=Path, nargs="*", help="ONNX graphs (default: the model's int8 graph)")
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "iiit5k_train"))
    parser.add_argument("--count", type=int, default=40, help="images, the first of DATA (default: %(default)s)")
    parser.add_argument("--cpu", default="EPYC-Milan", help="qemu CPU model (default: %(default)s)")
    args = parser.parse_args()
    qemu = shutil.which("qemu-x86_64")
    if qemu is None:
        raise SystemExit("qemu-x86_64 not found: make qemu")
    flags = cpu.cpu_flags()
    print(
        f"host CPU: {cpu.cpu_name()}; VNNI: {'yes' if cpu.int8_reads_like_fp32(flags) else 'no'}; emulated: {args.cpu}"
    )
    bundle = load_bundle(args.model)
    graphs = args.graphs or [args.model.with_suffix(".int8.onnx")]
    dataset = open_source(Path(args.data))
    batches = [collate([preprocess(dataset[i][0], bundle.preprocess)]) for i in range(min(args.count, len(dataset)))]
    print("| graph | run | images: same classes as native | steps: same class | seconds |")
    print("| --- | --- | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as folder:
        inputs = Path(folder) / "inputs.npz"
        write_inputs(batches, inputs)
        for graph in graphs:
            engine = OnnxEngine(graph, threads=1)
            start = time.perf_counter()
            native = {f"best{i}": engine.run(*batch)[0].argmax(-1) for i, batch in enumerate(batches)}
            print(
                f"| {graph.name} | native | {len(native)}/{len(native)} | 100.00% | {time.perf_counter() - start:.2f} |"
            )
            for mode, label in (
                ("default", "emulated, default kernels"),
                ("engine", "emulated, as OnnxEngine runs it"),
            ):
                run = emulated(qemu, args.cpu, graph, inputs, Path(folder) / f"{mode}.npz", mode)
                same = sum(np.array_equal(run[key], native[key]) for key in native)
                steps = sum(int((run[key] == native[key]).sum()) for key in native)
                total = sum(native[key].size for key in native)
                print(f"| {graph.name} | {label} | {same}/{len(native)} | {100 * steps / total:.2f}% | "
                      f"{float(run['seconds']):.1f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
