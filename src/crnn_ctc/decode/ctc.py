"""The CTC forward algorithm and best alignments, in log space, vectorised over many (sample, label) pairs.

Pair ``m`` scores the label ``labels[m, :label_lengths[m]]`` against sample ``rows[m]`` of a batch
of log-probabilities (N, T, classes), over that sample's first ``lengths[rows[m]]`` steps. Labels
are class indices (never the blank), as ``Charset.encode`` gives them. The loop runs over time
steps only; pairs and label positions are NumPy axes, so scoring thousands of lexicon words costs
about as much as scoring one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

NEG_INF = -np.inf
# Pairs x states held at once; bounds memory for any number of pairs (a few MB per chunk).
_CHUNK_STATES = 1 << 18


def pad_labels(labels: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Labels of varied lengths as one (M, max length) array, padded with the blank, and their (M,) lengths."""
    label_lengths = np.fromiter((len(label) for label in labels), dtype=np.int64, count=len(labels))
    padded = np.zeros((len(labels), int(label_lengths.max(initial=0))), dtype=np.int64)
    if padded.size:
        padded[np.arange(padded.shape[1]) < label_lengths[:, np.newaxis]] = np.concatenate(
            [np.asarray(label, dtype=np.int64) for label in labels]
        )
    return padded, label_lengths


def required_steps(labels: np.ndarray, label_lengths: np.ndarray) -> np.ndarray:
    """(M,) fewest time steps each label needs: one per symbol plus a blank between equal neighbours."""
    repeats = (labels[:, 1:] == labels[:, :-1]) & (np.arange(1, labels.shape[1]) < label_lengths[:, np.newaxis])
    return label_lengths + repeats.sum(axis=1)


def log_likelihood(
    log_probs: np.ndarray,
    lengths: np.ndarray,
    labels: np.ndarray,
    label_lengths: np.ndarray,
    rows: np.ndarray | None = None,
) -> np.ndarray:
    """(M,) log P(label m | sample rows[m]): the log of the sum over all CTC alignments of the label.

    ``-inf`` when the label needs more steps than the sample has. ``rows`` defaults to pair m = sample m.
    """
    rows = np.arange(len(labels)) if rows is None else np.asarray(rows, dtype=np.int64)
    result = np.empty(len(labels), dtype=np.float64)
    chunk = max(1, _CHUNK_STATES // (2 * labels.shape[1] + 1))
    for start in range(0, len(labels), chunk):
        part = slice(start, start + chunk)
        result[part] = _forward(log_probs, lengths, labels[part], label_lengths[part], rows[part])
    return result


def _extend(labels: np.ndarray, label_lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """States (M, 2L+1): blank, l1, blank, l2, ... blank; where a state may skip the blank before it; the last state."""
    pairs, label_length = labels.shape
    states = np.zeros((pairs, 2 * label_length + 1), dtype=np.int64)
    states[:, 1::2] = labels
    skip = np.zeros(states.shape, dtype=bool)
    skip[:, 3::2] = labels[:, 1:] != labels[:, :-1]
    return states, skip, 2 * label_lengths


def _logsumexp3(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    top = np.maximum(np.maximum(a, b), c)
    shift = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return shift + np.log(np.exp(a - shift) + np.exp(b - shift) + np.exp(c - shift))


def _shifted(alpha: np.ndarray, by: int) -> np.ndarray:
    out = np.full_like(alpha, NEG_INF)
    out[:, by:] = alpha[:, :-by]
    return out


def _emissions(log_probs: np.ndarray, rows: np.ndarray, step: int, states: np.ndarray) -> np.ndarray:
    return log_probs[rows[:, np.newaxis], step, states].astype(np.float64)


def _forward(
    log_probs: np.ndarray, lengths: np.ndarray, labels: np.ndarray, label_lengths: np.ndarray, rows: np.ndarray
) -> np.ndarray:
    states, skip, last = _extend(labels, label_lengths)
    steps = np.asarray(lengths, dtype=np.int64)[rows]
    pairs = np.arange(len(labels))
    alpha = np.full(states.shape, NEG_INF)
    alpha[:, :2] = _emissions(log_probs, rows, 0, states[:, :2])
    for step in range(1, int(steps.max(initial=0))):
        from_skip = np.where(skip, _shifted(alpha, 2), NEG_INF)
        updated = _logsumexp3(alpha, _shifted(alpha, 1), from_skip) + _emissions(log_probs, rows, step, states)
        active = step < steps
        alpha = np.where(active[:, np.newaxis], updated, alpha)
    end = alpha[pairs, last]
    before_end = np.where(last > 0, alpha[pairs, np.maximum(last - 1, 0)], NEG_INF)
    total = np.logaddexp(end, before_end)
    # A label only fits if its alignments could reach the end; no steps at all reads nothing.
    return np.where(steps > 0, total, np.where(label_lengths == 0, 0.0, NEG_INF))


def best_alignment_char_probs(
    log_probs: np.ndarray,
    lengths: np.ndarray,
    labels: np.ndarray,
    label_lengths: np.ndarray,
    rows: np.ndarray | None = None,
) -> np.ndarray:
    """(M, L) per-symbol probability: the highest step probability of symbol k over the steps the most likely
    alignment (Viterbi) of the label gives it. Zero where the label does not fit.

    For the greedy text this is the best path, so greedy decoding gets it without this function.
    """
    rows = np.arange(len(labels)) if rows is None else np.asarray(rows, dtype=np.int64)
    states, skip, last = _extend(labels, label_lengths)
    steps = np.asarray(lengths, dtype=np.int64)[rows]
    pairs = np.arange(len(labels))
    total_steps = int(steps.max(initial=0))
    came_from = np.zeros((total_steps, *states.shape), dtype=np.int8)  # 0 stay, 1 from s-1, 2 from s-2
    score = np.full(states.shape, NEG_INF)
    if total_steps:
        score[:, :2] = _emissions(log_probs, rows, 0, states[:, :2])
    for step in range(1, total_steps):
        options = np.stack([score, _shifted(score, 1), np.where(skip, _shifted(score, 2), NEG_INF)])
        choice = options.argmax(axis=0)
        updated = np.take_along_axis(options, choice[np.newaxis], axis=0)[0] + _emissions(log_probs, rows, step, states)
        active = step < steps
        came_from[step] = np.where(active[:, np.newaxis], choice, 0)
        score = np.where(active[:, np.newaxis], updated, score)
    before_end = np.maximum(last - 1, 0)
    end_better = score[pairs, last] >= np.where(last > 0, score[pairs, before_end], NEG_INF)
    state = np.where(end_better, last, before_end)
    fits = np.isfinite(score[pairs, state]) & (steps > 0)
    char_probs = np.zeros(labels.shape, dtype=np.float64)
    for step in range(total_steps - 1, -1, -1):
        on = fits & (step < steps)
        emitting = on & (state % 2 == 1)
        if emitting.any():
            who = pairs[emitting]
            probability = np.exp(log_probs[rows[who], step, states[who, state[who]]].astype(np.float64))
            position = (state[who] - 1) // 2
            char_probs[who, position] = np.maximum(char_probs[who, position], probability)
        state = np.where(on, state - came_from[step, pairs, state], state)
    return char_probs
