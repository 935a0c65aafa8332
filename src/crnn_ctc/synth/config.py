"""Every knob of the synthetic-data generator, in one dataclass with defaults.

Each effect has a probability (``p_*``, the chance it is applied to a sample) and, where it has
a strength, a ``(low, high)`` range drawn uniformly. Sizes are relative to the height of the text
as rendered, so the same config works at any output ``height``. Presets name a few settings that
``docs/synthetic_data.md`` compares.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any, ClassVar

from ..config_base import ConfigBase
from ..errors import ConfigError

TEXT_KINDS = ("word", "random", "number", "price", "date", "code", "punctuated", "line")
MIN_SPACE_EM = 0.15  # narrowest word space (in em) a sample may have: a narrower one reads as none
FONT_CATEGORIES = ("sans-serif", "serif", "monospace", "handwriting", "display")
CASES = ("lower", "upper", "title")


@dataclass(frozen=True)
class SynthConfig(ConfigBase):
    """What the generator draws, and how often; ``validate`` runs on construction."""

    config_kind: ClassVar[str] = "synth config fields"

    height: int = 32  # output image height; width follows the text

    # -- text -------------------------------------------------------------------------------------
    # Relative weights of the kinds of text (see text.py): dictionary words dominate, the rest keep
    # the model from learning a dictionary only.
    text_mix: dict[str, float] = field(
        default_factory=lambda: {
            "word": 0.72, "random": 0.06, "number": 0.06, "price": 0.03, "date": 0.03, "code": 0.05,
            "punctuated": 0.05,
        }
    )  # fmt: skip
    # Case of words, as real text shows it (a charset without capitals still gets capitals drawn,
    # labelled in lower case).
    case_mix: dict[str, float] = field(default_factory=lambda: {"lower": 0.45, "upper": 0.3, "title": 0.25})
    vocabulary_size: int = 100_000  # most frequent words of the list that are kept
    word_frequency_power: float = 0.35  # sampling weight = frequency ** power (0: uniform, 1: as in text)
    max_chars: int = 24  # of a word-like text (every kind but "line")
    # A "line" is 2 to 10 words in sentence-like order with numbers, prices, dates and codes among
    # them (text.py), cut at a word boundary to at most ``max_line_chars``.
    line_words_range: tuple[int, int] = (2, 10)
    max_line_chars: int = 64
    # Chance that a line ends in a word broken by a hyphen (``Ludwi-``), and, independently, that it
    # starts with such a word's rest (``ig``), as justified book and magazine columns print them.
    p_line_hyphen: float = 0.0

    # -- fonts ------------------------------------------------------------------------------------
    # Chance of a font category; within one, families are equally likely, then their files.
    font_mix: dict[str, float] = field(
        default_factory=lambda: {"sans-serif": 0.34, "serif": 0.22, "monospace": 0.1, "handwriting": 0.12,
                                 "display": 0.22}
    )  # fmt: skip
    text_height_range: tuple[float, float] = (1.0, 2.2)  # rendered em size in output heights (then resized)
    p_fake_bold: float = 0.08  # thicken strokes with an outline in the text colour
    p_spacing: float = 0.25  # extra character spacing (negative: tighter)
    spacing_range: tuple[float, float] = (-0.04, 0.35)  # in em
    # Justified text: a line's word spaces all drawn at one width, as typesetting stretches or shrinks
    # them to fill the measure (a typewriter face's too); otherwise the font's own space.
    p_word_space: float = 0.0
    word_space_range: tuple[float, float] = (0.2, 0.9)  # in em

    # -- colour and decoration --------------------------------------------------------------------
    min_contrast: float = 0.28  # luminance difference between text and the background under it (0..1)
    p_border: float = 0.12  # outline of another colour around the glyphs
    border_range: tuple[float, float] = (0.03, 0.08)  # outline width in em
    p_shadow: float = 0.12
    shadow_offset_range: tuple[float, float] = (0.02, 0.08)  # in em, right and down
    p_underline: float = 0.04  # a line under or through the text (never crossing into another glyph row)
    p_dark_text: float = 0.0  # ink: the text is near-black (or dark grey/blue) whatever the background

    # -- geometry ---------------------------------------------------------------------------------
    p_rotation: float = 0.35
    rotation_degrees: float = 4.0  # uniform in [-x, x]
    p_perspective: float = 0.3
    perspective_strength: float = 0.1  # corner jitter, in text heights
    p_baseline_jitter: float = 0.0  # each character moved up or down a little, as in a typed or poor scan
    baseline_jitter_range: tuple[float, float] = (0.01, 0.04)  # in em
    # Chance that one letter inside a word is lowered or raised and tucked under its neighbours, as
    # logos set it (TeX's lowered E, LaTeX's raised A): still that letter, only displaced.
    p_shifted_letter: float = 0.0
    shifted_letter_range: tuple[float, float] = (0.12, 0.28)  # how far, in em (lowered two times in three)
    letter_tuck_range: tuple[float, float] = (0.0, 0.1)  # how much closer a lowered one's neighbours come, in em
    p_curve: float = 0.08
    curve_amount: float = 0.18  # arc height, in text heights
    p_shear: float = 0.12  # slant, beyond what italic fonts give
    shear_amount: float = 0.25  # uniform in [-x, x]
    # The finished crop's width times a factor, as condensed and extended faces, and signs squeezed or
    # stretched to fit, draw the same letters: the label is unchanged. Drawn at the plan, so width
    # estimates (batch planning) know it.
    p_width_scale: float = 0.0
    width_scale_range: tuple[float, float] = (0.7, 1.2)

    # -- background -------------------------------------------------------------------------------
    p_natural: float = 0.45  # a crop of a natural image (scikit-image's sample images), toned down
    p_texture: float = 0.45  # procedural texture: gradient, cloudy noise, stripes, grain
    natural_contrast_range: tuple[float, float] = (0.15, 0.7)  # how much of the crop's contrast is kept

    # -- cropping ---------------------------------------------------------------------------------
    p_loose_crop: float = 0.6  # margins around the text's box; otherwise a tight crop (0-2 px)
    loose_margin_range: tuple[float, float] = (0.02, 0.35)  # each side, in text heights
    # Other text at the crop's edges, as real word crops show it: a neighbouring word on the same
    # baseline, cut through its nearest glyph, or the foot or head of the line above or below.
    # Never in the label, and never a whole glyph (render.py).
    p_context: float = 0.0
    context_gap_range: tuple[float, float] = (0.35, 0.8)  # space before a neighbouring word, in em
    context_reveal_range: tuple[float, float] = (0.1, 0.3)  # a neighbour's nearest glyph shown, as part of its ink
    context_line_reveal_range: tuple[float, float] = (0.05, 0.18)  # the line above or below shown, in em

    # -- degradation ------------------------------------------------------------------------------
    p_blur: float = 0.3
    blur_range: tuple[float, float] = (0.3, 1.1)  # Gaussian radius at output height, in pixels
    p_motion_blur: float = 0.05
    p_noise: float = 0.35
    noise_range: tuple[float, float] = (2.0, 12.0)  # Gaussian sigma, in 0..255 units
    p_jpeg: float = 0.35
    jpeg_quality_range: tuple[int, int] = (15, 75)
    p_low_resolution: float = 0.2  # render small then upscale: soft, blocky glyphs
    low_resolution_range: tuple[float, float] = (0.35, 0.8)  # the small height, in output heights
    p_grayscale: float = 0.1
    p_invert: float = 0.0  # swap text and background colours after the contrast check
    p_binarize: float = 0.0  # a scanner's black and white: a noisy threshold, after everything but JPEG

    def __post_init__(self) -> None:
        self.validate()

    # -- checks ----------------------------------------------------------------------------------
    def validate(self) -> None:
        """Raise ``ConfigError`` naming the field and what is allowed."""
        if not 8 <= self.height <= 512:
            raise ConfigError(f"synth height must be in 8..512, got {self.height}")
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name.startswith("p_") and not (isinstance(value, int | float) and 0.0 <= value <= 1.0):
                raise ConfigError(f"synth config {item.name} is a probability and must lie in [0, 1], got {value!r}")
            ordered_pair = isinstance(value, tuple | list) and len(value) == 2 and value[0] <= value[1]
            if item.name.endswith("_range") and not ordered_pair:
                raise ConfigError(f"synth config {item.name} must be a (low, high) pair with low <= high")
        _check_weights("text_mix", self.text_mix, TEXT_KINDS)
        _check_weights("case_mix", self.case_mix, CASES)
        _check_weights("font_mix", self.font_mix, FONT_CATEGORIES)
        if self.vocabulary_size < 1 or self.max_chars < 1 or self.max_line_chars < 1:
            raise ConfigError("synth config vocabulary_size, max_chars and max_line_chars must be at least 1")
        if self.line_words_range[0] < 1:
            raise ConfigError(f"line_words_range must start at 1 or more, got {self.line_words_range}")
        if self.word_frequency_power < 0:
            raise ConfigError(f"word_frequency_power must be >= 0, got {self.word_frequency_power}")
        if not 0.0 <= self.min_contrast <= 0.9:
            raise ConfigError(f"min_contrast must lie in [0, 0.9], got {self.min_contrast}")
        if self.text_height_range[0] <= 0 or self.low_resolution_range[0] <= 0:
            raise ConfigError("text_height_range and low_resolution_range must be positive")
        # More than this of a neighbour's glyph, or of the line above or below, could be read: the label would lie.
        if not (self.context_reveal_range[0] > 0 and self.context_reveal_range[1] <= 0.6):
            raise ConfigError(f"context_reveal_range must lie in (0, 0.6], got {self.context_reveal_range}")
        if not (self.context_line_reveal_range[0] > 0 and self.context_line_reveal_range[1] <= 0.4):
            raise ConfigError(
                f"context_line_reveal_range must lie in (0, 0.4] em, got {self.context_line_reveal_range}"
            )
        if self.word_space_range[0] < MIN_SPACE_EM:  # a narrower space reads as none: the label would lie
            raise ConfigError(f"word_space_range must start at {MIN_SPACE_EM} em or more, got {self.word_space_range}")
        # Further, a shifted letter could sit on the next line's; closer, it could cover its neighbours.
        if self.shifted_letter_range[1] > 0.4 or self.letter_tuck_range[1] > 0.2:
            raise ConfigError(
                f"shifted_letter_range must end at 0.4 em or less and letter_tuck_range at 0.2 em or less, got "
                f"{self.shifted_letter_range} and {self.letter_tuck_range}"
            )
        if not 0.5 <= self.width_scale_range[0] <= self.width_scale_range[1] <= 2.0:
            # Narrower, thin letters get too few CTC steps to be told apart: the model would learn to drop them.
            raise ConfigError(f"width_scale_range must lie in [0.5, 2.0], got {self.width_scale_range}")
        if self.context_gap_range[0] < 0.25:
            raise ConfigError(f"context_gap_range must start at 0.25 em or more, got {self.context_gap_range}")
        if not 1 <= self.jpeg_quality_range[0] <= self.jpeg_quality_range[1] <= 100:
            raise ConfigError(f"jpeg_quality_range must lie in 1..100, got {self.jpeg_quality_range}")

    # -- conversion ------------------------------------------------------------------------------
    @classmethod
    def base_for_file(cls, values: dict[str, Any]) -> SynthConfig:
        """A file's fields change the defaults, or the preset its ``"preset"`` key names."""
        return preset(values.pop("preset", "default"))

    def with_changes(self, **changes: Any) -> SynthConfig:
        return replace(self, **changes)


