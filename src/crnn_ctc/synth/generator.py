"""Seeded synthetic samples: sample ``i`` of seed ``s`` is the same image on any machine, in any
worker, in any order, because every random choice for it comes from a generator seeded by (s, i).

``SynthGenerator`` makes samples; ``SynthDataset`` is a map-style dataset over a range of sample
indices (a torch ``DataLoader`` can shard it across worker processes) that reads like any other
sample source: ``(encoded image, label)`` pairs, plus sizes estimated without rendering.
"""

from __future__ import annotations

import io
import os
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..charset import Charset
from ..errors import ConfigError
from .config import MIN_SPACE_EM, SynthConfig
from .fonts import FontError, SelectedFont, find_fonts, font_split, label_for, select_fonts, uncovered_symbols
from .render import Context, Plan, render
from .text import TextSource, WordList, load_words

IMAGE_FORMATS = ("jpeg", "png")
JPEG_QUALITY = 95  # as `crnn dataset create` stores images


@dataclass(frozen=True)
class SynthSample:
    """A rendered sample and how it was made (for inspection and tests)."""

    image: Image.Image
    label: str
    text: str  # what was drawn; the label is this, case-folded where the charset has one case
    font: SelectedFont
    size: int


class SynthGenerator:
    """Renders sample ``index`` of ``seed`` from ``fonts`` (already checked against ``charset``).

    ``sample(index)`` is a pure function of (settings, fonts, words, seed, index): the same image and
    label on every run and in any worker. Build one with ``SynthGenerator.create``.

    Example::

        from crnn_ctc.synth.config import preset
        from crnn_ctc.synth.generator import SynthGenerator

        generator = SynthGenerator.create(preset("document"), charset="printable+space", seed=7)
        image, label = generator.sample(0)                # a PIL image and the exact text drawn
        image.save("line.png")
    """

    def __init__(
        self, config: SynthConfig, charset: Charset, fonts: Sequence[SelectedFont], words: WordList, seed: int = 0
    ) -> None:
        if not fonts:
            raise FontError(f"no font draws enough of the charset {charset!r}; see the warnings above")
        self.config = config
        self.charset = charset
        self.fonts = tuple(fonts)
        self.seed = seed
        self.text_source = TextSource(config, words)
        # Category -> families -> faces: families are equally likely within a category, so a family
        # shipped in 18 weights is not 18 times as frequent as one shipped in one.
        families: dict[str, dict[str, list[SelectedFont]]] = defaultdict(lambda: defaultdict(list))
        for font in self.fonts:
            families[font.face.category][font.face.family].append(font)
        self._categories = [c for c, w in config.font_mix.items() if w > 0 and c in families] or sorted(families)
        self._category_weights = [config.font_mix.get(c, 1.0) or 1.0 for c in self._categories]
        self._families = {c: [faces for _, faces in sorted(families[c].items())] for c in self._categories}

    @classmethod
    def create(
        cls,
        config: SynthConfig | None = None,
        charset: str | Path | Charset = "lower-alnum",
        fonts: str | Path | Sequence[SelectedFont] | None = None,
        words: str | Path | None = None,
        seed: int = 0,
        workers: int = 0,
        split: str = "all",
    ) -> SynthGenerator:
        """Find and check fonts (a folder, a manifest, or the default set) and load the word list.

        The first check of the default set takes about half a minute on two cores (``workers`` 0:
        all cores); later runs read it from the cache in under a second.
        """
        config = config or SynthConfig()
        charset = Charset.resolve(charset)
        if fonts is None or isinstance(fonts, str | Path):
            fonts = select_fonts(find_fonts(fonts), charset, workers=workers or os.cpu_count() or 1)
        fonts = font_split(fonts, split)
        word_list = load_words(words, config.vocabulary_size, config.word_frequency_power)
        return cls(config, charset, fonts, word_list, seed)

    def uncovered(self) -> list[str]:
        """Charset symbols no font draws: they never appear in a label."""
        return uncovered_symbols(self.fonts, self.charset)

    def _random(self, index: int) -> random.Random:
        return random.Random(f"crnn-synth:{self.seed}:{index}")

    def _plan(self, rng: random.Random) -> Plan:
        config = self.config
        category = rng.choices(self._categories, weights=self._category_weights)[0]
        family = self._families[category][rng.randrange(len(self._families[category]))]
        font = family[rng.randrange(len(family))]
        allowed = font.allowed
        if font.check.advances.get(" ", 0.0) < MIN_SPACE_EM:
            allowed = allowed - {" "}  # a space this narrow reads as no space: the label would lie
        text = self.text_source.text(rng, allowed)
        size = max(8, round(config.height * rng.uniform(*config.text_height_range)))
        spacing = rng.uniform(*config.spacing_range) * size if rng.random() < config.p_spacing else 0.0
        fake_bold = max(1, round(size * 0.025)) if rng.random() < config.p_fake_bold else 0
        # Drawn only where the preset asks, so older presets keep their images.
        word_space = 0.0
        if config.p_word_space and " " in text and rng.random() < config.p_word_space:
            word_space = rng.uniform(*config.word_space_range)
        context = (
            self._context(rng, allowed, spacing / size)
            if config.p_context and rng.random() < config.p_context
            else None
        )
        width_scale = 1.0
        if config.p_width_scale and rng.random() < config.p_width_scale:
            width_scale = rng.uniform(*config.width_scale_range)
        return Plan(
            text, label_for(text, self.charset), font, size, spacing, fake_bold, context, word_space, width_scale
        )

    def _context(self, rng: random.Random, allowed: frozenset[str], letter_spacing: float) -> Context:
        """Neighbouring words and lines for a plan (render.Context): at least one of the four."""
        config = self.config
        letters = allowed - {" "}
        sides = [rng.random() < chance for chance in (0.5, 0.5, 0.3, 0.3)]  # left, right, above, below
        if not any(sides):
            sides[rng.randrange(2)] = True

        def word() -> str:
            return self.text_source.text(rng, letters)

        def line() -> str:
            return " ".join(word() for _ in range(6))

        left, right = (word() if side else "" for side in sides[:2])
        above, below = (line() if side else "" for side in sides[2:])
        return Context(
            left, right, above, below,
            # A word space clearly wider than the text's own letter spacing.
            gap=rng.uniform(*config.context_gap_range) + 2 * max(0.0, letter_spacing),
            leading=rng.uniform(1.0, 1.3),
            reveal=(rng.uniform(*config.context_reveal_range), rng.uniform(*config.context_reveal_range),
                    rng.uniform(*config.context_line_reveal_range), rng.uniform(*config.context_line_reveal_range)),
            phase=rng.uniform(0.0, 3.0),
        )  # fmt: skip

    def plan(self, index: int) -> Plan:
        """The text, font and size of sample ``index``, without drawing it."""
        return self._plan(self._random(index))

    def estimated_width(self, index: int) -> int:
        """Roughly the width of sample ``index`` at ``config.height`` (from font metrics; no rendering)."""
        plan = self.plan(index)
        check = plan.font.check
        advance = sum(plan.advance_em(char) for char in plan.text) + plan.spacing / plan.size * len(plan.text)
        if plan.context is not None:  # what the crop shows of neighbouring words: a word space and part of a glyph
            advance += (plan.context.gap + 0.2) * (bool(plan.context.left) + bool(plan.context.right))
        ink_height = 0.88 * (check.ascent + check.descent)  # a word's ink and margins, on average
        return max(4, round(self.config.height * plan.width_scale * (advance + 0.2) / max(ink_height, 0.3)))

    def sample_info(self, index: int) -> SynthSample:
        rng = self._random(index)
        plan = self._plan(rng)
        np_rng = np.random.default_rng(rng.getrandbits(64))
        image = render(plan, rng, np_rng, self.config)
        return SynthSample(image, plan.label, plan.text, plan.font, plan.size)

    def sample(self, index: int) -> tuple[Image.Image, str]:
        """The RGB image (height ``config.height``) and label of sample ``index``."""
        info = self.sample_info(index)
        return info.image, info.label


