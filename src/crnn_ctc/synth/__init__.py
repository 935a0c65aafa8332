"""Synthetic word images: fonts, text sources, rendering, augmentation and backgrounds.

Knows nothing of the model: it makes (image, label) pairs that any reader of datasets takes.
"""

from .config import PRESETS, SynthConfig, preset
from .fonts import FontError, FontFace, FontWarning, SelectedFont, find_fonts, select_fonts
from .generator import SynthDataset, SynthGenerator, SynthSample

__all__ = [
    "PRESETS",
    "FontError",
    "FontFace",
    "FontWarning",
    "SelectedFont",
    "SynthConfig",
    "SynthDataset",
    "SynthGenerator",
    "SynthSample",
    "find_fonts",
    "preset",
    "select_fonts",
]
