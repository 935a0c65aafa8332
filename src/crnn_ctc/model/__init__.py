"""The CRNN network and its named variants."""

from .config import ARCHITECTURES, Layer, ModelConfig
from .crnn import CRNN


def build_model(config: ModelConfig) -> CRNN:
    """A freshly initialised network for ``config``."""
    return CRNN(config)


__all__ = ["ARCHITECTURES", "CRNN", "Layer", "ModelConfig", "build_model"]
