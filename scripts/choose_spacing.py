"""Choose the page reader's space check (page/spacing.py) on synthetic pages with exact ground truth.

Why: the check's thresholds decide when the ink overrules the model's spaces; they must be chosen where
the truth is known, and the benchmark's pages are not looked at. Pages: ``render_page`` seeds from
``FIRST_SEED`` (apart from the benchmark's 170,000 on and the tests'), fonts of the training split.
Each line piece is read as ``crnn read`` reads it (beam search with the English word prior) with the
check off; the check's decisions are then made for each setting, and every pair of neighbouring
characters that both match the true line's text counts as a space fixed (read wrongly, decided
rightly) or broken (read rightly, decided wrongly).

Usage: OMP_NUM_THREADS=1 python scripts/choose_spacing.py [--pages 15]
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections import Counter
from dataclasses import dataclass

import numpy as np

from crnn_ctc import Recognizer
from crnn_ctc.decode import DecoderOptions
from crnn_ctc.page import PageOptions, PageReader
from crnn_ctc.page import reader as page_reader
from crnn_ctc.page.spacing import CONTRAST, JOIN_BELOW, SPLIT_MIN, SPLIT_SHARE, space_decisions
from crnn_ctc.page.types import Box
from crnn_ctc.synth.page_config import PageSynthConfig
from crnn_ctc.synth.pages import render_page

FIRST_SEED = 52_000
JOINS = (0.05, 0.08, 0.1, 0.12)
SPLITS = ((0.8, 2.0), (1.0, 1.0), (1.0, 1.5), (1.0, 2.0), (1.0, 3.0), (1.2, 2.0))  # (share of median space, contrast)


@dataclass
class Piece:
    """A read line piece ready for the check: text, columns, empty columns, height, and its true text."""

    text: str
    columns: list[float]
    empty: np.ndarray
    height: int
    truth: str


def iou(a: Box, b: Box) -> float:
    x0, y0, x1, y1 = max(a.x0, b.x0), max(a.y0, b.y0), min(a.x1, b.x1), min(a.y1, b.y1)
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    union = a.width * a.height + b.width * b.height - inter
    return inter / union if union else 0.0


def pieces_of_page(seed: int, reader: PageReader) -> list[Piece]:
    page = render_page(seed, PageSynthConfig(font_split="train"))
    recorded = []

    def record(prediction, box, upright):  # type: ignore[no-untyped-def]
        recorded.append((prediction, box, upright))
        return prediction

    original = page_reader._check_spaces
    page_reader._check_spaces = record
    try:
        reader.read(page.image, f"synth-{seed}")
    finally:
        page_reader._check_spaces = original
    pieces = []
    for prediction, box, upright in recorded:
        if not prediction.positions or not prediction.text.strip():
            continue
        truth, best = max(((text, iou(box, line_box)) for text, line_box in page.lines),
                          key=lambda item: item[1], default=("", 0.0))  # fmt: skip
        if best < 0.3:  # not a line of the truth (a skewed page's boxes)
            continue
        cut, scale = page_reader._crop_box(box, upright.gray.shape), upright.scale
        small = page_reader._analysis_box(box, scale)
        empty = ~upright.mask[small.y0 : small.y1, small.x0 : small.x1].any(axis=0)
        columns = [(cut.x0 + share * cut.width) * scale - small.x0 for share in prediction.positions]
        pieces.append(Piece(prediction.text, columns, empty, small.height, truth))
    return pieces


def score(pieces: list[Piece], **settings: float) -> Counter[str]:
    """Spaces fixed and broken by the check with ``settings``, and the read errors it could fix."""
    counts: Counter[str] = Counter()
    for piece in pieces:
        matched = {}
        for block in difflib.SequenceMatcher(None, piece.text, piece.truth, autojunk=False).get_matching_blocks():
            for offset in range(block.size):
                matched[block.a + offset] = block.b + offset
        for pair in space_decisions(piece.text, piece.columns, piece.empty, piece.height, **settings):
            i, j = pair.left, pair.right
            if i not in matched or j not in matched or matched[j] <= matched[i]:
                continue
            true = " " in piece.truth[matched[i] + 1 : matched[j]]
            counts["pairs"] += 1
            counts["extra read"] += pair.read and not true
            counts["missing read"] += true and not pair.read
            kind = "join" if pair.read else "split"
            if pair.checked != pair.read:
                counts[f"{kind} fixed" if pair.checked == true else f"{kind} broke"] += 1
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=15)
    args = parser.parse_args(argv)
    recognizer = Recognizer.load(threads=1, decoder="beam", decoder_options=DecoderOptions(word_prior="wordfreq"))
    reader = PageReader(recognizer, PageOptions())
    pieces: list[Piece] = []
    for seed in range(FIRST_SEED, FIRST_SEED + args.pages):
        pieces += pieces_of_page(seed, reader)
        print(f"page {seed}: {len(pieces)} line pieces", file=sys.stderr)
    base = score(pieces)
    print(f"{base['pairs']} neighbouring pairs; read wrongly: {base['extra read']} extra spaces, "
          f"{base['missing read']} missing")  # fmt: skip
    print(f"\njoin below (line heights): fixed / broke  [chosen {JOIN_BELOW}]")
    for join in JOINS:
        counts = score(pieces, join_below=join)
        print(f"  {join:.2f}: {counts['join fixed']:4d} / {counts['join broke']:4d}")
    print(f"\nsplit at (share of the line's median space, contrast to neighbouring letter gaps), at least "
          f"{SPLIT_MIN} line heights: fixed / broke  [chosen {SPLIT_SHARE}, {CONTRAST}]")  # fmt: skip
    for share, contrast in SPLITS:
        counts = score(pieces, split_share=share, contrast=contrast)
        print(f"  {share:.1f}, {contrast:.1f}: {counts['split fixed']:4d} / {counts['split broke']:4d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
