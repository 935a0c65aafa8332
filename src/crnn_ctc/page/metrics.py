"""How well a page was read: line detection (boxes matched one-to-one by IoU) and the page's character
and word error rates, whitespace normalised, with the same edit distance as ``evaluate.py`` (rapidfuzz)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rapidfuzz.distance import Levenshtein

from .types import Box, Page

if TYPE_CHECKING:
    from ..synth.pages import SynthPage


def match_lines(predicted: Sequence[Box], truth: Sequence[Box], iou: float = 0.5) -> list[tuple[int, int, float]]:
    """One-to-one matches ``(predicted index, true index, IoU)`` with IoU at least ``iou``, taken
    greedily by highest IoU first (ties: lower indices first), in order of the true index."""
    candidates = []
    for p, predicted_box in enumerate(predicted):
        for t, true_box in enumerate(truth):
            overlap = predicted_box.iou(true_box)
            if overlap >= iou and overlap > 0:
                candidates.append((-overlap, p, t))
    candidates.sort()
    used_predicted: set[int] = set()
    used_truth: set[int] = set()
    matches = []
    for negative, p, t in candidates:
        if p not in used_predicted and t not in used_truth:
            used_predicted.add(p)
            used_truth.add(t)
            matches.append((p, t, -negative))
    return sorted(matches, key=lambda match: match[1])


@dataclass(frozen=True)
class LineDetectionScore:
    """Counts of predicted, true and matched lines. With nothing predicted, precision is 1 (no false
    line); with nothing to find, recall is 1; both empty is a perfect score."""

    predicted: int
    truth: int
    matched: int

    @classmethod
    def of(cls, predicted: Sequence[Box], truth: Sequence[Box], iou: float = 0.5) -> LineDetectionScore:
        return cls(len(predicted), len(truth), len(match_lines(predicted, truth, iou)))

    @property
    def precision(self) -> float:
        return self.matched / self.predicted if self.predicted else 1.0

    @property
    def recall(self) -> float:
        return self.matched / self.truth if self.truth else 1.0

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0


def page_error_rates(predicted_text: str, true_text: str) -> tuple[float, float]:
    """(CER, WER) of a page's text: CER over the texts with every run of whitespace (newlines, blank lines
    between blocks) made one space, WER over their whitespace-separated words. An empty truth gives 0
    against an empty prediction and 1 against any other."""
    predicted_words, true_words = predicted_text.split(), true_text.split()
    predicted, true = " ".join(predicted_words), " ".join(true_words)
    if not true:
        return (0.0, 0.0) if not predicted else (1.0, 1.0)
    cer = Levenshtein.distance(predicted, true) / len(true)
    wer = Levenshtein.distance(predicted_words, true_words) / len(true_words)
    return cer, wer


@dataclass(frozen=True)
class PageScore:
    """A page read against its ground truth. ``line_cer`` is the CER over the matched lines alone: the
    recognition of the lines found, apart from what detection and reading order cost."""

    lines: LineDetectionScore
    cer: float
    wer: float
    line_cer: float

    def as_dict(self) -> dict[str, float | int]:
        detection = self.lines
        return {
            "lines_predicted": detection.predicted, "lines_true": detection.truth, "lines_matched": detection.matched,
            "precision": round(detection.precision, 6), "recall": round(detection.recall, 6),
            "f1": round(detection.f1, 6), "cer": round(self.cer, 6), "wer": round(self.wer, 6),
            "line_cer": round(self.line_cer, 6),
        }  # fmt: skip


def score_page(page: Page, truth: SynthPage | tuple[Sequence[tuple[str, Box]], str], iou: float = 0.5) -> PageScore:
    """Score ``page`` against a synthetic page's ground truth, or against ``(lines, text)``: the true lines
    as (text, box) and the reading-order text."""
    true_lines, true_text = truth if isinstance(truth, tuple) else (truth.lines, truth.text)
    predicted = page.lines
    matches = match_lines([line.box for line in predicted], [box for _, box in true_lines], iou)
    edits = sum(Levenshtein.distance(predicted[p].text, true_lines[t][0]) for p, t, _ in matches)
    characters = sum(len(true_lines[t][0]) for _, t, _ in matches)
    cer, wer = page_error_rates(page.text, true_text)
    detection = LineDetectionScore(len(predicted), len(true_lines), len(matches))
    return PageScore(detection, cer, wer, edits / characters if characters else 0.0)
