"""Every knob of the synthetic page generator (``synth/pages.py``), in one validated dataclass with defaults.

Sizes in pixels are for the default page, an A4 sheet scanned at 150 dpi (1240 x 1754); margins and
gaps are fractions of the page width, spacings are in em of the body font. Each effect has a
probability ``p_*`` and, where it has a strength, a ``(low, high)`` range drawn uniformly.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar

from ..config_base import ConfigBase
from ..errors import ConfigError
from .fonts import FONT_SPLITS


@dataclass(frozen=True)
class PageSynthConfig(ConfigBase):
    """What a synthetic page holds and how it is scanned; ``validate`` runs on construction."""

    config_kind: ClassVar[str] = "page config fields"

    # -- the sheet --------------------------------------------------------------------------------
    width: int = 1240
    height: int = 1754
    margin_range: tuple[float, float] = (0.05, 0.09)  # each side, in page widths
    columns_range: tuple[int, int] = (1, 3)
    column_gap_range: tuple[float, float] = (0.025, 0.05)  # in page widths
    min_column_em: float = 10.0  # fewer columns where a column would hold less than this many em

    # -- text ---------------------------------------------------------------------------------------
    body_size_range: tuple[int, int] = (18, 30)  # pixels per em: 9 to 14 points at 150 dpi
    line_spacing_range: tuple[float, float] = (1.15, 1.6)  # baseline to baseline, in em
    paragraphs_range: tuple[int, int] = (3, 8)  # per column; the text flows from column to column
    paragraph_lines_range: tuple[int, int] = (2, 14)  # the last one ragged
    paragraph_gap_range: tuple[float, float] = (0.3, 1.2)  # extra space between paragraphs, in em
    p_indent: float = 0.4  # a page whose paragraphs start with an indented line
    p_headline: float = 0.6
    headline_size_range: tuple[int, int] = (36, 64)
    headline_words_range: tuple[int, int] = (2, 9)

    # -- figures ----------------------------------------------------------------------------------
    p_picture: float = 0.4  # one picture in one column; the text skips the band it takes
    p_photo: float = 0.7  # a picture is a crop of a photograph (else a procedural texture)
    picture_height_range: tuple[float, float] = (0.1, 0.3)  # in page heights
    p_rule: float = 0.3  # a rule under the headline, and (half as often) between paragraphs

    # -- paper and scan -----------------------------------------------------------------------------
    p_colour: float = 0.3  # an RGB page (tinted paper, colour pictures); otherwise grey ("L")
    p_paper: float = 0.5  # paper with tint, grain or uneven shading (backgrounds.paper); otherwise white
    p_blur: float = 0.3
    blur_range: tuple[float, float] = (0.3, 1.0)  # Gaussian radius in pixels
    p_noise: float = 0.35
    noise_range: tuple[float, float] = (2.0, 10.0)  # Gaussian sigma, in 0..255 units
    p_jpeg: float = 0.35
    jpeg_quality_range: tuple[int, int] = (40, 90)
    p_binarize: float = 0.1  # a scanner's black and white: a noisy threshold between ink and paper
    skew_degrees: float = 0.0  # the page turned by an angle uniform in [-x, x] (ground truth stays unrotated)

    # -- sources ----------------------------------------------------------------------------------
    font_split: str = "all"  # fonts.FONT_SPLITS: the fixed split by family of the word generator
    fonts: str | None = None  # a folder of font files or a manifest .tsv (default: what `make fonts` wrote)
    words: str | None = None  # a word list (default: wordfreq's English words)
    vocabulary_size: int = 30_000

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ConfigError`` naming the field and what is allowed."""
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name.startswith("p_") and not (isinstance(value, int | float) and 0.0 <= value <= 1.0):
                raise ConfigError(f"page config {item.name} is a probability and must lie in [0, 1], got {value!r}")
            pair = isinstance(value, tuple | list) and len(value) == 2 and 0 <= value[0] <= value[1]
            if item.name.endswith("_range") and not pair:
                raise ConfigError(f"page config {item.name} must be a (low, high) pair with 0 <= low <= high, "
                                  f"got {value!r}")  # fmt: skip
        if not (256 <= self.width <= 8192 and 256 <= self.height <= 8192):
            raise ConfigError(f"page size must lie in 256..8192 pixels each way, got {self.width}x{self.height}")
        if not 1 <= self.columns_range[0] <= self.columns_range[1] <= 6:
            raise ConfigError(f"columns_range must lie in 1..6, got {self.columns_range}")
        if self.margin_range[1] >= 0.3 or self.column_gap_range[1] >= 0.2:
            raise ConfigError("margin_range must stay below 0.3 and column_gap_range below 0.2 page widths")
        if self.body_size_range[0] < 8 or self.headline_size_range[0] < 8:
            raise ConfigError("body_size_range and headline_size_range must start at 8 pixels or more")
        if self.line_spacing_range[0] < 1.0:
            raise ConfigError(f"line_spacing_range must start at 1.0 em or more, got {self.line_spacing_range}")
        for name in ("paragraphs_range", "paragraph_lines_range", "headline_words_range"):
            if getattr(self, name)[0] < 1:
                raise ConfigError(f"page config {name} must start at 1 or more")
        if self.picture_height_range[1] > 0.8:
            raise ConfigError(f"picture_height_range must stay at or below 0.8, got {self.picture_height_range}")
        if not 1 <= self.jpeg_quality_range[0] <= self.jpeg_quality_range[1] <= 100:
            raise ConfigError(f"jpeg_quality_range must lie in 1..100, got {self.jpeg_quality_range}")
        if not 0.0 <= self.skew_degrees <= 20.0:
            raise ConfigError(f"skew_degrees must lie in [0, 20], got {self.skew_degrees}")
        if self.font_split not in FONT_SPLITS:
            raise ConfigError(f"font_split must be one of {', '.join(FONT_SPLITS)}, got {self.font_split!r}")
        if self.vocabulary_size < 1 or self.min_column_em <= 0:
            raise ConfigError("vocabulary_size and min_column_em must be positive")

    def with_changes(self, **changes: Any) -> PageSynthConfig:
        return replace(self, **changes)
