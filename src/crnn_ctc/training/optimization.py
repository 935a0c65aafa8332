"""How weights move: the optimizer a run names and its learning-rate schedule (warm-up, then cosine,
one-cycle or constant)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from .config import TrainConfig


def learning_rate_schedule(config: TrainConfig, total_steps: int) -> Callable[[int], float]:
    """Learning-rate multiplier per step: linear warm-up, then cosine to zero (or constant)."""
    warmup = min(config.warmup_steps, max(total_steps // 10, 1))
    if config.schedule == "onecycle":
        warmup = max(int(0.3 * total_steps), 1)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if config.schedule == "constant":
            return 1.0
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def make_optimizer(config: TrainConfig, parameters: Any) -> torch.optim.Optimizer:
    """``config.optimizer`` over ``parameters``: Adam (the default), AdamW or the paper's Adadelta."""
    lr = config.learning_rate
    if config.optimizer == "adadelta":  # the paper's and the seed's choice (rho 0.9 in the paper)
        return torch.optim.Adadelta(parameters, lr=lr, rho=0.9, weight_decay=config.weight_decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(parameters, lr=lr, weight_decay=config.weight_decay)
    return torch.optim.Adam(parameters, lr=lr, weight_decay=config.weight_decay)
