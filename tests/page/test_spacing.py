import numpy as np

from crnn_ctc.page.spacing import ink_runs, respace, run_gap


def _line(glyphs: list[tuple[str, int, int]]) -> tuple[np.ndarray, list[tuple[str, float]]]:
    """A line's empty-column flags from (character, width, gap after it) and each character's centre."""
    columns, centres, x = [], [], 0
    for char, width, gap in glyphs:
        centres.append((char, x + width / 2.0))
        columns += [False] * width + [True] * gap
        x += width + gap
    return np.array(columns), centres


def test_ink_runs_and_the_gap_between_the_runs_two_columns_lie_on() -> None:
    empty = np.array([True, False, False, True, True, True, False, True, False, False])
    assert ink_runs(empty).tolist() == [[1, 3], [6, 7], [8, 10]]
    runs = ink_runs(empty)
    assert run_gap(runs, 1.5, 2.0) == 0  # the same run
    assert run_gap(runs, 2.0, 9.0) == 3  # the widest gap on the way
    assert run_gap(runs, 4.0, 6.2) == 3  # a column in a gap counts for its nearest run
    assert run_gap(np.zeros((0, 2), dtype=int), 0.0, 5.0) == 0


def test_a_wide_gap_read_through_gets_a_space_and_touching_letters_lose_one() -> None:
    """``inthe cat``: the gap between n and t is as wide as the line's space read, so it splits; ``Tr ue``:
    the r and u touch, so the space read between them goes. Letters a pixel apart stay together."""
    empty, centres = _line([("i", 2, 1), ("n", 5, 6), ("t", 3, 1), ("h", 5, 1), ("e", 5, 6), ("c", 5, 1),
                            ("a", 5, 1), ("t", 3, 6), ("T", 6, 0), ("r", 4, 0), ("u", 5, 0), ("e", 5, 0)])  # fmt: skip
    text = "inthe cat Tr ue"
    letters = iter(x for _, x in centres)
    columns: list[float] = []
    for char in text:  # a space read lies just after the character before it
        columns.append(columns[-1] + 0.5 if char == " " else next(letters))
    probs = [0.9] * len(text)
    result = respace(text, probs, columns, empty, height=20)
    assert result.text == "in the cat True"
    assert (result.joined, result.split) == (1, 1)
    assert len(result.char_probs) == len(result.positions) == len(result.text)
    assert list(result.positions) == sorted(result.positions)
    # Without a space read in the line there is no measure of a space: nothing is split.
    alone = respace("inthe", probs[:5], columns[:5], empty, height=20)
    assert alone.text == "inthe" and alone.split == 0
    # Positions that do not fit the text leave it as read.
    assert respace(text, probs, columns[:3], empty, height=20).text == text


def test_no_space_is_added_around_full_stops_or_between_letters_no_wider_apart_than_their_neighbours() -> None:
    """A typewriter face inside proportional text: ``*.deb`` and ``1.0`` stand as wide apart as the line's
    word spaces, and so do monospaced letters (``d e b``); neither gets a space."""
    empty, centres = _line([("a", 5, 7), ("*", 4, 7), (".", 2, 7), ("d", 5, 6), ("e", 5, 6), ("b", 5, 7), ("z", 5, 0)])
    text = "a *.deb z"
    letters = iter(x for _, x in centres)
    columns: list[float] = []
    for char in text:
        columns.append(columns[-1] + 0.5 if char == " " else next(letters))
    result = respace(text, [0.9] * len(text), columns, empty, height=20)
    assert (result.text, result.split) == (text, 0)
