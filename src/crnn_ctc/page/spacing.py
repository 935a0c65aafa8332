"""Word spaces checked against the ink: a space the model read where the letters touch goes, a wide empty
gap the model read through gets one.

Why: on printed pages the model's commonest word errors after misread letters are spaces: two short
words run together (``inthe``, ``page2``) or one word cut in two (``True Type``, ``change log``), each
costing two word errors. The page has the answer in its ink: letters of a word are set a hair apart,
words a third of an em. CTC places each character at a step of the line (``decode.align``); the widest
gap between the ink runs two neighbouring characters lie on is the gap that separates them. Between two
characters the model read apart, a gap narrower than ``JOIN_BELOW`` line heights joins them; between
two it read together, one as wide as the line's median space read (``SPLIT_SHARE``, and at least
``SPLIT_MIN`` line heights), ``CONTRAST`` times its neighbours' gaps, between letters or digits, puts a
space. In between, the model's reading stands.

Written here because no layout library we could use reads the spaces of a line already recognised.
The thresholds were chosen on synthetic pages of our generator (``scripts/choose_spacing.py``), never
on the benchmark's pages.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Chosen on 15 synthetic pages (scripts/choose_spacing.py: 31,436 neighbouring pairs, 29 extra and 65
# missing spaces read): joining below 0.1 line heights fixed 20 and broke 1; splitting at the line's
# median space read (at least 0.2 line heights: monospaced letters stand that far apart) and twice the
# neighbouring letter gaps, between letters, digits and word-ending or -starting marks, fixed 12 and
# broke 1. Real pages showed why the letters-only rule: a typewriter face inside proportional text sets
# ``*.deb`` and ``1.0`` as wide apart as the text's word spaces.
JOIN_BELOW = 0.1  # line heights (the line box, ascenders to descenders: about an em)
SPLIT_SHARE = 1.0  # of the line's median gap at the spaces read
SPLIT_MIN = 0.2  # line heights
CONTRAST = 2.0  # a split gap is at least this many times its neighbouring letter gaps
# A space is added only after a letter, digit or one of these, and before a letter, digit or one of
# these: not around full stops, slashes, asterisks (file names, URLs, numbers: ``*.deb``, ``1.0``).
ENDS_A_WORD = ",;:!?)]"
STARTS_A_WORD = "(["


@dataclass(frozen=True)
class Respaced:
    """A line piece's text after the check, with its per-character probabilities and positions."""

    text: str
    char_probs: tuple[float, ...]
    positions: tuple[float, ...]
    joined: int  # spaces removed
    split: int  # spaces added


def ink_runs(empty: np.ndarray) -> np.ndarray:
    """The runs of inked columns as rows of [start, stop)."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], (~empty).astype(np.int8), [0]))))
    return edges.reshape(-1, 2)


def run_gap(runs: np.ndarray, left: float, right: float) -> int:
    """The widest gap between the ink runs nearest to columns ``left`` and ``right`` (0: the same run)."""
    if len(runs) == 0:
        return 0

    def nearest(column: float) -> int:
        distance = np.maximum(runs[:, 0] - column, column - (runs[:, 1] - 1)).clip(min=0)
        return int(distance.argmin())

    a, b = nearest(left), nearest(right)
    if b <= a:
        return 0
    return int((runs[a + 1 : b + 1, 0] - runs[a:b, 1]).max())


@dataclass(frozen=True)
class PairDecision:
    """Two neighbouring characters (their indices in the text as read), the gap between them in pixels,
    and whether a space stood between them as read and after the check."""

    left: int
    right: int
    gap: int
    read: bool
    checked: bool


def space_decisions(
    text: str,
    columns: Sequence[float],
    empty: np.ndarray,
    height: float,
    join_below: float = JOIN_BELOW,
    split_share: float = SPLIT_SHARE,
    split_min: float = SPLIT_MIN,
    contrast: float = CONTRAST,
) -> list[PairDecision]:
    """Each pair of neighbouring non-space characters of ``text``, with the check's decision.

    ``columns`` is each character's column in ``empty``'s coordinates (one flag a column of the line:
    no ink there), never decreasing; ``height`` the line's height in the same pixels. The gap of a pair
    is the widest between the ink runs its characters lie on (``run_gap``). A space is only added
    between two letters or digits whose gap is also at least ``contrast`` times each neighbouring
    pair's that was read without a space (``ENDS_A_WORD`` and ``STARTS_A_WORD`` count as letters
    there): full stops and monospaced letters stand apart in words (``*.deb``, ``1.0`` set in a
    typewriter face inside proportional text).
    """
    runs = ink_runs(empty)
    letters = [index for index, char in enumerate(text) if char != " "]
    pairs = [(i, j, run_gap(runs, columns[i], columns[j]), " " in text[i + 1 : j])
             for i, j in itertools.pairwise(letters)]  # fmt: skip
    spaces = [gap for _, _, gap, spaced in pairs if spaced]
    split = max(split_min * height, split_share * float(np.median(spaces))) if spaces else math.inf
    join = join_below * height
    decisions = []
    for index, (i, j, gap, spaced) in enumerate(pairs):
        if spaced:
            checked = gap >= join
        else:
            near = [pairs[k][2] for k in (index - 1, index + 1) if 0 <= k < len(pairs) and not pairs[k][3]]
            checked = (
                gap >= split
                and (text[i].isalnum() or text[i] in ENDS_A_WORD)
                and (text[j].isalnum() or text[j] in STARTS_A_WORD)
                and all(gap >= contrast * other for other in near)
            )
        decisions.append(PairDecision(i, j, gap, spaced, checked))
    return decisions


def respace(
    text: str,
    char_probs: Sequence[float],
    columns: Sequence[float],
    empty: np.ndarray,
    height: float,
) -> Respaced:
    """``text`` with its spaces checked against the ink (``space_decisions``). A space added takes the
    probability 1; positions and probabilities follow the characters."""
    if len(columns) != len(text) or len(char_probs) != len(text) or not text.strip():
        return Respaced(text, tuple(char_probs), tuple(columns), 0, 0)
    first = next(index for index, char in enumerate(text) if char != " ")
    chars, probs, places = [text[first]], [char_probs[first]], [columns[first]]
    joined = added = 0
    for pair in space_decisions(text, columns, empty, height):
        i, j = pair.left, pair.right
        joined += pair.read and not pair.checked
        added += pair.checked and not pair.read
        if pair.checked:
            chars.append(" ")
            probs.append(char_probs[j - 1] if pair.read else 1.0)
            places.append((columns[i] + columns[j]) / 2.0)
        chars.append(text[j])
        probs.append(char_probs[j])
        places.append(columns[j])
    return Respaced("".join(chars), tuple(probs), tuple(places), joined, added)
