"""A page drawn with known lines, for the service tests that post whole pages (in process and in a
real browser)."""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

WORDS = ["river", "garden", "window", "paper", "silver", "morning", "letter", "market", "summer", "number",
         "station", "yellow", "orange", "simple", "button", "forest", "pocket", "travel", "winter"]  # fmt: skip
LINES = 5
PAGE_SIZE = (900, 420)  # 378,000 pixels
MAX_PAGE_PIXELS = 1_000_000
MAX_PAGES = 2
PAGE_DPI = 150


@cache
def _font_path() -> Path:
    from crnn_ctc.synth.fonts import find_fonts

    faces = find_fonts()
    for face in faces:
        if face.family == "DejaVu Serif" and face.style == "Book":
            return Path(face.path)
    for face in faces:
        if face.family in ("DejaVu Serif", "DejaVu Sans", "Liberation Serif") and not face.italic:
            return Path(face.path)
    pytest.skip("none of DejaVu Serif, DejaVu Sans, Liberation Serif is installed; run `make fonts`")


@cache
def drawn_page() -> tuple[Image.Image, tuple[str, ...]]:
    """A white page with ``LINES`` lines of four words each, and those lines."""
    font = ImageFont.truetype(str(_font_path()), 24)
    rng = np.random.default_rng(11)
    page = Image.new("L", PAGE_SIZE, 255)
    draw = ImageDraw.Draw(page)
    lines = tuple(" ".join(rng.choice(WORDS, 4, replace=False)) for _ in range(LINES))
    for index, text in enumerate(lines):
        draw.text((70, 60 + 62 * index), text, font=font, fill=0)
    return page, lines


def encoded(image: Image.Image, format: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **params)
    return buffer.getvalue()