def _check_weights(name: str, weights: dict[str, float], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(weights) - set(allowed))
    if unknown:
        raise ConfigError(f"synth config {name} has unknown key(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")
    if any(not isinstance(v, int | float) or v < 0 for v in weights.values()) or sum(weights.values()) <= 0:
        raise ConfigError(f"synth config {name} weights must be >= 0 with a positive sum, got {weights}")


def preset(name: str) -> SynthConfig:
    """``default``; ``clean`` (no geometry, background or degradation: a baseline to compare with);
    ``heavy`` (every effect twice as likely and stronger); ``document`` (printed lines: dark ink on white
    or paper, text fonts, scan degradations); ``scene-words`` (the default with other text at the crop's
    edges in 30% of samples); ``scene-lines`` (short lines with the default's scene looks)."""
    base = SynthConfig()
    if name == "default":
        return base
    probabilities = [item.name for item in fields(SynthConfig) if item.name.startswith("p_")]
    if name == "clean":
        return base.with_changes(**{**dict.fromkeys(probabilities, 0.0), "p_loose_crop": 0.5})
    if name == "heavy":
        doubled = {name: min(1.0, 2 * getattr(base, name)) for name in probabilities}
        changes = {
            "p_invert": 0.0, "p_grayscale": base.p_grayscale, "rotation_degrees": 7.0, "perspective_strength": 0.16,
            "curve_amount": 0.25, "blur_range": (0.4, 1.5), "noise_range": (3.0, 18.0), "jpeg_quality_range": (10, 60),
            "min_contrast": 0.22,
        }  # fmt: skip
        return base.with_changes(**{**doubled, **changes})
    if name == "document":
        return base.with_changes(
            text_mix={"line": 0.8, "word": 0.1, "number": 0.03, "price": 0.02, "date": 0.02, "code": 0.03},
            case_mix={"lower": 0.6, "upper": 0.15, "title": 0.25},
            font_mix={"serif": 0.38, "sans-serif": 0.38, "monospace": 0.2, "display": 0.04, "handwriting": 0.0},
            text_height_range=(1.0, 1.8), p_fake_bold=0.05, p_spacing=0.1, spacing_range=(-0.02, 0.12),
            min_contrast=0.45, p_border=0.0, p_shadow=0.0, p_underline=0.02, p_dark_text=0.9,
            p_rotation=0.4, rotation_degrees=1.0, p_perspective=0.1, perspective_strength=0.03, p_curve=0.0,
            p_shear=0.0, p_baseline_jitter=0.25, p_natural=0.0, p_texture=0.35, p_loose_crop=0.7,
            loose_margin_range=(0.02, 0.3), p_blur=0.3, blur_range=(0.3, 0.9), p_motion_blur=0.0, p_noise=0.3,
            noise_range=(2.0, 10.0), p_jpeg=0.3, jpeg_quality_range=(30, 90), p_low_resolution=0.25,
            low_resolution_range=(0.5, 0.9), p_grayscale=0.5, p_binarize=0.2,
        )  # fmt: skip
    if name == "scene-words":
        return base.with_changes(p_context=0.3)
    if name == "scene-lines":
        return base.with_changes(text_mix={"line": 0.85, "word": 0.15}, line_words_range=(2, 6), max_line_chars=40)
    raise ConfigError(f"unknown synth preset {name!r}; known: {', '.join(PRESETS)}")


PRESETS = ("default", "clean", "heavy", "document", "scene-words", "scene-lines")
