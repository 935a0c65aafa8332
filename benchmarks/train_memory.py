"""Memory and speed of training steps on batches of varying width, at oneDNN primitive cache capacities.

Each capacity runs in a process of its own (oneDNN reads ``ONEDNN_PRIMITIVE_CACHE_CAPACITY`` at its first
use), in turns: ``small`` at batch 64 on the generator's own words, batches cut by real width as
``crnn train`` cuts them (one pool rendered up front), a few untimed warm-up steps, then the timed ones.
Printed: samples/s, the resident memory at the end, and its peak. 1024 is oneDNN's default; 32 is what
``crnn train`` sets (``training/loop.py``, ``ONEDNN_CACHE_CAPACITY``).

    .venv/bin/python benchmarks/train_memory.py [--capacities 1024,32] [--rounds 2] [--steps 88]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

BATCH = 64
WARMUP = 8


def measure(steps: int) -> None:
    """One row, in this process: train ``small`` for ``steps`` batches after the warm-up; print the figures."""
    warnings.filterwarnings("ignore")
    from crnn_ctc.training import TrainConfig
    from crnn_ctc.training.loop import Trainer, _keep_freed_memory

    _keep_freed_memory()  # as crnn train runs
    with tempfile.TemporaryDirectory(prefix="train-memory-") as work:
        config = TrainConfig(model_dir=work, train=["synth:"], arch="small", charset="printable+space",
                             batch_size=BATCH, max_steps=10_000, workers=0)  # fmt: skip
        trainer = Trainer(config, progress=False)
        source = trainer._batches()
        batches = [next(source).samples for _ in range(WARMUP + steps)]
        source.close()
        widths = len({batch.images.shape[-1] for batch in batches})
        # Not train_speed.bare_rate: it cycles over one pool's 32 batches, so widths would repeat more
        # often than in a run, and repeats are what the cache keeps.
        for batch in batches[:WARMUP]:
            trainer._train_step(batch)
        samples = 0
        started = time.perf_counter()
        for batch in batches[WARMUP:]:
            trainer._train_step(batch)
            samples += len(batch.labels)
        rate = samples / (time.perf_counter() - started)
    lines = Path("/proc/self/status").read_text(encoding="ascii").splitlines()
    status = dict(line.split(":", 1) for line in lines if ":" in line)
    resident, peak = (int(status[key].split()[0]) / 1024 for key in ("VmRSS", "VmHWM"))
    print(f"{rate:.1f} {resident:.0f} {peak:.0f} {widths}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capacities", default="1024,32", help="oneDNN primitive cache capacities, in turn")
    parser.add_argument("--rounds", type=int, default=2, help="turns over the capacities (default %(default)s)")
    parser.add_argument("--steps", type=int, default=88, help="timed steps per row (default %(default)s)")
    parser.add_argument("--row", action="store_true", help=argparse.SUPPRESS)  # one row, in a child process
    args = parser.parse_args()
    if args.row:
        measure(args.steps)
        return
    capacities = [int(value) for value in args.capacities.split(",") if value]
    print(f"small at batch {BATCH}, charset printable+space, synthetic words (preset default), {args.steps} timed "
          f"steps per row after {WARMUP}; torch threads: torch's default; load average {os.getloadavg()[0]:.2f} "
          f"at start")  # fmt: skip
    print(f"{'capacity':>8}  {'round':>5}  {'samples/s':>9}  {'resident MB':>11}  {'peak MB':>7}  batch widths")
    for round_ in range(1, args.rounds + 1):
        for capacity in capacities:
            env = {**os.environ, "ONEDNN_PRIMITIVE_CACHE_CAPACITY": str(capacity)}
            run = subprocess.run([sys.executable, __file__, "--row", "--steps", str(args.steps)], env=env,
                                 capture_output=True, text=True, check=False)  # fmt: skip
            if run.returncode != 0:
                raise SystemExit(f"row failed ({run.returncode}):\n{run.stderr[-2000:]}")
            rate, resident, peak, widths = run.stdout.split()[-4:]
            print(f"{capacity:>8}  {round_:>5}  {rate:>9}  {resident:>11}  {peak:>7}  {widths} distinct")


if __name__ == "__main__":
    main()
