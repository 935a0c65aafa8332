"""Training speed on this CPU: the ``crnn train`` loop against the bare cost of a step, in one run.

Why: training should run at the machine's ceiling, so the loop (data, width bucketing, logging,
checkpoints) must cost little next to the step itself, and ``--amp auto`` must pick the faster
precision. For the ``small`` architecture at batch 64 on the charset ``printable+space`` this measures:

* bare fp32: forward + CTC loss + backward + Adam (``Trainer._train_step``) on batches collated once
  up front from the synthetic generator's own images: one pool of them cut into batches by real
  width, as training cuts each pool (``sources.PoolCollator``), with no data pipeline at all;
* bare auto: the same batches in the precision ``--amp auto`` picks here (bf16 where the CPU computes
  bf16 natively, else fp32; channels_last on every CPU);
* bare fp32 NCHW: bare fp32 with the model in the default layout, as before channels_last became the
  CPU's layout for fp32 too (the bare rows take turns, so load moves them alike);
* loop synth: ``crnn train --train synth:`` (the command, in a process of its own, with ``--amp auto``,
  the default DataLoader workers and torch's default threads unless told otherwise), samples/s from
  its own log windows after the first pool, so start-up is excluded;
* loop shards: the same loop over a folder of LMDB shards rendered once up front (``write_synth_dataset``);
* loop synth at (threads, workers) splits, ``--splits``: which split of the cores trains fastest.

Each row is samples/s and its ratio to bare fp32. The issue's target for a training loop is a ratio
of at least 0.85 on CPUs without native bf16 and 1.6 on CPUs with it (AVX512_BF16 or AMX).

Usage: ``python benchmarks/train_speed.py [--steps 60] [--loop-steps 192] [--threads N] [--workers K] [--shard-images N]
[--render-workers K] [--splits 2:1,1:1,2:0]``; ``--quick`` is a smoke run (3 steps at batch 16) of
every row's code, whose figures mean nothing.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import torch

from crnn_ctc.cpu import cpu_flags, cpu_name
from crnn_ctc.data.readers import Batch, RecognitionDataset, SampleSource
from crnn_ctc.synth import SynthDataset, SynthGenerator, preset
from crnn_ctc.synth.fonts import FontWarning
from crnn_ctc.synth.text import load_words
from crnn_ctc.synth.write import write_synth_dataset
from crnn_ctc.training import TrainConfig
from crnn_ctc.training.loop import Trainer, _keep_freed_memory
from crnn_ctc.training.precision import cpu_has_native_bf16
from crnn_ctc.training.sources import POOL_BATCHES, PlannedKey, PoolCollator

ARCH = "small"
BATCH = 64
QUICK_BATCH = 16  # --quick: a smoke run of the code paths, not a measure
CHARSET = "printable+space"
# The flags that decide how fast training computes, as /proc/cpuinfo names them.
SPEED_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "avx512_vnni", "avx_vnni")
# The targets for a training loop's samples/s over the bare fp32 step's.
TARGET_WITHOUT_NATIVE_BF16 = 0.85
TARGET_WITH_NATIVE_BF16 = 1.6
SHARDS = 2  # the pre-rendered images go into this many LMDBs, as a shard set grows


@dataclass
class Row:
    name: str
    threads: int
    workers: int | str
    precision: str
    samples_per_s: float
    is_loop: bool


def describe_flags(flags: frozenset[str]) -> str:
    present = [flag for flag in SPEED_FLAGS if flag in flags]
    absent = [flag for flag in SPEED_FLAGS if flag not in flags]
    return f"has {' '.join(present) or 'none of them'}; lacks {' '.join(absent) or 'none of them'}"


def loop_target(flags: frozenset[str]) -> float:
    return TARGET_WITH_NATIVE_BF16 if cpu_has_native_bf16(flags) else TARGET_WITHOUT_NATIVE_BF16


def window_rate(log_csv: Path) -> float:
    """Samples/s over a run's log windows after the first (start-up excluded), or over all if only one.

    Windows hold equally many samples, so samples over seconds is the harmonic mean of their rates:
    a total over the timed steps, as the bare rows are, where a median would weigh cheap and costly
    (narrow and wide) windows alike.
    """
    with log_csv.open(encoding="utf-8") as file:
        rates = [float(row["samples_per_s"]) for row in csv.DictReader(file) if row["samples_per_s"]]
    if not rates:
        raise ValueError(f"{log_csv}: no training windows logged; run more steps than its log_every")
    return statistics.harmonic_mean(rates[1:] or rates)


def config(model_dir: Path, sources: list[str], args: argparse.Namespace, amp: str, workers: int | None) -> TrainConfig:
    """``crnn train``'s defaults, but for the benchmark's architecture, charset, batch, step count and log windows."""
    # device="cpu": this measures the CPU even on a machine with a GPU.
    # One log window a pool (the loader's unit): the first, start-up and the first pool's loading, is left
    # out, and the rest are the steady state, in which the workers load one pool while one is trained on.
    options = TrainConfig(model_dir=str(model_dir), train=sources, arch=ARCH, charset=CHARSET, device="cpu",
                          batch_size=args.batch, amp=amp, max_steps=args.loop_steps,
                          log_every=1 if args.quick else POOL_BATCHES)  # fmt: skip
    if workers is not None:
        options.workers = workers
    return options


def bare_batches(generator: SynthGenerator, trainer: Trainer, count: int) -> list[Batch]:
    """``count`` batches of one pool of the generator's samples, cut by real width as ``crnn train`` cuts a
    pool (``PoolCollator``)."""
    batch_size = trainer.config.batch_size
    # image_format=None: PIL images, as a synth: source hands them over (not the SampleSource bytes).
    pool = cast(SampleSource, SynthDataset(generator, batch_size * POOL_BATCHES, image_format=None))
    dataset = RecognitionDataset(pool, trainer.bundle.charset, trainer.bundle.preprocess, trainer.geometry)
    items = [(PlannedKey(0, 0, True, 0, index), dataset[index]) for index in range(len(pool))]
    return [planned.samples for planned in PoolCollator(batch_size)(items)[:count]]


def timed_steps(trainer: Trainer, batches: Sequence[Batch], steps: int, first: int = 0) -> tuple[int, float]:
    """Samples and seconds of ``steps`` training steps cycling over ``batches`` from index ``first``,
    after one untimed warm-up step."""
    trainer._train_step(batches[first % len(batches)])  # first-call allocations and kernel selection
    samples = 0
    started = time.perf_counter()
    for step in range(first, first + steps):
        batch = batches[step % len(batches)]
        trainer._train_step(batch)
        samples += len(batch.labels)
    return samples, time.perf_counter() - started


def bare_rates(trainers: Sequence[Trainer], batches: Sequence[Batch], steps: int, turns: int = 4) -> list[float]:
    """Samples/s of each trainer over the same ``steps`` steps, taken in ``turns`` interleaved turns (each
    turn goes on where the last stopped, so every row times the same batches) and pooled."""
    totals = [(0, 0.0)] * len(trainers)
    bounds = [steps * turn // turns for turn in range(turns + 1)]
    for first, end in itertools.pairwise(bounds):
        if end == first:
            continue
        for index, trainer in enumerate(trainers):
            samples, seconds = timed_steps(trainer, batches, end - first, first)
            totals[index] = (totals[index][0] + samples, totals[index][1] + seconds)
    return [samples / seconds for samples, seconds in totals]


def loop_rate(options: TrainConfig, threads: int) -> tuple[float, str]:
    """Samples/s of ``crnn train`` with ``options`` at ``threads`` torch threads, and the precision it reported.

    The command runs in a process of its own, as a user runs it, so nothing this process did before
    (the bare rows' models, the shard rendering, a big address space for the workers to fork) weighs on it."""
    command = [sys.executable, "-c", "import sys; from crnn_ctc.cli import main; sys.exit(main())", "train",
               "--train", *options.train, "--model_dir", options.model_dir, "--arch", options.arch,
               "--charset", options.charset, "--device", options.device, "--batch_size", str(options.batch_size),
               "--amp", options.amp, "--max-steps", str(options.max_steps), "--log-every", str(options.log_every),
               "--workers", str(options.workers), "--no-progress"]  # fmt: skip
    # torch computes with OMP_NUM_THREADS threads when it is set (crnn train never sets a count).
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    run = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if run.returncode != 0:
        raise SystemExit(f"crnn train failed ({run.returncode}):\n{run.stderr[-2000:]}")
    lines = (run.stdout + run.stderr).splitlines()
    said = next((line for line in lines if line.startswith("precision: ")), "precision: ?")
    return window_rate(Path(options.model_dir) / "log.csv"), said.removeprefix("precision: ").split(" (")[0]


def render_shards(generator: SynthGenerator, folder: Path, images: int, workers: int) -> float:
    """Render ``images`` samples of ``generator``'s kind into ``SHARDS`` LMDBs under ``folder`` (shard k with
    seed k, as ``crnn synth --out DIR/00k --seed k`` writes them); return the seconds taken."""
    words = load_words(None, generator.config.vocabulary_size, generator.config.word_frequency_power)
    started = time.perf_counter()
    for shard in range(SHARDS):
        count = images // SHARDS + (1 if shard < images % SHARDS else 0)
        seeded = SynthGenerator(generator.config, generator.charset, generator.fonts, words, seed=shard)
        write_synth_dataset(seeded, folder / f"{shard:03d}", count, workers=workers)
    return time.perf_counter() - started


def parse_splits(text: str) -> list[tuple[int, int]]:
    """``2:1,1:1`` -> [(2, 1), (1, 1)]: (torch threads, DataLoader workers) pairs."""
    splits = []
    for part in filter(None, text.split(",")):
        threads, _, workers = part.partition(":")
        splits.append((int(threads), int(workers)))
    return splits


def measure(args: argparse.Namespace, work: Path) -> tuple[list[Row], float]:
    """Every row, in one process; returns them and the seconds the shards took to render."""
    threads = args.threads
    torch.set_num_threads(threads)
    generator = SynthGenerator.create(preset("default"), CHARSET)
    shards = work / "shards"
    render_seconds = render_shards(generator, shards, args.shard_images, args.render_workers)
    # The bare rows' trainers read no data (their source is only needed to build them): the shards are at hand.
    amps = {"off": "off", "auto": "auto", "nchw": "off"}
    trainers = {name: Trainer(config(work / f"bare-{name}", [str(shards)], args, amp, 0), progress=False)
                for name, amp in amps.items()}  # fmt: skip
    # The layout the trainer chose before channels_last became the CPU's default for fp32 too.
    trainers["nchw"].model.to(memory_format=torch.contiguous_format)
    batches = bare_batches(generator, trainers["off"], min(args.steps, POOL_BATCHES))
    # The bare rows take turns, a few steps each, so the machine's load moves them alike.
    rates = bare_rates(list(trainers.values()), batches, args.steps)
    rows = []
    for (name, trainer), rate in zip(trainers.items(), rates, strict=True):
        layout = trainer.precision.channels_last and name != "nchw"
        precision = trainer.precision.name + (" + channels_last" if layout else " (NCHW)")
        name = {"off": "bare step, fp32", "auto": "bare step, --amp auto", "nchw": "bare step, fp32, NCHW"}[name]
        rows.append(Row(name, threads, "-", precision, rate, False))
    del trainers, batches

    synth = config(work / "loop-synth", ["synth:"], args, "auto", args.workers)
    rate, precision = loop_rate(synth, threads)
    rows.append(Row("crnn train on synth:", threads, synth.workers, precision, rate, True))

    on_shards = config(work / "loop-shards", [str(shards)], args, "auto", args.workers)
    rate, precision = loop_rate(on_shards, threads)
    rows.append(Row(f"crnn train on {args.shard_images:,} pre-rendered images", threads, on_shards.workers,
                    precision, rate, True))  # fmt: skip

    for split_threads, split_workers in parse_splits(args.splits):
        split = config(work / f"loop-{split_threads}-{split_workers}", ["synth:"], args, "auto", split_workers)
        rate, precision = loop_rate(split, split_threads)
        rows.append(Row("crnn train on synth:", split_threads, split_workers, precision, rate, True))
    torch.set_num_threads(threads)
    return rows, render_seconds


def main() -> None:
    default_threads = torch.get_num_threads()  # what `crnn train`, which never sets it, computes with
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--steps", type=int, default=60, help="timed steps per bare row (default %(default)s)")
    parser.add_argument("--threads", type=int, default=default_threads,
                        help="torch threads of the bare and default-loop rows (default: torch's, as crnn train: "
                        "%(default)s here)")  # fmt: skip
    parser.add_argument("--workers", type=int, help=f"DataLoader workers of the synth: and shard loop rows "
                        f"(default: crnn train's, {TrainConfig().workers})")  # fmt: skip
    parser.add_argument(
        "--loop-steps",
        type=int,
        default=6 * POOL_BATCHES,
        help="steps of each loop row (default: 6 pools of %(default)s batches; the first is start-up)",
    )
    parser.add_argument("--shard-images", type=int, help="images rendered into shards (default: loop steps x batch)")
    parser.add_argument("--render-workers", type=int, default=0, help="processes rendering the shards "
                        "(default: all cores, as crnn synth)")  # fmt: skip
    parser.add_argument("--splits", default="2:1,1:1,2:0", help="THREADS:WORKERS pairs of the split rows")
    parser.add_argument("--quick", action="store_true",
                        help=f"3 steps at batch {QUICK_BATCH}, few images: a smoke run, not a measure")  # fmt: skip
    args = parser.parse_args()
    args.batch = QUICK_BATCH if args.quick else BATCH
    if args.quick:
        args.steps, args.loop_steps = min(args.steps, 3), min(args.loop_steps, 3)
    args.shard_images = args.shard_images or args.loop_steps * args.batch
    if args.loop_steps < (2 if args.quick else 2 * POOL_BATCHES):
        parser.error(f"--loop-steps must be at least {2 * POOL_BATCHES} (the loop's first pool is start-up)")

    _keep_freed_memory()  # crnn train's allocator settings, for every row alike
    # Each generator built (here and in every synth: run) would list the same skipped fonts again.
    warnings.filterwarnings("ignore", category=FontWarning)
    flags = cpu_flags()
    target = loop_target(flags)
    started = time.perf_counter()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="train-speed-") as work:
        rows, render_seconds = measure(args, Path(work))
    native = "native" if cpu_has_native_bf16(flags) else "no native"
    smoke = " (--quick: a smoke run, its figures mean nothing)" if args.quick else ""
    print(f"CPU: {cpu_name()}, {os.cpu_count()} logical cores; flags: {describe_flags(flags)}")
    print(f"torch {torch.__version__}; {ARCH} at batch {args.batch}, charset {CHARSET}, synthetic preset default; "
          f"{args.steps} timed steps per bare row, {args.loop_steps} per loop row (the first {POOL_BATCHES} "
          f"not timed); load average {load:.2f} at start; "
          f"{time.perf_counter() - started:.0f} s in all{smoke}")  # fmt: skip
    print(
        f"Shards: {args.shard_images:,} images in {SHARDS} LMDBs, rendered up front in {render_seconds:.1f} s "
        f"(in no row). Target for a loop: samples/s at least {target:.2f} x bare fp32 ({native} bf16 here).\n"
    )
    bare = rows[0].samples_per_s
    print("| measurement | threads | workers | precision | samples/s | ratio to bare fp32 | target |")
    print("| --- | ---: | ---: | --- | ---: | ---: | --- |")
    for row in rows:
        ratio = row.samples_per_s / bare
        verdict = f"≥ {target:.2f}: {'met' if ratio >= target else 'not met'}" if row.is_loop else ""
        print(f"| {row.name} | {row.threads} | {row.workers} | {row.precision} | {row.samples_per_s:.1f} "
              f"| {ratio:.2f} | {verdict} |")  # fmt: skip


if __name__ == "__main__":
    main()
