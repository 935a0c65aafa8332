"""Training speed on this CPU: the full ``crnn train`` loop against the bare cost of a step.

Why: the loop (data loading, decoding, width bucketing, logging, checkpoints) must not slow
training down. For each architecture, at batch 64, this measures in one run:

* bare: forward + CTC loss + backward + optimiser step, repeated on batches collated once up front
  from the same dataset (so the same widths), with no data pipeline at all;
* loop: ``Trainer.run()`` on that dataset (LMDB, one DataLoader worker), samples/s from its own
  log (windows after the first, so start-up is excluded).

The ratio bare / loop is the loop's overhead; the target is at most 1.25.
Usage: ``python benchmarks/train_speed.py [--archs small,vgg] [--steps 60] [--threads 1]``
"""

from __future__ import annotations

import argparse
import csv
import random
import statistics
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image, ImageDraw, ImageFont

from crnn_ctc.charset import Charset
from crnn_ctc.data.create import CreateConfig, create_dataset
from crnn_ctc.data.readers import RecognitionDataset, collate_samples, open_source
from crnn_ctc.data.sampler import WidthBucketSampler
from crnn_ctc.training import TrainConfig
from crnn_ctc.training.loop import Trainer

BATCH = 64
ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def make_dataset(root: Path, count: int) -> Path:
    """``count`` rendered words of 2-10 characters in an LMDB (train split only)."""
    images = root / "images"
    images.mkdir(parents=True)
    generator = random.Random(0)
    font = ImageFont.load_default(size=22)
    lines = []
    for index in range(count):
        word = "".join(generator.choice(ALPHABET) for _ in range(generator.randint(2, 10)))
        left, top, right, bottom = font.getbbox(word)
        image = Image.new("L", (right - left + 8, 32), 255)
        ImageDraw.Draw(image).text((4 - left, (32 - bottom - top) // 2), word, fill=generator.randint(0, 90), font=font)
        image.save(images / f"{index}.png")
        lines.append(f"{index}.png\t{word}")
    (images / "labels.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    create_dataset(CreateConfig(images, images / "labels.tsv", root / "data", 0.0, workers=1), progress=False)
    return root / "data" / "train"


def bare_rate(arch: str, data: Path, steps: int) -> float:
    """Samples/s of forward + CTC + backward + Adam step on pre-collated batches."""
    config = TrainConfig(model_dir=tempfile.mkdtemp(), train=[str(data)], arch=arch, batch_size=BATCH, workers=0)
    trainer = Trainer(config, progress=False)
    dataset = RecognitionDataset(open_source(data), Charset.preset("lower-alnum"), trainer.bundle.preprocess)
    sampler = WidthBucketSampler(dataset.widths(), BATCH, seed=0)
    batches = [collate_samples([dataset[i] for i in indices]) for indices, _ in zip(sampler, range(8), strict=False)]
    trainer._train_step(batches[0])  # warm-up
    started = time.perf_counter()
    samples = 0
    for step in range(steps):
        batch = batches[step % len(batches)]
        trainer._train_step(batch)
        samples += len(batch.labels)
    return samples / (time.perf_counter() - started)


def loop_rate(arch: str, data: Path, steps: int, model_dir: Path) -> float:
    """Samples/s of the real loop, from its log windows after the first."""
    config = TrainConfig(model_dir=str(model_dir), train=[str(data)], arch=arch, batch_size=BATCH, workers=1,
                         max_steps=steps, log_every=10, save_every=steps, val_every=steps)  # fmt: skip
    Trainer(config, progress=False).run()
    with (model_dir / "log.csv").open(encoding="utf-8") as file:
        rates = [float(row["samples_per_s"]) for row in csv.DictReader(file) if row["samples_per_s"]]
    return statistics.median(rates[1:] or rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", default="small,vgg")
    parser.add_argument("--steps", type=int, default=60, help="timed steps per measurement")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--samples", type=int, default=3000, help="dataset size")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as workdir:
        data = make_dataset(Path(workdir), args.samples)
        rows = []
        for arch in args.archs.split(","):
            bare = bare_rate(arch, data, args.steps)
            loop = loop_rate(arch, data, args.steps, Path(workdir) / f"run-{arch}")
            rows.append((arch, bare, loop))
    print(f"Batch {BATCH}, generated 32-px words (2-10 chars), torch {torch.__version__}, {args.threads} thread(s), "
          f"loop with 1 DataLoader worker, {args.steps} timed steps.\n")  # fmt: skip
    print("| arch | bare step samples/s | full loop samples/s | loop cost / bare cost |")
    print("| --- | ---: | ---: | ---: |")
    for arch, bare, loop in rows:
        print(f"| {arch} | {bare:.1f} | {loop:.1f} | {bare / loop:.2f} |")


if __name__ == "__main__":
    main()
