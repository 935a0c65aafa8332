"""``crnn dataset inspect``: what is in a dataset, as numbers and as a picture of samples."""

from __future__ import annotations

import io
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..errors import SampleError
from ..preprocess import PreprocessConfig
from .readers import SampleSource


@dataclass
class DatasetStats:
    samples: int
    symbol_counts: Counter[str]
    label_lengths: list[int]
    stored_widths: list[int]
    stored_heights: list[int]
    model_widths: list[int]  # width after preprocessing at the model's height


def dataset_stats(source: SampleSource, height: int = 32) -> DatasetStats:
    """Label and size statistics over every sample (labels are read; images only by their headers)."""
    config = PreprocessConfig(height=height)
    symbols: Counter[str] = Counter()
    lengths = []
    for index in range(len(source)):
        try:
            label = source[index][1]
        except SampleError as error:  # a folder dataset's missing image: its label still counts
            label = error.label
        symbols.update(label)
        lengths.append(len(label))
    sizes = source.sizes()
    return DatasetStats(
        samples=len(source),
        symbol_counts=symbols,
        label_lengths=lengths,
        stored_widths=[w for w, _ in sizes],
        stored_heights=[h for _, h in sizes],
        model_widths=[config.target_width(w, h) if w and h else 0 for w, h in sizes],
    )


def _distribution(values: list[int]) -> str:
    if not values:
        return "-"
    array = np.asarray(values)
    p5, p50, p95 = np.percentile(array, [5, 50, 95])
    return (
        f"min {array.min()}  p5 {p5:.0f}  median {p50:.0f}  p95 {p95:.0f}  max {array.max()}  mean {array.mean():.1f}"
    )


def format_stats(stats: DatasetStats, top: int = 100) -> str:
    """A plain-text report of ``stats``."""
    lines = [
        f"samples:          {stats.samples:,}",
        f"distinct symbols: {len(stats.symbol_counts)}",
        f"label length:     {_distribution(stats.label_lengths)}",
        f"stored width:     {_distribution(stats.stored_widths)}",
        f"stored height:    {_distribution(stats.stored_heights)}",
        f"width at model height: {_distribution(stats.model_widths)}",
        "symbol counts (most frequent first):",
    ]
    shown = stats.symbol_counts.most_common(top)
    lines.append("  " + "  ".join(f"{symbol!r}:{count}" for symbol, count in shown))
    if len(stats.symbol_counts) > top:
        lines.append(f"  ... and {len(stats.symbol_counts) - top} more")
    return "\n".join(lines)


def sample_grid(
    source: SampleSource, out: str | Path, count: int = 32, seed: int = 0, height: int = 48, columns: int = 4
) -> Path:
    """A PNG grid of random samples, each image above its label (unreadable images are marked)."""
    generator = random.Random(seed)
    indices = sorted(generator.sample(range(len(source)), min(count, len(source))))
    font = ImageFont.load_default(size=14)
    cell_width, label_height = 256, 20
    rows = -(-len(indices) // columns) if indices else 1
    grid = Image.new("RGB", (columns * cell_width, rows * (height + label_height + 8)), "white")
    draw = ImageDraw.Draw(grid)
    for position, index in enumerate(indices):
        try:
            data, label = source[index]
        except SampleError as error:
            data, label = b"", error.label
        x = (position % columns) * cell_width
        y = (position // columns) * (height + label_height + 8)
        try:
            with Image.open(io.BytesIO(data)) as opened:
                image = opened.convert("RGB")
            width = min(cell_width - 8, max(1, round(image.width * height / image.height)))
            grid.paste(image.resize((width, height)), (x + 4, y + 4))
            caption = f"#{index} {label!r}"
        except (OSError, ValueError):
            draw.rectangle((x + 4, y + 4, x + cell_width - 4, y + height), outline="red")
            caption = f"#{index} UNREADABLE {label!r}"
        draw.text((x + 4, y + height + 6), caption[:36], fill="black", font=font)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    grid.save(out)
    return out
