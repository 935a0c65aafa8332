"""``crnn bench``: throughput and latency of a model per backend, batch size and input width.

Engines are timed on generated inputs (no image decoding), interleaved round-robin so that a
noisy machine slows every variant alike; each cell is the median of the repeats.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .bundle import ModelBundle
from .extras import extra_imports
from .runtime import Engine, create_engine


@dataclass(frozen=True)
class BenchRow:
    backend: str
    batch_size: int
    width: int
    images_per_s: float
    latency_p50_ms: float  # per batch
    latency_p90_ms: float
    latency_p99_ms: float


def _inputs(bundle: ModelBundle, batch_size: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    generator = np.random.default_rng(width * 1000 + batch_size)
    shape = (batch_size, bundle.preprocess.channels, bundle.preprocess.height, width)
    return generator.standard_normal(shape).astype(np.float32), np.full(batch_size, width, dtype=np.int64)


def run_bench(
    bundle: ModelBundle,
    backends: Sequence[str],
    batch_sizes: Sequence[int],
    widths: Sequence[int],
    *,
    threads: int | None = None,
    seconds: float = 0.5,
    repeats: int = 5,
) -> list[BenchRow]:
    """Time every (backend, batch size, width); each repeat of each cell runs about ``seconds``."""
    engines: dict[str, Engine] = {backend: create_engine(bundle, backend, "cpu", threads) for backend in backends}
    cells = [(b, n, w) for n in batch_sizes for w in widths for b in backends]
    latencies: dict[tuple[str, int, int], list[float]] = {cell: [] for cell in cells}
    calls: dict[tuple[str, int, int], int] = {}
    for cell in cells:  # warm-up, and how many calls make ``seconds``
        backend, batch_size, width = cell
        images, true_widths = _inputs(bundle, batch_size, width)
        engines[backend].run(images, true_widths)
        started = time.perf_counter()
        engines[backend].run(images, true_widths)
        calls[cell] = max(1, int(seconds / max(time.perf_counter() - started, 1e-6)))
    for _ in range(repeats):
        for cell in cells:
            backend, batch_size, width = cell
            images, true_widths = _inputs(bundle, batch_size, width)
            for _ in range(calls[cell]):
                started = time.perf_counter()
                engines[backend].run(images, true_widths)
                latencies[cell].append(time.perf_counter() - started)
    rows = []
    for cell, samples in latencies.items():
        backend, batch_size, width = cell
        p50, p90, p99 = np.percentile(samples, [50, 90, 99]) * 1000
        rows.append(BenchRow(backend, batch_size, width, batch_size / statistics.median(samples), p50, p90, p99))
    return rows


def format_table(rows: Sequence[BenchRow]) -> str:
    lines = [
        "| backend | batch | width | images/s | p50 ms | p90 ms | p99 ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r.backend} | {r.batch_size} | {r.width} | {r.images_per_s:,.0f} | {r.latency_p50_ms:.2f} | "
            f"{r.latency_p90_ms:.2f} | {r.latency_p99_ms:.2f} |"
        )
    return "\n".join(lines)


def plot_latency(rows: Sequence[BenchRow], out: str | Path) -> Path:
    """Median latency per image against width, one line per (backend, batch size)."""
    with extra_imports("train", "the latency plot"):
        import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.5))
    for key in sorted({(r.backend, r.batch_size) for r in rows}):
        points = sorted((r.width, r.latency_p50_ms / r.batch_size) for r in rows if (r.backend, r.batch_size) == key)
        axis.plot(*zip(*points, strict=True), marker="o", label=f"{key[0]}, batch {key[1]}")
    axis.set(xlabel="input width (px, height 32)", ylabel="ms per image (median)", title="latency vs width")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=100)
    plt.close(figure)
    return out
