"""Inference engines behind one interface (``Engine``): the network only, never pre/post-processing."""

from __future__ import annotations

import torch

from ..bundle import ModelBundle
from .base import Engine
from .torch_engine import TorchEngine, resolve_device

BACKENDS = ("auto", "torch")


def create_engine(bundle: ModelBundle, backend: str = "auto", device: str = "auto") -> Engine:
    """The engine named ``backend`` for ``bundle``; ``auto`` picks the fastest one installed."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; known: {', '.join(BACKENDS)}")
    return TorchEngine(bundle.model, device)


def set_threads(threads: int | None) -> None:
    """Limit the CPU threads of every engine (process-wide, as PyTorch's setting is)."""
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        torch.set_num_threads(threads)


__all__ = ["BACKENDS", "Engine", "TorchEngine", "create_engine", "resolve_device", "set_threads"]