def encode_image(image: Image.Image, image_format: str = "jpeg") -> bytes:
    buffer = io.BytesIO()
    if image_format == "png":
        image.save(buffer, format="PNG", compress_level=1)
    else:
        image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


class SynthDataset:
    """Samples ``start .. start + length - 1`` of a generator, as a map-style dataset.

    ``image_format`` ``"jpeg"``/``"png"`` gives encoded bytes (like an LMDB source); ``None`` gives the
    PIL image itself (cheaper when training on the fly). Make a new one per epoch with another
    ``start`` for fresh images every epoch.
    """

    def __init__(
        self, generator: SynthGenerator, length: int, start: int = 0, image_format: str | None = "jpeg"
    ) -> None:
        if length < 0 or start < 0:
            raise ConfigError(f"length and start must be >= 0, got {length} and {start}")
        if image_format is not None and image_format not in IMAGE_FORMATS:
            raise ConfigError(f"image_format must be one of {', '.join(IMAGE_FORMATS)} or None, got {image_format!r}")
        self.generator = generator
        self.length = length
        self.start = start
        self.image_format = image_format
        self.path = Path(f"synthetic-seed{generator.seed}")

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[bytes | Image.Image, str]:
        if not 0 <= index < self.length:
            raise IndexError(f"sample {index} out of range for {self.length} synthetic samples")
        image, label = self.generator.sample(self.start + index)
        return (encode_image(image, self.image_format) if self.image_format else image), label

    def estimated_width(self, index: int) -> int:
        return self.generator.estimated_width(self.start + index)

    def sizes(self) -> list[tuple[int, int]]:
        """Estimated (width, height) of every sample, for width bucketing (about 0.1 ms each)."""
        height = self.generator.config.height
        return [(self.estimated_width(index), height) for index in range(self.length)]
