"""Inference speed of every architecture and runtime variant, as ratios to PyTorch eager fp32.

Why: ``crnn predict`` picks ONNX Runtime (and the int8 graph where one ships) on CPUs; this says by
how much that pays, per architecture, batch size and input width, measured in one run so that a
noisy machine slows every variant alike. Variants:

* ``torch fp32``: PyTorch eager, ``torch.inference_mode()`` (the reference, ratio 1.00);
* ``torch bf16``: the same under ``torch.autocast("cpu", torch.bfloat16)`` (helps only on CPUs with
  native bf16 matrix units; reported either way);
* ``ort fp32``: the exported ONNX graph (``crnn export``) on ONNX Runtime;
* ``ort int8 dyn``: dynamic int8 of the matrix products and LSTMs (``crnn export --int8 dynamic``);
* ``ort int8 static``: calibrated QDQ int8 of the convolutions and matrix products (``crnn export
  --int8``, the kind the bundled model ships), calibrated on 64 rendered words.

Models have random weights (speed does not depend on them); inputs are random 32 x W gray images,
all of width W (no padding). Each cell is warmed up, then timed ``--repeats`` times round-robin
over the variants, each repeat lasting about ``--seconds``; the median is reported.

Usage: ``OMP_NUM_THREADS=1 python benchmarks/inference.py [--archs vgg,small,tiny] [--threads 1]
[--widths 50,100,200,400,800] [--plot inference.png] [--markdown]``
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from crnn_ctc.bundle import new_bundle
from crnn_ctc.charset import Charset
from crnn_ctc.cpu import describe_cpu
from crnn_ctc.export import onnx_bytes, quantize_int8, quantize_static_int8
from crnn_ctc.model import ARCHITECTURES
from crnn_ctc.preprocess import preprocess
from crnn_ctc.runtime import OnnxEngine

HEIGHT = 32
BATCH_SIZES = (1, 64)
TABLE_WIDTH = 100
VARIANTS = ("torch fp32", "torch bf16", "ort fp32", "ort int8 dyn", "ort int8 static")
CALIBRATION_WORDS = ("the", "street", "Coffee", "OPEN", "42", "$9.99", "recognition", "a", "2021-05-12", "Hello!")

Runner = Callable[[np.ndarray, np.ndarray], object]


def calibration_images(bundle) -> list[np.ndarray]:  # type: ignore[no-untyped-def]
    """64 preprocessed renderings of words in Pillow's own font: no font installation needed."""
    images = []
    for index in range(64):
        word = CALIBRATION_WORDS[index % len(CALIBRATION_WORDS)]
        font = ImageFont.load_default(size=14 + index % 20)
        left, top, right, bottom = font.getbbox(word)
        image = Image.new("L", (right - left + 8, bottom - top + 8), 255 - index)
        ImageDraw.Draw(image).text((4 - left, 4 - top), word, fill=index * 2, font=font)
        images.append(preprocess(image, bundle.preprocess))
    return images


def make_runners(arch: str, threads: int) -> dict[str, Runner]:
    bundle = new_bundle(arch, Charset.preset("printable"), seed=0)
    model = bundle.model.eval()
    fp32 = onnx_bytes(bundle)

    def torch_runner(bf16: bool) -> Runner:
        def run(images: np.ndarray, widths: np.ndarray) -> object:
            autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
            with torch.inference_mode(), autocast:
                return model(torch.from_numpy(images), torch.from_numpy(widths))

        return run

    runners: dict[str, Runner] = {"torch fp32": torch_runner(False), "torch bf16": torch_runner(True)}
    for name, graph in (
        ("ort fp32", fp32),
        ("ort int8 dyn", quantize_int8(fp32)),
        ("ort int8 static", quantize_static_int8(fp32, calibration_images(bundle))),
    ):
        runners[name] = OnnxEngine(graph, threads=threads).run
    return runners


