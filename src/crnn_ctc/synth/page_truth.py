"""The ground truth of a synthetic page (``synth/pages.py``): its lines with their text and tight ink boxes,
blocks, figures, fonts and skew, and the JSON they are written as (``"format": "crnn-synth-page/1"``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from ..errors import DatasetError
from ..page.types import Box

CHARSET = "printable+space"  # every symbol a page's text may hold
FORMAT = "crnn-synth-page/1"  # the "format" of a page's JSON


@dataclass(frozen=True)
class PageFont:
    """A font a page draws with: ``role`` is ``body`` or ``headline``; ``size`` in pixels per em."""

    role: str
    family: str
    style: str
    path: str
    size: int


@dataclass(frozen=True)
class SynthBlock:
    """A paragraph (or the piece of one in a column), or the headline: its box and its lines' indices."""

    kind: str  # "headline" or "paragraph"
    box: Box
    lines: tuple[int, ...]


@dataclass(frozen=True)
class SynthFigure:
    """A region that is not text: a ``picture`` or a ``rule``."""

    kind: str
    box: Box


@dataclass(frozen=True)
class SynthPage:
    """A rendered page and its ground truth, in pixels of the page before any skew.

    ``lines`` are (text, tight ink box) in reading order (headline, then columns left to right, each
    top to bottom); ``text`` joins them with newlines, blocks separated by a blank line; ``skew`` is
    the angle in degrees (counter-clockwise) the image was turned by after drawing.
    """

    image: Image.Image
    lines: tuple[tuple[str, Box], ...]
    blocks: tuple[SynthBlock, ...]
    figures: tuple[SynthFigure, ...]
    skew: float
    text: str
    fonts: tuple[PageFont, ...] = ()
    line_fonts: tuple[int, ...] = ()  # per line, its index in ``fonts``
    seed: int = 0

    def to_dict(self, image_name: str = "") -> dict[str, Any]:
        """The ground truth as JSON-ready data (the image is referred to by ``image_name``)."""
        return {
            "format": FORMAT, "image": image_name, "width": self.image.width, "height": self.image.height,
            "mode": self.image.mode, "seed": self.seed, "skew": self.skew, "charset": CHARSET,
            "fonts": [vars(font) for font in self.fonts],
            "lines": [{"text": text, "box": box.as_list(), "font": font}
                      for (text, box), font in zip(self.lines, self.line_fonts, strict=True)],
            "blocks": [{"kind": block.kind, "box": block.box.as_list(), "lines": list(block.lines)}
                       for block in self.blocks],
            "figures": [{"kind": figure.kind, "box": figure.box.as_list()} for figure in self.figures],
            "text": self.text,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, values: dict[str, Any], image: Image.Image) -> SynthPage:
        """The page ``to_dict`` described, with its ``image``; ``DatasetError`` if the data is malformed."""
        try:
            if values.get("format") != FORMAT:
                raise ValueError(f"format {values.get('format')!r} is not {FORMAT!r}")
            lines = values["lines"]
            return cls(
                image,
                tuple((str(line["text"]), Box(*line["box"])) for line in lines),
                tuple(
                    SynthBlock(block["kind"], Box(*block["box"]), tuple(block["lines"])) for block in values["blocks"]
                ),
                tuple(SynthFigure(figure["kind"], Box(*figure["box"])) for figure in values["figures"]),
                float(values["skew"]),
                str(values["text"]),
                tuple(PageFont(**font) for font in values["fonts"]),
                tuple(int(line["font"]) for line in lines),
                int(values["seed"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise DatasetError(f"not a synthetic page's ground truth ({type(error).__name__}: {error})") from None


def read_synth_page(json_path: str | Path) -> SynthPage:
    """A page written by ``write_synth_pages``: its JSON and the image it names (beside it)."""
    json_path = Path(json_path)
    try:
        values = json.loads(json_path.read_text(encoding="utf-8"))
        with Image.open(json_path.parent / values["image"]) as opened:
            image = opened.copy()
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DatasetError(f"{json_path}: cannot read the page or its image: {error}") from None
    try:
        return SynthPage.from_dict(values, image)
    except DatasetError as error:
        raise DatasetError(f"{json_path}: {error}") from None


def page_json_text(record: dict[str, Any]) -> str:
    """The page's JSON with each font, line, block and figure on a line of its own: readable, and a
    fifth smaller than an indented dump."""
    parts = []
    for key, value in record.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            items = ",\n".join(f"  {json.dumps(item, ensure_ascii=False)}" for item in value)
            parts.append(f" {json.dumps(key)}: [\n{items}\n ]")
        else:
            parts.append(f" {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}")
    return "{\n" + ",\n".join(parts) + "\n}\n"
