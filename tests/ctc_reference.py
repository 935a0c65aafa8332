"""Reference CTC computations for the decoder tests: the many-to-one map and brute-force labelling
probabilities, against which the real algorithms are checked."""

from __future__ import annotations

import itertools

import numpy as np
import torch


def collapse(path: tuple[int, ...]) -> tuple[int, ...]:
    """CTC's many-to-one map: merge repeats, then drop blanks (class 0)."""
    return tuple(c for i, c in enumerate(path) if c != 0 and (i == 0 or path[i - 1] != c))


def brute_force_distribution(log_probs: np.ndarray, length: int) -> dict[tuple[int, ...], float]:
    """P(labelling) of every labelling of one sample (T, classes), by summing over all classes^T paths."""
    probs = np.exp(log_probs[:length].astype(np.float64))
    distribution: dict[tuple[int, ...], float] = {}
    for path in itertools.product(range(probs.shape[1]), repeat=length):
        labelling = collapse(path)
        distribution[labelling] = distribution.get(labelling, 0.0) + float(np.prod(probs[np.arange(length), path]))
    return distribution


def random_log_probs(rng: np.random.Generator, shape: tuple[int, ...], sharpness: float = 2.0) -> np.ndarray:
    return torch.from_numpy(rng.normal(0, sharpness, size=shape)).float().log_softmax(-1).numpy()