def inputs(batch: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    generator = np.random.default_rng(batch * 10_000 + width)
    images = generator.uniform(-1, 1, (batch, 1, HEIGHT, width)).astype(np.float32)
    return images, np.full(batch, width, dtype=np.int64)


def time_cells(
    runners: dict[str, Runner], cells: list[tuple[int, int]], repeats: int, seconds: float
) -> dict[tuple[str, int, int], float]:
    """Median seconds per call of each (variant, batch, width), round-robin over variants and cells."""
    calls: dict[tuple[str, int, int], int] = {}
    samples: dict[tuple[str, int, int], list[float]] = {}
    data = {cell: inputs(*cell) for cell in cells}
    for name, run in runners.items():  # warm up and size each timed repeat to about ``seconds``
        for cell in cells:
            run(*data[cell])
            start = time.perf_counter()
            run(*data[cell])
            calls[(name, *cell)] = max(1, round(seconds / max(time.perf_counter() - start, 1e-6)))
    for _ in range(repeats):
        for cell in cells:
            for name, run in runners.items():
                key = (name, *cell)
                start = time.perf_counter()
                for _ in range(calls[key]):
                    run(*data[cell])
                samples.setdefault(key, []).append((time.perf_counter() - start) / calls[key])
    return {key: statistics.median(values) for key, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archs", default=",".join(ARCHITECTURES))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--widths", default="50,100,200,400,800", help="latency vs width, batch 1")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=0.3)
    parser.add_argument("--plot", type=Path, default=Path("inference.png"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    widths = [int(width) for width in args.widths.split(",")]
    archs = args.archs.split(",")
    load = os.getloadavg()[0]
    print(f"torch {torch.__version__}, {args.threads} thread(s), load average {load:.2f} at start")
    print(describe_cpu() + "\n")  # int8 speed and accuracy depend on VNNI (docs/benchmarks.md)

    print(f"## Throughput at width {TABLE_WIDTH} (images/s; ratio to torch fp32)\n")
    header = "| arch | batch | " + " | ".join(VARIANTS) + " |"
    print(header + "\n|" + " --- |" * 2 + " ---: |" * len(VARIANTS))
    latency: dict[str, dict[str, list[float]]] = {}
    for arch in archs:
        runners = make_runners(arch, args.threads)
        cells = [(batch, TABLE_WIDTH) for batch in BATCH_SIZES] + [(1, w) for w in widths if w != TABLE_WIDTH]
        medians = time_cells(runners, cells, args.repeats, args.seconds)
        for batch in BATCH_SIZES:
            reference = batch / medians[("torch fp32", batch, TABLE_WIDTH)]
            row = []
            for name in VARIANTS:
                speed = batch / medians[(name, batch, TABLE_WIDTH)]
                row.append(f"{speed:,.0f} ({speed / reference:.2f}×)")
            print(f"| {arch} | {batch} | " + " | ".join(row) + " |", flush=True)
        latency[arch] = {name: [1000 * medians[(name, 1, w)] for w in widths] for name in VARIANTS}

    print("\n## Latency vs width, batch 1 (ms per image)\n")
    print("| arch | variant | " + " | ".join(f"W={w}" for w in widths) + " |")
    print("|" + " --- |" * 2 + " ---: |" * len(widths))
    for arch, per_variant in latency.items():
        for name, values in per_variant.items():
            print(f"| {arch} | {name} | " + " | ".join(f"{v:.2f}" for v in values) + " |")
    print(f"\nload average at end {os.getloadavg()[0]:.2f}")
    plot(latency, widths, args.plot)
    print(f"plot: {args.plot}")


def plot(latency: dict[str, dict[str, list[float]]], widths: list[int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(latency), figsize=(5 * len(latency), 4), squeeze=False)
    for axis, (arch, per_variant) in zip(axes[0], latency.items(), strict=True):
        for name, values in per_variant.items():
            axis.plot(widths, values, marker="o", label=name)
        axis.set(title=f"{arch}: batch 1", xlabel="input width (px, height 32)", ylabel="ms per image")
        axis.set_yscale("log")
        axis.grid(alpha=0.3)
    axes[0][0].legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
