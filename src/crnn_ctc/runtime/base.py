"""The interface every inference engine offers, so the API can swap them."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Engine(Protocol):
    """Runs the network on a preprocessed, padded batch; nothing before or after that."""

    name: str

    def run(self, batch: np.ndarray, widths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, C, H, W) float32 batch and (N,) true widths -> (N, T, classes) log-probs and (N,) valid steps."""
        ...
