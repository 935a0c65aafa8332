"""crnn-ctc: text recognition in cropped word and line images with CRNN + CTC.

The errors and the version are imported with the package; the rest on first use, so that
``crnn --help`` (and any import of a submodule) pays only for what it touches.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import CharsetError, ConfigError, CrnnError, ImageError, ModelFileError

if TYPE_CHECKING:
    from .api import Prediction, Recognizer
    from .charset import Charset
    from .decode import DecoderOptions
    from .preprocess import PreprocessConfig

# Public name -> the module that defines it.
_LAZY = {
    "Charset": ".charset",
    "DecoderOptions": ".decode",
    "Prediction": ".api",
    "PreprocessConfig": ".preprocess",
    "Recognizer": ".api",
}

__all__ = [
    "Charset",
    "CharsetError",
    "ConfigError",
    "CrnnError",
    "DecoderOptions",
    "ImageError",
    "ModelFileError",
    "Prediction",
    "PreprocessConfig",
    "Recognizer",
    "__version__",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name], __name__), name)
        globals()[name] = value  # looked up once
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
