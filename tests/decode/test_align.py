import numpy as np
import pytest

from crnn_ctc.charset import Charset
from crnn_ctc.decode.align import best_path_emissions, char_positions

CHARSET = Charset.from_string("ab ")  # classes: 0 blank, 1 'a', 2 'b', 3 ' '


def _log_probs(path: list[int]) -> np.ndarray:
    probs = np.full((len(path), 4), 0.1 / 3)
    probs[np.arange(len(path)), path] = 0.9
    return np.log(probs)


def test_each_character_lies_at_the_centre_of_its_run_on_the_best_path() -> None:
    # steps: a a _ b _ _ ' ' _ a _   (10 steps)
    log_probs = _log_probs([1, 1, 0, 2, 0, 0, 3, 0, 1, 0])
    text, centres = best_path_emissions(log_probs, CHARSET)
    assert text == "ab a"
    assert centres == pytest.approx([0.1, 0.35, 0.65, 0.85])
    assert char_positions(log_probs, "ab a", CHARSET) == pytest.approx((0.1, 0.35, 0.65, 0.85))


def test_characters_the_best_path_lacks_lie_evenly_between_their_neighbours() -> None:
    log_probs = _log_probs([1, 1, 0, 2, 0, 0, 3, 0, 1, 0])
    places = char_positions(log_probs, "abba", CHARSET)  # a beam search's text: the space read as a second b
    assert places[0] == pytest.approx(0.1) and places[1] == pytest.approx(0.35) and places[3] == pytest.approx(0.85)
    assert places[1] < places[2] < places[3]
    edges = char_positions(log_probs, "bab a", CHARSET)  # an extra first character: between the edge and 'a'
    assert 0.0 < edges[0] < edges[1] == pytest.approx(0.1)
    assert list(edges) == sorted(edges)
    assert char_positions(log_probs, "", CHARSET) == ()
    assert char_positions(np.zeros((0, 4)), "ab", CHARSET) == pytest.approx((1 / 3, 2 / 3))
