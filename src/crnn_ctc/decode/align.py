"""Where each character of a read text lies along the image: from the best path's steps.

Why: a page reader checks the spaces the model read against the gaps in the ink (page/spacing.py),
and word boxes want more than a share of the width. CTC emits each character at one or a few steps
of the best path; the step's centre, as a share of the valid steps, is where the character lies. The
text a beam search returns may differ from the best path's in a few characters: the characters the
two share (matched in order, as ``difflib`` matches them) take the best path's places, the others
lie evenly between their matched neighbours.
"""

from __future__ import annotations

import difflib
import itertools

import numpy as np

from ..charset import BLANK, Charset


def best_path_emissions(log_probs: np.ndarray, charset: Charset) -> tuple[str, list[float]]:
    """The best path's text over ``log_probs`` (steps, classes) and each character's place (0..1)."""
    steps = log_probs.shape[0]
    if steps == 0:
        return "", []
    path = log_probs.argmax(axis=1)
    starts = np.flatnonzero(np.concatenate(([True], path[1:] != path[:-1])))
    stops = np.concatenate((starts[1:], [steps]))
    keep = path[starts] != BLANK
    labels = path[starts][keep].tolist()
    centres = ((starts[keep] + stops[keep]) / 2.0 / steps).tolist()
    return charset.decode(labels), centres


def char_positions(log_probs: np.ndarray, text: str, charset: Charset) -> tuple[float, ...]:
    """Each character of ``text`` (read from ``log_probs``, (steps, classes)) as a share of the image's
    width, 0 at its left edge: in order, never decreasing."""
    if not text:
        return ()
    path_text, centres = best_path_emissions(log_probs, charset)
    known: list[float | None] = [None] * len(text)
    matcher = difflib.SequenceMatcher(None, text, path_text, autojunk=False)
    for block in matcher.get_matching_blocks():
        for offset in range(block.size):
            known[block.a + offset] = centres[block.b + offset]
    anchors = [(-1, 0.0)] + [(index, place) for index, place in enumerate(known) if place is not None]
    anchors.append((len(text), 1.0))
    places = [0.0] * len(text)
    for (left, left_place), (right, right_place) in itertools.pairwise(anchors):
        for index in range(max(left, 0), right):
            if index == left:
                places[index] = left_place
            else:  # unmatched: evenly between the matched neighbours
                places[index] = left_place + (right_place - left_place) * (index - left) / (right - left)
    return tuple(places)
