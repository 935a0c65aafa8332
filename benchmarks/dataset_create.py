"""Speed of ``crnn dataset create`` and of the training reader, for docs/benchmarks.md.

Why: converting a folder of images is a one-off cost worth knowing before a big dataset, and the
reader must not be the bottleneck of CPU training: it must deliver at least 5x the samples/s that
the small model trains at. The script generates ``--count`` (default 20,000) gray 32-px-high word
images once (PNG, lowercase alnum labels of 2-10 characters, Pillow's default font at size 20,
slightly varied ink) with a ``labels.tsv``, then measures

* conversion: images/s of ``create_dataset`` (10% validation split) with 1 and 2 workers, to LMDB
  (original bytes), LMDB pre-scaled to height 32 (JPEG) and TFRecord (always JPEG at height 32, the
  seed's schema). Every run writes a fresh folder;
* reading: samples/s of ``RecognitionDataset[i]`` (read + decode + resize + normalise) over each
  train split in one process, and through a ``DataLoader`` with ``WidthBucketSampler`` batches of
  64 and 2 workers (worker start-up included, as in every training epoch).

The machine may be shared and noisy: variants run round-robin ``--repeats`` times and the median
is reported. torch runs single-threaded (``torch.set_num_threads(1)``).

Usage: ``python benchmarks/dataset_create.py [--count N] [--repeats R] [--workdir DIR]``
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import statistics
import string
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from PIL import Image, ImageDraw, ImageFont
from torch.utils.data import DataLoader

from crnn_ctc.charset import Charset
from crnn_ctc.data.create import CreateConfig, create_dataset
from crnn_ctc.data.readers import RecognitionDataset, collate_samples, find_split, open_source
from crnn_ctc.data.sampler import WidthBucketSampler
from crnn_ctc.preprocess import PreprocessConfig

# name -> (store_format, stored height or None for the original bytes)
FORMATS: dict[str, tuple[str, int | None]] = {
    "LMDB (original PNG)": ("lmdb", None),
    "LMDB (JPEG, h32)": ("lmdb", 32),
    "TFRecord (JPEG, h32)": ("tfrecord", None),
}
WORKERS = (1, 2)
FOOTNOTE = (
    "TFRecord always re-encodes each image as JPEG (quality 95) scaled to height 32, the seed's schema; "
    "LMDB stores the original bytes by default (here 32-px PNGs, so nothing to re-encode), "
    "and `--height 32` makes it store JPEGs like TFRecord (the like-for-like row)."
)


def generate(image_dir: Path, count: int, seed: int = 0) -> None:
    """``count`` word images of height 32 and ``labels.tsv`` (``path<TAB>label``) in ``image_dir``."""
    image_dir.mkdir(parents=True)
    rng = random.Random(seed)
    font = ImageFont.load_default(size=20)
    alphabet = string.ascii_lowercase + string.digits
    lines = []
    for index in range(count):
        label = "".join(rng.choices(alphabet, k=rng.randint(2, 10)))
        pad = rng.randint(2, 6)
        image = Image.new("L", (round(font.getlength(label)) + 2 * pad, 32), 255)
        ImageDraw.Draw(image).text((pad, 16), label, font=font, fill=rng.randint(0, 90), anchor="lm")
        name = f"{index:06d}.png"
        image.save(image_dir / name)
        lines.append(f"{name}\t{label}\n")
    (image_dir / "labels.tsv").write_text("".join(lines), encoding="utf-8")


def read_each(dataset: RecognitionDataset) -> int:
    for index in range(len(dataset)):
        assert dataset[index].image is not None
    return len(dataset)


def read_loader(dataset: RecognitionDataset) -> int:
    sampler = WidthBucketSampler(dataset.widths(), 64)
    loader = DataLoader(dataset, batch_sampler=sampler, num_workers=2, collate_fn=collate_samples)
    return sum(len(batch.labels) + batch.skipped for batch in loader)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = [header, ["---" if i == 0 else "---:" for i in range(len(header))], *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=20_000, help="generated images (default 20,000)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats per variant; median reported")
    parser.add_argument("--workdir", type=Path, help="where to put images and datasets (default: a temp dir)")
    parser.add_argument("--markdown", action="store_true", help="accepted for symmetry; output is always markdown")
    args = parser.parse_args(argv)
    if args.count < 100 or args.repeats < 1:
        parser.error("--count must be at least 100 and --repeats at least 1")
    torch.set_num_threads(1)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="crnn-dataset-bench-"))
    try:
        image_dir = workdir / "images"
        if not (image_dir / "labels.tsv").is_file():
            shutil.rmtree(image_dir, ignore_errors=True)
            generate(image_dir, args.count)
        out = workdir / "out"
        rates: dict[tuple[str, int], list[float]] = {(name, w): [] for name in FORMATS for w in WORKERS}
        rejected: dict[str, int] = {}
        for _ in range(args.repeats):
            for name, workers in rates:
                store_format, height = FORMATS[name]
                data_dir = out / f"{store_format}-{height}-{workers}"
                shutil.rmtree(data_dir, ignore_errors=True)
                config = CreateConfig(
                    image_dir, image_dir / "labels.tsv", data_dir, store_format=store_format, height=height,
                    workers=workers,
                )  # fmt: skip
                started = time.perf_counter()
                summary = create_dataset(config, progress=False)
                rates[name, workers].append(summary.lines / (time.perf_counter() - started))
                rejected.update(summary.rejected)

        charset, preprocess_config = Charset.preset("lower-alnum"), PreprocessConfig()
        datasets = {
            name: RecognitionDataset(open_source(find_split(out / f"{f}-{h}-1", "train")), charset, preprocess_config)
            for name, (f, h) in FORMATS.items()
        }
        modes: dict[str, Callable[[RecognitionDataset], int]] = {
            "1 process": read_each,
            "DataLoader, 2 workers": read_loader,
        }
        for dataset in datasets.values():
            dataset.widths()  # sizes are read once when training starts (cached): not part of an epoch
        reads: dict[tuple[str, str], list[float]] = {(name, mode): [] for name in FORMATS for mode in modes}
        for _ in range(args.repeats):
            for name, mode in reads:
                started = time.perf_counter()
                samples = modes[mode](datasets[name])
                reads[name, mode].append(samples / (time.perf_counter() - started))
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)

    print(f"{cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__}; {args.count:,} images, ", end="")
    print(f"median of {args.repeats} repeats.\n")
    rows = [[name] + [f"{statistics.median(rates[name, w]):,.0f}" for w in WORKERS] for name in FORMATS]
    print(table(["`crnn dataset create` to", *(f"images/s, {w} worker{'s' * (w > 1)}" for w in WORKERS)], rows))
    print(f"\n{FOOTNOTE}" + (f" Rejected samples: {rejected}." if rejected else "") + "\n")
    train = len(next(iter(datasets.values())))
    rows = [[name] + [f"{statistics.median(reads[name, mode]):,.0f}" for mode in modes] for name in FORMATS]
    print(table([f"reading {train:,} train samples from", *(f"samples/s, {mode}" for mode in modes)], rows))
    print("\nTarget: the reader should deliver at least 5x the small model's CPU training rate (___ samples/s).")


if __name__ == "__main__":
    main()
