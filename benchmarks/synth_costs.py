"""What each source of a training mix costs the renderer: images/s of one process per generator
setting, in alternating turns so that all see the same load (the median turn), and each one's speed
and cost per image against the first. The GPU script sizes its shards with these ratios (scripts/gpu/gpu_train.py,
RENDER_COST).

Usage: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/synth_costs.py [SETTING ...] [--per-turn 100] [--turns 3]
A SETTING is a preset name or a settings file; by default the bundled recipe's three sources.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from pathlib import Path

from crnn_ctc.charset import Charset
from crnn_ctc.synth.config import SynthConfig, preset
from crnn_ctc.synth.fonts import find_fonts, select_fonts
from crnn_ctc.synth.generator import SynthGenerator

RECIPE = ("scene-words", "scripts/synth_settings/document-justified.json", "scene-lines")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("settings", nargs="*", default=list(RECIPE), help="preset names or settings files")
    parser.add_argument("--per-turn", type=int, default=100, help="images per setting and turn (default %(default)s)")
    parser.add_argument("--turns", type=int, default=3, help="alternating turns (default %(default)s)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # fonts that draw too little of the charset are skipped, as in training
    fonts = select_fonts(find_fonts(None), Charset.resolve("printable+space"), workers=1)
    configs = {name: SynthConfig.from_file(name) if Path(name).suffix else preset(name) for name in args.settings}
    generators = {name: SynthGenerator.create(config, "printable+space", fonts=fonts, seed=5)
                  for name, config in configs.items()}  # fmt: skip
    rates: dict[str, list[float]] = {name: [] for name in generators}
    for turn in range(args.turns):
        for name, generator in generators.items():
            start = time.perf_counter()
            for index in range(turn * args.per_turn, (turn + 1) * args.per_turn):
                generator.sample(index)
            rates[name].append(args.per_turn / (time.perf_counter() - start))
    first = statistics.median(rates[args.settings[0]])
    print("| setting | images/s | speed against the first | cost per image against the first |")
    print("| --- | ---: | ---: | ---: |")
    for name, values in rates.items():
        rate = statistics.median(values)
        print(f"| {name} | {rate:.0f} | {rate / first:.2f} | {first / rate:.2f} |")


if __name__ == "__main__":
    main()
