"""Synthetic images per second and per worker: today's renderer and the current one, side by side in one run.

Both draw the same samples (the same text, font and size for each index; the generator's plan),
in turns of ``--count / --rounds`` images, so both see the same machine load. "render" is what
on-the-fly training pays per image; "+ JPEG" adds the encoding `crnn synth` stores (quality 95).
Today's renderer is ``synth_reference_render.py`` (render.py and backgrounds.py as of 015f9f8).
Fonts are checked (or read from the cache) and words loaded before timing starts; so are the
per-process and on-disk caches (natural images, unpacked WOFF fonts) a long run would have warm.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/synth.py [--count 1200] [--presets default document]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

import synth_reference_render as reference
from crnn_ctc.synth import FontWarning, SynthGenerator, preset
from crnn_ctc.synth.fonts import load_font
from crnn_ctc.synth.generator import encode_image
from crnn_ctc.synth.woff import openable

Sample = Callable[[int], Image.Image]


def cpu_name() -> str:
    """The CPU's model name and its widest vector instructions (the issue's figures differ by them)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "")
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    vectors = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return f"{name or platform.machine()} ({vectors})"


def todays_sample(generator: SynthGenerator) -> Sample:
    """Sample ``index`` as the generator plans it, drawn by today's renderer (what sample_info did)."""

    def sample(index: int) -> Image.Image:
        rng = generator._random(index)
        plan = generator._plan(rng)
        np_rng = np.random.default_rng(rng.getrandbits(64))
        return reference.render(plan, rng, np_rng, generator.config)

    return sample


def new_sample(generator: SynthGenerator) -> Sample:
    return lambda index: generator.sample(index)[0]


def measure(paths: dict[str, Sample], count: int, rounds: int, encode: bool) -> dict[str, float]:
    """Images per second of each path over samples 0..count-1, taken in turns of count/rounds images."""
    seconds = dict.fromkeys(paths, 0.0)
    step = max(1, count // rounds)
    for start in range(0, count, step):
        for name, sample in paths.items():
            load_font.cache_clear()  # no path may draw with a font the other opened
            started = time.perf_counter()
            for index in range(start, min(start + step, count)):
                image = sample(index)
                if encode:
                    encode_image(image)
            seconds[name] += time.perf_counter() - started
    return {name: count / elapsed for name, elapsed in seconds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1200, help="images per path, preset and column")
    parser.add_argument("--rounds", type=int, default=12, help="turns the paths take")
    parser.add_argument("--presets", nargs="+", default=["default", "document"])
    parser.add_argument("--charset", default="printable+space")
    parser.add_argument("--height", type=int, default=32)
    args = parser.parse_args()

    print(f"{cpu_name()}, {os.cpu_count()} cores; charset {args.charset!r}, height {args.height}, "
          f"{args.count} images per cell, one process (images/s per worker)")  # fmt: skip
    print(f"{'preset':<10} {'path':<7} {'render':>8} {'+ JPEG':>8}")
    for name in args.presets:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FontWarning)
            generator = SynthGenerator.create(preset(name).with_changes(height=args.height), args.charset, seed=0)
        for font in generator.fonts:  # made once per machine, like the font check
            openable(font.face.path)
        paths: dict[str, Sample] = {"today": todays_sample(generator), "new": new_sample(generator)}
        for sample in paths.values():  # natural images and other per-process caches
            for index in range(10_000, 10_064):
                sample(index)
        rendered = measure(paths, args.count, args.rounds, encode=False)
        encoded = measure(paths, args.count, args.rounds, encode=True)
        for path in paths:
            print(f"{name:<10} {path:<7} {rendered[path]:>8.0f} {encoded[path]:>8.0f}")
        print(f"{name:<10} {'ratio':<7} {rendered['new'] / rendered['today']:>8.2f} "
              f"{encoded['new'] / encoded['today']:>8.2f}")  # fmt: skip
    print(f"load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
