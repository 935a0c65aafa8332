"""What context at the crop's edges costs the renderer (docs/synthetic_data.md, "Context"): images/s of
one process for `default`, `scene-words` (context in 30% of samples) and context in every sample,
600 samples each, in four alternating turns so that all three see the same load; the median turn.

Usage: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/synth_context.py
"""

from __future__ import annotations

import statistics
import time
import warnings

from crnn_ctc.charset import Charset
from crnn_ctc.synth.config import preset
from crnn_ctc.synth.fonts import find_fonts, select_fonts
from crnn_ctc.synth.generator import SynthGenerator

TURNS, PER_TURN = 4, 150


def main() -> None:
    warnings.simplefilter("ignore")  # fonts that draw too little of the charset are skipped, as in training
    fonts = select_fonts(find_fonts(None), Charset.resolve("printable+space"), workers=1)
    configs = {
        "default": preset("default"),
        "scene-words": preset("scene-words"),
        "context in every sample": preset("scene-words").with_changes(p_context=1.0),
    }
    generators = {name: SynthGenerator.create(config, "printable+space", fonts=fonts, seed=5)
                  for name, config in configs.items()}  # fmt: skip
    rates: dict[str, list[float]] = {name: [] for name in generators}
    for turn in range(TURNS):
        for name, generator in generators.items():
            start = time.perf_counter()
            for index in range(turn * PER_TURN, (turn + 1) * PER_TURN):
                generator.sample(index)
            rates[name].append(PER_TURN / (time.perf_counter() - start))
    base = statistics.median(rates["default"])
    print("| samples | images/s | ratio to default |\n| --- | ---: | ---: |")
    for name, values in rates.items():
        print(f"| {name} | {statistics.median(values):.0f} | {statistics.median(values) / base:.2f} |")


if __name__ == "__main__":
    main()
