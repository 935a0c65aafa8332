"""The bundled model's fp32 and int8 ONNX graphs on this CPU, side by side: is int8 worth running here?

Why: ``--backend auto`` runs the int8 graph only on x86 CPUs with VNNI (``cpu.int8_reads_like_fp32``).
Without VNNI, ONNX Runtime's default int8 kernels saturate (wrong answers), and ``OnnxEngine`` asks
for exact ones instead; whether those are faster than fp32 there decides whether ``auto`` should use
them. Three engines in turn on the same batches of random images (the network's cost does not depend
on the pixels): the fp32 graph as ``Recognizer.load(..., backend="onnx")`` builds it, the int8 graph
as ``OnnxEngine`` runs it on this CPU, and the int8 graph with ONNX Runtime's default kernels.

    .venv/bin/python benchmarks/int8_speed.py [--rounds 12] [--threads 2] [--batch 64] [--widths 100,200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from crnn_ctc import Recognizer, cpu
from crnn_ctc.bundle import BUNDLED_MODEL
from crnn_ctc.runtime import int8_companion, onnx_engine
from crnn_ctc.runtime.onnx_engine import OnnxEngine


def engines(threads: int) -> dict[str, object]:
    """The three engines, named by what runs."""
    companion = int8_companion(BUNDLED_MODEL)
    if companion is None:
        raise SystemExit(f"no int8 graph beside {BUNDLED_MODEL}: run `make pretrained`")
    fp32 = Recognizer.load(BUNDLED_MODEL, backend="onnx", threads=threads).engine
    exact = "exact kernels" if cpu.int8_kernels_may_saturate() else "VNNI kernels"
    chosen = OnnxEngine(companion, threads=threads)  # as the package runs it on this CPU
    saturating = onnx_engine.int8_kernels_may_saturate
    onnx_engine.int8_kernels_may_saturate = lambda: False  # ONNX Runtime's own choice of kernels
    try:
        default = OnnxEngine(companion, threads=threads)
    finally:
        onnx_engine.int8_kernels_may_saturate = saturating
    return {"fp32": fp32, f"int8, as OnnxEngine runs it here ({exact})": chosen, "int8, default kernels": default}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=12, help="timed runs of each engine per width")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--widths", default="100,200")
    args = parser.parse_args()
    widths = [int(width) for width in args.widths.split(",")]
    named = engines(args.threads)
    rng = np.random.default_rng(0)
    rates: dict[str, list[float]] = {name: [] for name in named}
    for width in widths:
        images = rng.random((args.batch, 1, 32, width), dtype=np.float32)
        lengths = np.full(args.batch, width, dtype=np.int64)
        times: dict[str, list[float]] = {name: [] for name in named}
        for engine in named.values():
            engine.run(images, lengths)  # type: ignore[attr-defined]  # warm-up
        for _ in range(args.rounds):  # in turn, so all three see the same load
            for name, engine in named.items():
                started = time.perf_counter()
                engine.run(images, lengths)  # type: ignore[attr-defined]
                times[name].append(time.perf_counter() - started)
        for name in named:
            rates[name].append(args.batch / statistics.median(times[name]))
    flags = cpu.cpu_flags()
    print(f"CPU: {cpu.cpu_name()}, {os.cpu_count()} cores; VNNI: {'yes' if cpu.int8_reads_like_fp32(flags) else 'no'}; "
          f"{args.threads} threads, batch {args.batch}, median of {args.rounds} rounds; images/s\n")  # fmt: skip
    print("| graph | " + " | ".join(f"width {width}" for width in widths) + " |")
    print("| --- | " + " | ".join("---:" for _ in widths) + " |")
    for name, values in rates.items():
        print(f"| {name} | " + " | ".join(f"{value:.0f}" for value in values) + " |")


if __name__ == "__main__":
    main()
