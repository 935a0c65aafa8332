"""An engine whose log-probabilities are divided by the model's calibration temperature."""

from __future__ import annotations

from typing import Any

import numpy as np


def temper(log_probs: np.ndarray, temperature: float) -> np.ndarray:
    """``log_softmax(log_probs / T)`` over the last axis, in float32 (the engines' dtype)."""
    if temperature == 1.0:
        return log_probs
    scaled = log_probs.astype(np.float64) / temperature
    scaled -= np.logaddexp.reduce(scaled, axis=-1, keepdims=True)
    return scaled.astype(np.float32)


class TemperedEngine:
    """Wraps any ``Engine``; everything but ``run`` is the wrapped engine's (name, session, ...)."""

    def __init__(self, inner: Any, temperature: float) -> None:
        self.inner = inner
        self.temperature = temperature

    def run(self, images: np.ndarray, widths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        log_probs, lengths = self.inner.run(images, widths)
        return temper(log_probs, self.temperature), lengths

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
