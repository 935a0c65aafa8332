"""Page metrics: one-to-one line matching by IoU, detection precision/recall, and whitespace-normalised
CER/WER of a page's text, on hand-made boxes and strings."""

from __future__ import annotations

import pytest
from PIL import Image

from crnn_ctc.page.metrics import LineDetectionScore, match_lines, page_error_rates, score_page
from crnn_ctc.page.types import Block, Box, Line, Page
from crnn_ctc.synth.pages import SynthBlock, SynthPage


def test_matching_is_one_to_one_highest_iou_first() -> None:
    true_boxes = [Box(0, 0, 10, 10), Box(0, 3, 10, 13)]
    # The first prediction fits the first line best (1.0) and overlaps the second (0.54); the second
    # prediction overlaps the first line more (0.9) than the second (0.58), but the first line is taken.
    predicted = [Box(0, 0, 10, 10), Box(0, 1, 10, 10)]
    assert predicted[0].iou(true_boxes[1]) == pytest.approx(70 / 130)
    matches = match_lines(predicted, true_boxes)
    assert [(p, t) for p, t, _ in matches] == [(0, 0), (1, 1)]
    assert matches[0][2] == 1.0 and matches[1][2] == pytest.approx(70 / 120)
    # Above the threshold only: at 0.6 the second pair no longer counts.
    assert [(p, t) for p, t, _ in match_lines(predicted, true_boxes, iou=0.6)] == [(0, 0)]
    # A duplicate prediction matches nothing a second time.
    assert len(match_lines([Box(0, 0, 10, 10)] * 3, [Box(0, 0, 10, 10)])) == 1
    assert match_lines([], true_boxes) == [] and match_lines(predicted, []) == []


def test_precision_recall_and_f1_on_hand_made_boxes() -> None:
    truth = [Box(0, 0, 100, 20), Box(0, 30, 100, 50), Box(0, 60, 100, 80), Box(0, 90, 100, 110)]
    predicted = [Box(2, 1, 100, 21), Box(0, 30, 60, 50), Box(300, 0, 400, 20)]  # IoU 0.89, 0.6, none
    score = LineDetectionScore.of(predicted, truth)
    assert (score.predicted, score.truth, score.matched) == (3, 4, 2)
    assert score.precision == pytest.approx(2 / 3) and score.recall == pytest.approx(0.5)
    assert score.f1 == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    assert LineDetectionScore.of(predicted, truth, iou=0.7).matched == 1
    nothing_found = LineDetectionScore.of([], truth)
    assert (nothing_found.precision, nothing_found.recall, nothing_found.f1) == (1.0, 0.0, 0.0)
    empty = LineDetectionScore.of([], [])
    assert (empty.precision, empty.recall, empty.f1) == (1.0, 1.0, 1.0)


def test_error_rates_ignore_how_whitespace_is_laid_out() -> None:
    assert page_error_rates("hello world\n\nnext line", "hello world\nnext  line ") == (0.0, 0.0)
    cer, wer = page_error_rates("helo world", "hello\nworld")
    assert cer == pytest.approx(1 / 11) and wer == pytest.approx(1 / 2)
    cer, wer = page_error_rates("hello", "hello world")  # " world" missing: 6 of 11 characters, 1 of 2 words
    assert cer == pytest.approx(6 / 11) and wer == pytest.approx(1 / 2)
    cer, wer = page_error_rates("a b c d", "a b")  # insertions count: rates may pass 1
    assert cer == pytest.approx(4 / 3) and wer == pytest.approx(1.0)
    assert page_error_rates("", "") == (0.0, 0.0) and page_error_rates("x", " \n") == (1.0, 1.0)
    assert page_error_rates("", "two words") == (1.0, 1.0)


def read_page(*blocks: list[tuple[str, Box]]) -> Page:
    """A page reader's answer with the given blocks of (text, box) lines."""
    made = []
    for lines in blocks:
        boxes = [box for _, box in lines]
        union = Box(min(b.x0 for b in boxes), min(b.y0 for b in boxes), max(b.x1 for b in boxes),
                    max(b.y1 for b in boxes))  # fmt: skip
        made.append(Block(union, tuple(Line(text, box, 0.9) for text, box in lines)))
    return Page(200, 200, tuple(made))


def test_score_page_against_lines_and_text_or_a_synthetic_page() -> None:
    truth = [("The first line", Box(10, 10, 150, 30)), ("and a second", Box(10, 40, 130, 60)),
             ("Another block", Box(10, 90, 140, 110))]  # fmt: skip
    true_text = "The first line\nand a second\n\nAnother block"
    page = read_page(
        [("The first line", Box(9, 10, 151, 31)), ("and a secand", Box(10, 41, 128, 60))],
        [("Another", Box(10, 90, 70, 110))],  # half the line: IoU under 0.5
    )
    score = score_page(page, (truth, true_text))
    assert (score.lines.predicted, score.lines.truth, score.lines.matched) == (3, 3, 2)
    assert score.line_cer == pytest.approx(1 / (14 + 12))  # "secand": one substitution in the matched lines
    cer, wer = page_error_rates(page.text, true_text)
    assert (score.cer, score.wer) == (cer, wer) and wer == pytest.approx(2 / 8)
    synthetic = SynthPage(
        Image.new("L", (200, 200), 255), tuple(truth),
        (SynthBlock("paragraph", Box(10, 10, 150, 60), (0, 1)), SynthBlock("paragraph", Box(10, 90, 140, 110), (2,))),
        (), 0.0, true_text,
    )  # fmt: skip
    assert score_page(page, synthetic) == score
    perfect = score_page(read_page(truth[:2], truth[2:]), synthetic)
    assert perfect.as_dict() == {
        "lines_predicted": 3, "lines_true": 3, "lines_matched": 3, "precision": 1.0, "recall": 1.0, "f1": 1.0,
        "cer": 0.0, "wer": 0.0, "line_cer": 0.0,
    }  # fmt: skip
