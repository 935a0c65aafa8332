"""Choose the page reader's space thresholds (page/spacing.py) on synthetic pages with exact ground truth.

Why: the thresholds decide when the ink overrules the model's spaces; they must be chosen where the
truth is known and the benchmark's pages are not looked at. Pages: ``render_page`` seeds from
``FIRST_SEED`` (apart from the benchmark's 170,000 on and the tests'), fonts of the training split.
Each line piece is read as ``crnn read`` reads it (beam search with the English word prior) with the
check off; every pair of neighbouring characters that both match the true line's text gives (its
widest ink gap in line heights, whether the model read a space, whether the truth has one). The
table counts, for each threshold, the spaces the check would fix and the ones it would break.

Usage: OMP_NUM_THREADS=1 python scripts/choose_spacing.py [--pages 30]
"""

from __future__ import annotations

import argparse
import difflib
import itertools
import sys
from dataclasses import replace

import numpy as np

from crnn_ctc import Recognizer
from crnn_ctc.decode import DecoderOptions
from crnn_ctc.page import PageOptions, PageReader
from crnn_ctc.page import reader as page_reader
from crnn_ctc.page.spacing import ink_runs, run_gap
from crnn_ctc.page.types import Box
from crnn_ctc.synth.page_config import PageSynthConfig
from crnn_ctc.synth.pages import render_page

FIRST_SEED = 52_000


def iou(a: Box, b: Box) -> float:
    x0, y0, x1, y1 = max(a.x0, b.x0), max(a.y0, b.y0), min(a.x1, b.x1), min(a.y1, b.y1)
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    union = a.width * a.height + b.width * b.height - inter
    return inter / union if union else 0.0


def pairs_of_page(seed: int, reader: PageReader) -> list[tuple[float, bool, bool]]:
    """(gap in line heights, model read a space, truth has one) for each matched neighbouring pair."""
    page = render_page(seed, PageSynthConfig(font_split="train"))
    recorded: list[tuple[object, Box, object]] = []

    def record(prediction, box, upright):  # type: ignore[no-untyped-def]
        recorded.append((prediction, box, upright))
        return prediction

    original = page_reader._check_spaces
    page_reader._check_spaces = record
    try:
        reader.read(page.image, f"synth-{seed}")
    finally:
        page_reader._check_spaces = original
    rows = []
    for prediction, box, upright in recorded:
        text, shares = prediction.text, prediction.positions  # type: ignore[attr-defined]
        if not shares or not text.strip():
            continue
        truth, best = max(((line_text, iou(box, line_box)) for line_text, line_box in page.lines),
                          key=lambda item: item[1], default=("", 0.0))  # fmt: skip
        if best < 0.3:  # not a line of the truth (a skewed page's boxes, a caption)
            continue
        cut, scale = page_reader._crop_box(box, upright.gray.shape), upright.scale  # type: ignore[attr-defined]
        small = page_reader._analysis_box(box, scale)
        empty = ~upright.mask[small.y0 : small.y1, small.x0 : small.x1].any(axis=0)  # type: ignore[attr-defined]
        columns = [(cut.x0 + share * cut.width) * scale - small.x0 for share in shares]
        matched = {}
        for block in difflib.SequenceMatcher(None, text, truth, autojunk=False).get_matching_blocks():
            for offset in range(block.size):
                matched[block.a + offset] = block.b + offset
        runs = ink_runs(empty)
        letters = [index for index, char in enumerate(text) if char != " "]
        line_rows = []
        for i, j in itertools.pairwise(letters):
            if i in matched and j in matched and matched[j] > matched[i]:
                gap = run_gap(runs, columns[i], columns[j]) / small.height
                line_rows.append((gap, " " in text[i + 1 : j], " " in truth[matched[i] + 1 : matched[j]]))
                rows.append(line_rows[-1])
        spaces = [row[0] for row in line_rows if row[1]]
        median_space = float(np.median(spaces)) if spaces else float("nan")
        for row in line_rows:
            RELATIVE.append((row[0] / median_space if spaces else float("nan"), row[1], row[2]))
    return rows


RELATIVE: list[tuple[float, bool, bool]] = []  # the same pairs, gaps in the line's median space read


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=30)
    args = parser.parse_args(argv)
    recognizer = Recognizer.load(threads=1, decoder="beam", decoder_options=DecoderOptions(word_prior="wordfreq"))
    reader = PageReader(recognizer, replace(PageOptions(), check_spaces=True))
    rows: list[tuple[float, bool, bool]] = []
    for seed in range(FIRST_SEED, FIRST_SEED + args.pages):
        rows.extend(pairs_of_page(seed, reader))
        print(f"page {seed}: {len(rows)} pairs", file=sys.stderr)
    gaps = np.array([row[0] for row in rows])
    read = np.array([row[1] for row in rows])
    true = np.array([row[2] for row in rows])
    print(f"{len(rows)} pairs; spaces read {read.sum()}, true {true.sum()}; read wrongly: "
          f"{(read & ~true).sum()} extra, {(~read & true).sum()} missing")  # fmt: skip
    print("\njoin a space read where the gap is below (line heights): fixes / breaks")
    for join in (0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1, 0.12):
        below = gaps < join
        print(f"  {join:.2f}: {(read & ~true & below).sum():5d} / {(read & true & below).sum():5d}")
    print("\nsplit where no space was read and the gap is at least: fixes / breaks")
    for split in (0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5):
        above = gaps >= split
        print(f"  {split:.2f}: {(~read & true & above).sum():5d} / {(~read & ~true & above).sum():5d}")
    rel = np.array([row[0] for row in RELATIVE])
    print(
        "\nsplit where no space was read and the gap is at least this share of the line's median space "
        "(and 0.2 line heights): fixes / breaks"
    )
    for share in (0.5, 0.6, 0.7, 0.8, 0.9, 1.0):
        above = (rel >= share) & (gaps >= 0.2)
        print(f"  {share:.2f}: {(~read & true & above).sum():5d} / {(~read & ~true & above).sum():5d}")
    print("\njoin a space read where the gap is below this share of the line's median space: fixes / breaks")
    for share in (0.1, 0.2, 0.3, 0.4):
        below = rel < share
        print(f"  {share:.2f}: {(read & ~true & below).sum():5d} / {(read & true & below).sum():5d}")
    print("\ngap quantiles (line heights): true spaces", np.round(np.quantile(gaps[true], [0.01, 0.05, 0.5]), 3),
          " no space", np.round(np.quantile(gaps[~true], [0.5, 0.95, 0.99, 0.999]), 3))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
