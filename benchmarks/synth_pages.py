"""How fast synthetic pages render (docs/synthetic_data.md, "Pages"): seconds per page of one process
for the default page settings and with every page effect on (a picture, paper, blur, noise, JPEG),
in alternating turns so that both see the same load; the median turn. Fonts and words are loaded
before the first timed page.

Usage: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/synth_pages.py [--pages 8] [--turns 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

from crnn_ctc.synth.page_config import PageSynthConfig
from crnn_ctc.synth.pages import render_page


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=8, help="pages per turn and setting (default %(default)s)")
    parser.add_argument("--turns", type=int, default=3, help="alternating turns (default %(default)s)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # fonts that draw too little of the charset are skipped, as in training
    settings = {
        "default": PageSynthConfig(),
        "every effect": PageSynthConfig().with_changes(p_picture=1.0, p_paper=1.0, p_blur=1.0, p_noise=1.0, p_jpeg=1.0),
    }
    for config in settings.values():
        render_page(0, config)  # fonts and words load once per process
    seconds: dict[str, list[float]] = {name: [] for name in settings}
    for turn in range(args.turns):
        for name, config in settings.items():
            start = time.perf_counter()
            for seed in range(turn * args.pages, (turn + 1) * args.pages):
                render_page(seed, config)
            seconds[name].append((time.perf_counter() - start) / args.pages)
    print("| pages | seconds per page | pages/s |\n| --- | ---: | ---: |")
    for name, values in seconds.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.3f} | {1 / median:.2f} |")


if __name__ == "__main__":
    main()
