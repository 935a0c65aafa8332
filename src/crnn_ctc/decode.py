"""Turning per-step class log-probabilities into text and a confidence.

Works on NumPy arrays only, so every backend (PyTorch, ONNX Runtime) and the service share it.
A decoder takes ``log_probs`` of shape (N, T, classes) and each sample's valid length (N,).

Confidence (greedy): the probability of the best path, the product over the sample's valid time
steps of the most likely class's probability. It lies in [0, 1], falls when any step is unsure,
and is a lower bound of the probability the model gives the returned text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .charset import BLANK, Charset


@dataclass(frozen=True)
class Decoded:
    """The text of one sample, its confidence, and each character's probability."""

    text: str
    confidence: float
    char_probs: tuple[float, ...]


class Decoder(Protocol):
    """What every decoder offers: a batch of log-probabilities in, one ``Decoded`` per sample out."""

    name: str

    def decode(self, log_probs: np.ndarray, lengths: np.ndarray) -> list[Decoded]: ...


class GreedyDecoder:
    """Best path: the most likely class at each step, repeats merged, blanks removed."""

    name = "greedy"

    def __init__(self, charset: Charset) -> None:
        self.charset = charset

    def decode(self, log_probs: np.ndarray, lengths: np.ndarray) -> list[Decoded]:
        log_probs = _check_shapes(log_probs, lengths, self.charset)
        best = log_probs.argmax(axis=2)
        best_log_probs = np.take_along_axis(log_probs, best[:, :, np.newaxis], axis=2)[:, :, 0]
        results = []
        for path, step_log_probs, length in zip(best, best_log_probs, lengths, strict=True):
            length = int(length)
            if length == 0:
                results.append(Decoded("", 0.0, ()))
                continue
            path = path[:length]
            step_log_probs = step_log_probs[:length].astype(np.float64)
            run_starts = np.flatnonzero(np.concatenate(([True], path[1:] != path[:-1])))
            run_labels = path[run_starts]
            # A character's probability: its most confident step within its run.
            run_probs = np.exp(np.maximum.reduceat(step_log_probs, run_starts))
            keep = run_labels != BLANK
            text = self.charset.decode(run_labels[keep].tolist())
            confidence = float(np.exp(step_log_probs.sum()))
            results.append(Decoded(text, confidence, tuple(float(p) for p in run_probs[keep])))
        return results


DECODERS = {"greedy": GreedyDecoder}


def make_decoder(name: str, charset: Charset) -> Decoder:
    """The decoder called ``name`` for ``charset``."""
    try:
        return DECODERS[name](charset)
    except KeyError:
        raise ValueError(f"unknown decoder {name!r}; known: {', '.join(DECODERS)}") from None


def _check_shapes(log_probs: np.ndarray, lengths: np.ndarray, charset: Charset) -> np.ndarray:
    log_probs = np.asarray(log_probs)
    if log_probs.ndim != 3:
        raise ValueError(f"log_probs must be (batch, steps, classes), got shape {log_probs.shape}")
    if log_probs.shape[2] != charset.num_classes:
        raise ValueError(f"log_probs has {log_probs.shape[2]} classes but the charset needs {charset.num_classes}")
    if len(lengths) != log_probs.shape[0]:
        raise ValueError(f"{len(lengths)} lengths for a batch of {log_probs.shape[0]}")
    if len(lengths) and (int(np.max(lengths)) > log_probs.shape[1] or int(np.min(lengths)) < 0):
        raise ValueError(f"lengths must lie in 0..{log_probs.shape[1]}")
    return log_probs
