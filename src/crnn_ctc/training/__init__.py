"""Training: configuration, data sources and mixing, the loop, checkpoints, DDP and logs.

``TrainConfig`` and ``read_config_file`` import nothing heavy (``crnn train --help`` builds on them);
``train`` and the rest need PyTorch (the ``train`` extra) and import it on first use, with an error
naming ``pip install 'crnn-ctc[train]'`` where it is missing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..config_base import read_config_file
from ..extras import extra_imports
from .config import TrainConfig

if TYPE_CHECKING:
    from .loop import TrainingError, TrainResult, train

__all__ = ["TrainConfig", "TrainResult", "TrainingError", "read_config_file", "train"]


def __getattr__(name: str) -> Any:
    if name in ("TrainResult", "TrainingError", "train"):
        with extra_imports("train", "training"):
            from . import loop

        return getattr(loop, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
