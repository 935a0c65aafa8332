"""``crnn synth``: render N samples into an LMDB that every dataset reader takes.

Samples are rendered in worker processes and written in index order, so the dataset is the
same for any number of workers. Everything goes into a hidden partial folder renamed into place
at the end (as ``crnn dataset create`` does): an interrupted run leaves no dataset behind.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import cast

from ..data.inspect import sample_grid
from ..data.lmdb_store import LmdbWriter
from ..data.readers import SampleSource
from ..errors import DatasetError
from ..files import refuse_existing, staged_directory
from .fonts import drawing_libraries, text_layout
from .generator import SynthDataset, SynthGenerator, encode_image

GRID_NAME = "samples.png"
SUMMARY_NAME = "synth.json"
_CHUNK = 64  # samples per task handed to a worker


@dataclass
class SynthSummary:
    """What a run wrote, and with what."""

    out: str
    count: int
    seed: int
    height: int
    fonts: int
    font_families: int
    uncovered_symbols: list[str] = field(default_factory=list)
    text_layout: str = ""  # fonts.text_layout(): the same seed draws other images under the other engine
    grid: str = ""
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0


# The generator of this process: set before the worker pool forks, so workers inherit it.
_GENERATOR: SynthGenerator | None = None


def _init_worker() -> None:
    if multiprocessing.parent_process() is not None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops the pool
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _render_chunk(bounds: tuple[int, int]) -> list[tuple[bytes, tuple[int, int], str]]:
    assert _GENERATOR is not None
    rendered = []
    for index in range(*bounds):
        image, label = _GENERATOR.sample(index)
        rendered.append((encode_image(image), image.size, label))
    return rendered


def _rendered(count: int, workers: int) -> Iterator[tuple[bytes, tuple[int, int], str]]:
    chunks = [(start, min(start + _CHUNK, count)) for start in range(0, count, _CHUNK)]
    if workers <= 1 or len(chunks) < 2:
        for chunk in chunks:
            yield from _render_chunk(chunk)
        return
    context = multiprocessing.get_context("fork")
    with context.Pool(workers, initializer=_init_worker) as pool:
        for rendered in pool.imap(_render_chunk, chunks):
            yield from rendered


def write_synth_dataset(
    generator: SynthGenerator,
    out: str | Path,
    count: int,
    workers: int = 0,
    overwrite: bool = False,
    progress: bool = False,
    grid_count: int = 32,
) -> SynthSummary:
    """Render samples ``0 .. count - 1`` of ``generator`` into the LMDB folder ``out`` and a sample grid."""
    from tqdm import tqdm

    global _GENERATOR
    started = time.perf_counter()
    out = Path(out)
    if count < 1:
        raise DatasetError(f"--count must be at least 1, got {count}")
    refuse_existing(out, overwrite)
    workers = workers or os.cpu_count() or 1
    summary = SynthSummary(
        out=str(out), count=count, seed=generator.seed, height=generator.config.height, fonts=len(generator.fonts),
        font_families=len({font.face.family for font in generator.fonts}), uncovered_symbols=generator.uncovered(),
        text_layout=text_layout(),
    )  # fmt: skip
    with staged_directory(out, overwrite) as partial:
        writer = LmdbWriter(partial)
        _GENERATOR = generator
        try:
            with tqdm(total=count, unit="img", disable=not progress, desc="rendering") as bar:
                for data, size, label in _rendered(count, workers):
                    writer.add(data, label, size)
                    bar.update(1)
        except BaseException:
            writer.abort()
            raise
        finally:
            _GENERATOR = None
        meta = {
            "charset": list(generator.charset.symbols), "source": "synthetic (crnn synth)",
            "stored_height": generator.config.height, "seed": generator.seed,
            "synth_config": generator.config.to_dict(), "text_layout": summary.text_layout,
        }  # fmt: skip
        writer.close(meta)
        # The grid shows the stored samples: the same indices re-rendered, byte for byte.
        stored = cast(SampleSource, SynthDataset(generator, count, image_format="jpeg"))
        grid = sample_grid(stored, partial / GRID_NAME, count=grid_count, seed=generator.seed)
        summary.grid = str(out / grid.name)
        summary.seconds = round(time.perf_counter() - started, 2)
        record = {**asdict(summary), "libraries": drawing_libraries(), "config": generator.config.to_dict(),
                  "fonts_used": sorted({font.face.path for font in generator.fonts})}  # fmt: skip
        (partial / SUMMARY_NAME).write_text(json.dumps(record, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return summary
