"""The CRNN network and its named variants.

``ModelConfig`` and ``ARCHITECTURES`` are plain data; ``CRNN`` and ``build_model`` import PyTorch on
first use, so that reading a model file's config (an ONNX engine needs no more) never does; without
PyTorch installed they say which extra brings it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..extras import extra_imports
from .config import ARCHITECTURES, Layer, ModelConfig

if TYPE_CHECKING:
    from .crnn import CRNN


def build_model(config: ModelConfig) -> CRNN:
    """A freshly initialised network for ``config``."""
    with extra_imports("train", "the PyTorch network (training, export, --backend torch)"):
        from .crnn import CRNN

    return CRNN(config)


def __getattr__(name: str) -> Any:
    if name == "CRNN":
        with extra_imports("train", "the PyTorch network (training, export, --backend torch)"):
            from .crnn import CRNN

        return CRNN
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ARCHITECTURES", "CRNN", "Layer", "ModelConfig", "build_model"]
