import math

import numpy as np
import pytest

from crnn_ctc.charset import Charset
from crnn_ctc.decode import GreedyDecoder, make_decoder

CHARSET = Charset.from_string("ab")  # classes: 0 blank, 1 'a', 2 'b'


def _log_probs(path: list[int], confidence: float = 0.9) -> np.ndarray:
    """One sample whose best class at step t is path[t] with probability ``confidence``."""
    probs = np.full((len(path), 3), (1 - confidence) / 2)
    probs[np.arange(len(path)), path] = confidence
    return np.log(probs)[np.newaxis]


def test_repeats_merge_blanks_separate_and_vanish() -> None:
    # a a _ a b b _  ->  "aab": a blank between two a's keeps both (a double letter).
    result = GreedyDecoder(CHARSET).decode(_log_probs([1, 1, 0, 1, 2, 2, 0]), np.array([7]))[0]
    assert result.text == "aab"
    assert len(result.char_probs) == 3


def test_steps_past_the_length_are_ignored() -> None:
    decoded = GreedyDecoder(CHARSET).decode(_log_probs([1, 0, 2, 2]), np.array([2]))[0]
    assert decoded.text == "a"


def test_confidence_is_best_path_probability_and_char_probs_are_run_maxima() -> None:
    probs = np.array([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.9, 0.05, 0.05]])
    decoded = GreedyDecoder(CHARSET).decode(np.log(probs)[np.newaxis], np.array([4]))[0]
    assert decoded.text == "a"
    assert decoded.confidence == pytest.approx(0.6 * 0.7 * 0.8 * 0.9)
    assert decoded.char_probs == pytest.approx((0.8,))
    assert 0.0 <= decoded.confidence <= 1.0


def test_empty_and_batched() -> None:
    log_probs = np.concatenate([_log_probs([0, 0, 0]), _log_probs([2, 0, 1])])
    first, second = GreedyDecoder(CHARSET).decode(log_probs, np.array([3, 3]))
    assert (first.text, second.text) == ("", "ba")
    assert first.confidence == pytest.approx(0.9**3)
    zero = GreedyDecoder(CHARSET).decode(_log_probs([1]), np.array([0]))[0]
    assert (zero.text, zero.confidence) == ("", 0.0)


def test_bad_shapes_and_names_are_refused() -> None:
    decoder = make_decoder("greedy", CHARSET)
    with pytest.raises(ValueError, match="classes"):
        decoder.decode(np.zeros((1, 3, 5)), np.array([3]))
    with pytest.raises(ValueError, match="lengths"):
        decoder.decode(np.zeros((1, 3, 3)), np.array([4]))
    with pytest.raises(ValueError, match="unknown decoder"):
        make_decoder("oracle", CHARSET)


def test_confidence_falls_when_a_step_is_unsure() -> None:
    sure = GreedyDecoder(CHARSET).decode(_log_probs([1, 0, 2], 0.99), np.array([3]))[0]
    unsure = GreedyDecoder(CHARSET).decode(_log_probs([1, 0, 2], 0.5), np.array([3]))[0]
    assert sure.text == unsure.text == "ab"
    assert sure.confidence > unsure.confidence
    assert math.isclose(unsure.confidence, 0.5**3)
