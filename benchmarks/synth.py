"""Synthetic images per second at height 32, with 1 and 2 worker processes, in one run.

What `crnn synth` and on-the-fly training pay per image: render (every effect of the preset) and
JPEG-encode, in worker processes like `crnn synth --workers K`. Fonts are checked (or read from
the cache) and words loaded before timing starts.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/synth.py [--count 3000] [--preset default]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

from crnn_ctc.synth import FontWarning, SynthGenerator, preset
from crnn_ctc.synth import write as synth_write


def measure(generator: SynthGenerator, count: int, workers: int) -> float:
    """Images per second rendering and encoding samples 0..count-1 with ``workers`` processes."""
    synth_write._GENERATOR = generator  # what the worker pool inherits, as write_synth_dataset sets it
    try:
        started = time.perf_counter()
        rendered = sum(1 for _ in synth_write._rendered(count, workers))
        return rendered / (time.perf_counter() - started)
    finally:
        synth_write._GENERATOR = None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=3000, help="images per measurement")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--charset", default="lower-alnum")
    parser.add_argument("--height", type=int, default=32)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FontWarning)
        config = preset(args.preset).with_changes(height=args.height)
        generator = SynthGenerator.create(config, args.charset, seed=0)
    for index in range(64):  # warm the per-process caches (natural images, fonts) before forking
        generator.sample(index)

    print(f"synthetic images, preset {args.preset!r}, charset {args.charset!r}, height {args.height}, "
          f"{len(generator.fonts)} fonts, {args.count} images per row, {os.cpu_count()} cores")  # fmt: skip
    print(f"{'workers':>8} {'images/s':>10} {'per worker':>11} {'load avg':>9}")
    for workers in args.workers:
        rate = measure(generator, args.count, workers)
        print(f"{workers:>8} {rate:>10.0f} {rate / workers:>11.0f} {os.getloadavg()[0]:>9.2f}")


if __name__ == "__main__":
    main()
