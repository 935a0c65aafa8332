"""Greedy (best path) decoding: the most likely class at each step, repeats merged, blanks removed."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..charset import BLANK, Charset
from .base import Decoded, allowed_classes, check_shapes, confidences, constrain


class GreedyDecoder:
    """Best path decoding; ``allow``/``block`` restrict the symbols it may emit."""

    name = "greedy"

    def __init__(self, charset: Charset, *, allow: str | None = None, block: str | None = None) -> None:
        self.charset = charset
        self.allowed = allowed_classes(charset, allow, block)

    def decode(self, log_probs: np.ndarray, lengths: np.ndarray, names: Sequence[str] | None = None) -> list[Decoded]:
        log_probs, lengths = check_shapes(log_probs, lengths, self.charset)
        constrained = constrain(log_probs, self.allowed)
        best = constrained.argmax(axis=2)
        best_log_probs = np.take_along_axis(constrained, best[:, :, np.newaxis], axis=2)[:, :, 0]
        labels: list[list[int]] = []
        char_probs: list[tuple[float, ...]] = []
        for path, step_log_probs, length in zip(best, best_log_probs, lengths, strict=True):
            if length == 0:
                labels.append([])
                char_probs.append(())
                continue
            path = path[:length]
            run_starts = np.flatnonzero(np.concatenate(([True], path[1:] != path[:-1])))
            run_labels = path[run_starts]
            keep = run_labels != BLANK
            labels.append(run_labels[keep].tolist())
            # A character's probability: its most confident step within its run of the best path, which is
            # the most likely alignment of the greedy text (the same definition the other decoders use).
            run_probs = np.exp(np.maximum.reduceat(step_log_probs[:length].astype(np.float64), run_starts))
            char_probs.append(tuple(run_probs[keep].tolist()))
        probabilities = confidences(log_probs, lengths, labels)
        return [
            Decoded(self.charset.decode(label), float(probability), probs)
            for label, probability, probs in zip(labels, probabilities, char_probs, strict=True)
        ]
