"""crnn-ctc: text recognition in cropped word and line images with CRNN + CTC."""

from ._version import __version__
from .api import Prediction, Recognizer
from .charset import Charset
from .decode import DecoderOptions
from .errors import CharsetError, ConfigError, CrnnError, ImageError, ModelFileError
from .preprocess import PreprocessConfig

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
