"""What every decoder shares: the result type, the protocol, input checks, symbol constraints and the
one confidence (the probability the model gives the returned text)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..charset import Charset, normalize_text
from ..errors import ConfigError
from . import ctc


@dataclass(frozen=True)
class Decoded:
    """The text of one sample, its confidence P(text | image), and each character's probability.

    ``flagged`` is set when a lexicon decoder found no lexicon word to return and fell back to the
    greedy text (see ``LexiconDecoder``). ``positions``, where asked for (``inference.recognize_window``),
    is each character's place along the image as a share of its width (``align.char_positions``).
    """

    text: str
    confidence: float
    char_probs: tuple[float, ...]
    flagged: bool = False
    positions: tuple[float, ...] = ()


class Decoder(Protocol):
    """What every decoder offers: a batch of log-probabilities in, one ``Decoded`` per sample out.

    ``names`` (one per sample, optional) lets a decoder pick per-image resources such as a lexicon.
    """

    name: str
    charset: Charset  # what its classes spell

    def decode(
        self, log_probs: np.ndarray, lengths: np.ndarray, names: Sequence[str] | None = None
    ) -> list[Decoded]: ...


def check_shapes(log_probs: np.ndarray, lengths: np.ndarray, charset: Charset) -> tuple[np.ndarray, np.ndarray]:
    log_probs = np.asarray(log_probs)
    lengths = np.asarray(lengths, dtype=np.int64)
    if log_probs.ndim != 3:
        raise ValueError(f"log_probs must be (batch, steps, classes), got shape {log_probs.shape}")
    if log_probs.shape[2] != charset.num_classes:
        raise ValueError(f"log_probs has {log_probs.shape[2]} classes but the charset needs {charset.num_classes}")
    if lengths.shape != (log_probs.shape[0],):
        raise ValueError(f"{len(lengths)} lengths for a batch of {log_probs.shape[0]}")
    if len(lengths) and (int(lengths.max()) > log_probs.shape[1] or int(lengths.min()) < 0):
        raise ValueError(f"lengths must lie in 0..{log_probs.shape[1]}")
    return log_probs, lengths


def allowed_classes(charset: Charset, allow: str | None = None, block: str | None = None) -> np.ndarray | None:
    """(classes,) bool: which classes a decoder may emit; ``None`` when every class may be.

    ``allow`` keeps only its symbols, ``block`` removes its symbols; the blank is always allowed.
    Symbols the charset lacks are ignored (the model cannot emit them anyway), so one list can serve
    several models; a constraint that leaves no symbol at all is an error.
    """
    if not allow and not block:
        return None
    allowed = np.ones(charset.num_classes, dtype=bool)
    symbols = charset.symbols
    if allow:
        keep = set(normalize_text(allow))
        allowed[1:] = [symbol in keep for symbol in symbols]
    if block:
        drop = set(normalize_text(block))
        allowed[1:] &= [symbol not in drop for symbol in symbols]
    if not allowed[1:].any():
        raise ConfigError(
            f"--allow {allow!r} / --block {block!r} leave none of the model's {len(symbols)} symbols "
            f"({''.join(symbols[:40])}{'...' if len(symbols) > 40 else ''})"
        )
    return allowed


def constrain(log_probs: np.ndarray, allowed: np.ndarray | None) -> np.ndarray:
    """Log-probabilities with disallowed classes at -inf (not renormalised: only the choice of text changes)."""
    if allowed is None:
        return log_probs
    return np.where(allowed, log_probs, np.float32(-np.inf)).astype(log_probs.dtype, copy=False)


def confidences(log_probs: np.ndarray, lengths: np.ndarray, labels: Sequence[Sequence[int]]) -> np.ndarray:
    """(N,) P(text | image) of each sample's chosen labels, by the CTC forward algorithm; 0 with no steps.

    Always from the model's own output, never the constrained one: a constraint chooses the text, the
    confidence still says how likely the model finds it.
    """
    padded, label_lengths = ctc.pad_labels(labels)
    probabilities = np.exp(ctc.log_likelihood(log_probs, lengths, padded, label_lengths))
    return np.where(lengths > 0, probabilities, 0.0)


def decoded_batch(
    charset: Charset,
    log_probs: np.ndarray,
    lengths: np.ndarray,
    labels: Sequence[Sequence[int]],
    flagged: Sequence[bool] | None = None,
) -> list[Decoded]:
    """``Decoded`` results for chosen labels: text, P(text | image) and best-alignment character probabilities."""
    padded, label_lengths = ctc.pad_labels(labels)
    probabilities = np.exp(ctc.log_likelihood(log_probs, lengths, padded, label_lengths))
    char_probs = ctc.best_alignment_char_probs(log_probs, lengths, padded, label_lengths)
    flagged = flagged if flagged is not None else [False] * len(labels)
    results = []
    for row, label in enumerate(labels):
        if lengths[row] == 0:
            results.append(Decoded("", 0.0, (), flagged[row]))
            continue
        probs = tuple(float(p) for p in char_probs[row, : len(label)])
        results.append(Decoded(charset.decode(label), float(probabilities[row]), probs, flagged[row]))
    return results
