"""An exact, streaming train/validation split."""

from __future__ import annotations

import math


class SplitAssigner:
    """Sends the k-th accepted sample to validation when round(k * fraction) grows.

    After any number n of samples, validation holds exactly round(n * fraction) of them (halves
    rounded up) and train the rest, none dropped, without knowing n in advance: samples can be
    written as they are checked. Over a shuffled order the validation set is a uniform random subset.
    """

    def __init__(self, fraction: float) -> None:
        if not 0.0 <= fraction < 1.0:
            raise ValueError(f"the validation fraction must lie in [0, 1), got {fraction}")
        self.fraction = fraction
        self.count = 0

    @staticmethod
    def validation_size(total: int, fraction: float) -> int:
        return math.floor(total * fraction + 0.5)

    def next(self) -> str:
        self.count += 1
        grew = self.validation_size(self.count, self.fraction) > self.validation_size(self.count - 1, self.fraction)
        return "validation" if grew else "train"
