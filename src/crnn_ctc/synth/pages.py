"""Synthetic document pages with exact ground truth: a headline, columns of paragraphs, pictures and rules,
on paper, then scanned (blur, noise, binarisation, JPEG, an optional small skew).

Each text line is drawn alone into a mask, so its box is the tight box of its own ink (descenders
included), and a line is moved down until its ink clears the line above: boxes never overlap and the
text of each is exactly what is drawn (``printable+space`` symbols, single spaces). Page ``seed`` is a
pure function of (seed, config) for a given font set. The fonts are the word generator's inventory
and coverage checks (``fonts.py``), kept to upright serif, sans-serif and monospace faces that draw
every symbol; the text is ``text.py``'s sentence-like lines, wrapped by measured width. The ground
truth's types and JSON are in ``page_truth.py`` (imported here).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..charset import Charset
from ..errors import DatasetError
from ..files import refuse_existing, staged_directory
from ..page.types import Box
from .backgrounds import gaussian_noise, natural_crop, paper, texture
from .config import MIN_SPACE_EM, SynthConfig
from .degrade import degrade
from .fonts import FontError, FontWarning, SelectedFont, find_fonts, font_split, load_font, select_fonts
from .page_config import PageSynthConfig
from .page_truth import CHARSET, FORMAT, PageFont, SynthBlock, SynthFigure, SynthPage, page_json_text, read_synth_page
from .text import TextSource, load_words
from .woff import openable

__all__ = [
    "FORMAT", "PageFont", "PageSynthConfig", "SynthBlock", "SynthFigure", "SynthPage", "SynthPagesSummary",
    "document_fonts", "page_seed", "read_synth_page", "render_page", "write_synth_pages",
]  # fmt: skip

TSV_NAME = "pages.tsv"
SUMMARY_NAME = "synth-pages.json"
DOCUMENT_CATEGORIES = ("serif", "sans-serif", "monospace")
_BODY_STYLE = re.compile(r"^(regular|book|roman|normal|text|medium|light)$", re.IGNORECASE)
_HEADLINE_STYLE = re.compile(r"bold|black|heavy|demi", re.IGNORECASE)
_SLANTED = re.compile(r"italic|oblique", re.IGNORECASE)
_LINE_GAP = 2  # pixels at least between the ink of two lines
# Sentence-like lines of the word generator, long enough to be cut into paragraph lines.
_SENTENCES = SynthConfig(text_mix={"line": 1.0}, line_words_range=(4, 16), max_line_chars=200)


# -- fonts and words --------------------------------------------------------------------------------
def document_fonts(fonts: str | None = None, split: str = "all") -> list[SelectedFont]:
    """Upright serif, sans-serif and monospace faces (``fonts``: a folder or manifest, else the default
    set) of one side of the family split, that draw every ``printable+space`` symbol with a real space."""
    charset = Charset.preset(CHARSET)
    faces = [face for face in find_fonts(fonts) if face.category in DOCUMENT_CATEGORIES]
    faces = [face for face in faces if not _SLANTED.search(face.style)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FontWarning)  # a font that draws too little is simply not a candidate
        selected = font_split(select_fonts(faces, charset), split)
    symbols = frozenset(charset.symbols)
    kept = [font for font in selected if symbols <= font.allowed and font.check.advances.get(" ", 0.0) >= MIN_SPACE_EM]
    if not kept:
        where = fonts or "the default font set"
        raise FontError(f"no upright serif, sans-serif or monospace font of split {split!r} in {where} draws "
                        f"every {CHARSET} symbol; run `make fonts`")  # fmt: skip
    return kept


@dataclass(frozen=True)
class _Family:
    name: str
    body: tuple[SelectedFont, ...]
    bold: tuple[SelectedFont, ...]


@lru_cache(maxsize=4)
def _families(fonts: str | None, split: str) -> tuple[_Family, ...]:
    """Families with at least one body face (regular, book, medium, light...), in name order."""
    grouped: dict[str, list[SelectedFont]] = {}
    for font in document_fonts(fonts, split):
        grouped.setdefault(font.face.family, []).append(font)
    families = []
    for name, members in sorted(grouped.items()):
        body = tuple(font for font in members if _BODY_STYLE.match(font.face.style.strip()))
        if body:
            bold = tuple(font for font in members if _HEADLINE_STYLE.search(font.face.style))
            families.append(_Family(name, body, bold))
    if not families:
        raise FontError(f"no document font in {fonts or 'the default font set'} has a regular weight")
    return tuple(families)


@lru_cache(maxsize=4)
def _sentences(words: str | None, vocabulary_size: int) -> TextSource:
    return TextSource(_SENTENCES, load_words(words, vocabulary_size, _SENTENCES.word_frequency_power))


def _font(selected: SelectedFont, size: int) -> ImageFont.FreeTypeFont:
    return load_font(openable(selected.face.path), size)


# -- layout -------------------------------------------------------------------------------------------
class _Measure:
    """Advances of the words of one font at one size, each measured once (a line's advance is its words'
    plus its spaces': kerning across a space is negligible, and ``_wrap`` leaves a margin for it)."""

    def __init__(self, font: ImageFont.FreeTypeFont) -> None:
        self.font = font
        self.space = font.getlength(" ")
        self._words: dict[str, float] = {}

    def word(self, word: str) -> float:
        advance = self._words.get(word)
        if advance is None:
            advance = self._words[word] = self.font.getlength(word)
        return advance


def _wrap(words: Sequence[str], measure: _Measure, width: int, indent: int = 0) -> list[str]:
    """Words filled into lines no wider than ``width`` less a quarter em (kerning, overhangs), the first
    ``indent`` narrower; a word wider than a line on its own is left out (the text stays what is drawn)."""
    width -= int(measure.font.size) // 4
    lines: list[str] = []
    current: list[str] = []
    used, limit = 0.0, width - indent
    for word in words:
        advance = measure.word(word)
        if current and used + measure.space + advance <= limit:
            current.append(word)
            used += measure.space + advance
            continue
        if current:
            lines.append(" ".join(current))
            limit = width
        current, used = ([word], advance) if advance <= limit else ([], 0.0)
    if current:
        lines.append(" ".join(current))
    return lines


def _line_ink(text: str, font: ImageFont.FreeTypeFont) -> tuple[Image.Image, int, int]:
    """The line's ink alone (a tight mask) and where its top-left lies from the drawing origin."""
    ascent, descent = font.getmetrics()
    pad = 2 + int(font.size) // 2  # room for overhangs, marks above the ascent, hinting
    while True:
        layer = Image.new("L", (round(font.getlength(text)) + 2 * pad, ascent + descent + 2 * pad))
        ImageDraw.Draw(layer).text((pad, pad), text, font=font, fill=255)
        ink = layer.getbbox()
        if ink is None:  # cannot happen for the visible text drawn here
            raise FontError(f"{text!r} drew no ink")
        if ink[0] > 0 and ink[1] > 0 and ink[2] < layer.width and ink[3] < layer.height:
            return layer.crop(ink), ink[0] - pad, ink[1] - pad
        pad *= 2  # ink reached the layer's edge: some may lie beyond it


class _Layout:
    """The ink mask of a page, and the lines, blocks and figures placed on it."""

    def __init__(self, width: int, height: int) -> None:
        self.mask = Image.new("L", (width, height))
        self.lines: list[tuple[str, Box]] = []
        self.line_fonts: list[int] = []
        self.blocks: list[SynthBlock] = []
        self.figures: list[SynthFigure] = []
        self._block: list[int] = []

    def place(
        self, text: str, ink: tuple[Image.Image, int, int], font: int, x: int, y: int, floor: int, limit: int,
        avoid: Box | None = None,
    ) -> tuple[int, Box] | None:  # fmt: skip
        """Draw a line at origin (x, y), moved down until its ink starts at ``floor`` or below and clears
        ``avoid``; ``None`` (nothing drawn) when its ink would end below ``limit``. Returns (y, box)."""
        mask, dx, dy = ink
        top = max(y + dy, floor)
        if avoid is not None and top < avoid.y1 and top + mask.height > avoid.y0:
            top = avoid.y1
        if top + mask.height > limit:
            return None
        box = Box(x + dx, top, x + dx + mask.width, top + mask.height)
        self.mask.paste(255, (box.x0, box.y0, box.x1, box.y1), mask)
        self._block.append(len(self.lines))
        self.lines.append((text, box))
        self.line_fonts.append(font)
        return top - dy, box

    def rule(self, box: Box) -> None:
        ImageDraw.Draw(self.mask).rectangle((box.x0, box.y0, box.x1 - 1, box.y1 - 1), fill=255)
        self.figures.append(SynthFigure("rule", box))

    def end_block(self, kind: str) -> None:
        if self._block:
            boxes = [self.lines[index][1] for index in self._block]
            union = Box(min(b.x0 for b in boxes), min(b.y0 for b in boxes), max(b.x1 for b in boxes),
                        max(b.y1 for b in boxes))  # fmt: skip
            self.blocks.append(SynthBlock(kind, union, tuple(self._block)))
        self._block = []

    def text(self) -> str:
        return "\n\n".join("\n".join(self.lines[index][0] for index in block.lines) for block in self.blocks)


def _paragraph_words(rng: random.Random, sentences: TextSource, allowed: frozenset[str], count: int) -> list[str]:
    words: list[str] = []
    while len(words) < count:
        words.extend(sentences.text(rng, allowed).split())
    return words


def _headline_words(rng: random.Random, sentences: TextSource, allowed: frozenset[str], count: int) -> list[str]:
    words = _paragraph_words(rng, sentences, allowed, count)[:count]
    words[-1] = words[-1].rstrip(",;:") or words[-1]
    style = rng.random()
    if style < 0.3:
        return [word.upper() for word in words]
    if style < 0.6:
        return [word[:1].upper() + word[1:] for word in words]
    words[0] = words[0][:1].upper() + words[0][1:]
    return words


# -- the page -------------------------------------------------------------------------------------------
def render_page(seed: int, config: PageSynthConfig | None = None) -> SynthPage:
    """Page ``seed``: the same image and ground truth for the same (seed, config) and font set."""
    config = config or PageSynthConfig()
    families = _families(config.fonts, config.font_split)
    sentences = _sentences(config.words, config.vocabulary_size)
    rng = random.Random(f"crnn-synth-page:{seed}")
    np_rng = np.random.default_rng(rng.getrandbits(64))
    width, height = config.width, config.height
    family = families[rng.randrange(len(families))]
    body = family.body[rng.randrange(len(family.body))]
    body_size = rng.randint(*config.body_size_range)
    body_font = _font(body, body_size)
    measure = _Measure(body_font)
    fonts = [PageFont("body", body.face.family, body.face.style, body.face.path, body_size)]
    left, top, right, bottom = (round(rng.uniform(*config.margin_range) * width) for _ in range(4))
    right, bottom = width - right, height - bottom
    gap = round(rng.uniform(*config.column_gap_range) * width)
    columns = rng.randint(*config.columns_range)
    while columns > 1 and (right - left - gap * (columns - 1)) / columns < config.min_column_em * body_size:
        columns -= 1
    column_width = (right - left - gap * (columns - 1)) // columns
    pitch = round(rng.uniform(*config.line_spacing_range) * body_size)
    layout = _Layout(width, height)
    floor = top

    if rng.random() < config.p_headline:
        face = family.bold[rng.randrange(len(family.bold))] if family.bold and rng.random() < 0.8 else body
        size = rng.randint(*config.headline_size_range)
        font = _font(face, size)
        fonts.append(PageFont("headline", face.face.family, face.face.style, face.face.path, size))
        words = _headline_words(rng, sentences, face.allowed, rng.randint(*config.headline_words_range))
        centred = rng.random() < 0.4
        y = top
        for text in _wrap(words, _Measure(font), right - left)[:2]:
            ink = _line_ink(text, font)
            x = (left + right - ink[0].width) // 2 - ink[1] if centred else left
            placed = layout.place(text, ink, 1, x, y, floor, bottom)
            if placed is None:
                break
            y, box = placed
            y, floor = y + round(1.15 * size), box.y1 + _LINE_GAP
        layout.end_block("headline")
        if layout.lines:
            floor += round(rng.uniform(0.6, 1.6) * body_size)
            if rng.random() < config.p_rule:
                thickness = rng.randint(1, 3)
                layout.rule(Box(left, floor, right, floor + thickness))
                floor += thickness + round(rng.uniform(0.5, 1.2) * body_size)

    body_top = floor
    picture: tuple[int, Box] | None = None  # its column and box
    if rng.random() < config.p_picture:
        column = rng.randrange(columns)
        picture_height = min(round(rng.uniform(*config.picture_height_range) * height), (bottom - body_top) // 2)
        picture_width, x0 = column_width, left + column * (column_width + gap)
        if columns == 1 and rng.random() < 0.5:
            picture_width = round(column_width * rng.uniform(0.4, 0.9))
            x0 += rng.choice((0, (column_width - picture_width) // 2, column_width - picture_width))
        if picture_height >= 2 * body_size:
            y0 = rng.randint(body_top, bottom - picture_height)
            picture = column, Box(x0, y0, x0 + picture_width, y0 + picture_height)
    avoid: dict[int, Box] = {}  # column -> the picture's band, which its text keeps clear of by half a line
    if picture is not None:
        margin = pitch // 2
        avoid[picture[0]] = Box(picture[1].x0, picture[1].y0 - margin, picture[1].x1, picture[1].y1 + margin)

    indent = round(rng.uniform(1.0, 3.0) * body_size) if rng.random() < config.p_indent else 0
    paragraphs = sum(rng.randint(*config.paragraphs_range) for _ in range(columns))
    column, y = 0, body_top
    for _ in range(paragraphs):
        wanted = rng.randint(*config.paragraph_lines_range)
        # More words than the lines hold (2.4 em a word is short for any text font), then a ragged last line.
        words = _paragraph_words(rng, sentences, body.allowed, math.ceil(wanted * column_width / (2.4 * body_size)))
        wrapped = _wrap(words, measure, column_width, indent)[:wanted]
        last = wrapped[-1].split() if wrapped else []
        if len(wrapped) > 1:
            wrapped[-1] = " ".join(last[: rng.randint(max(1, len(last) // 4), len(last))])
        if layout.lines and floor > body_top:  # a paragraph gap, not at the top of a column
            floor += round(rng.uniform(*config.paragraph_gap_range) * body_size)
            if rng.random() < config.p_rule / 2:
                thickness = rng.randint(1, 2)
                x0 = left + column * (column_width + gap)
                rule = Box(x0, floor, x0 + column_width, floor + thickness)
                band = avoid.get(column)
                if (band is None or not _overlaps(rule, band)) and rule.y1 + pitch < bottom:
                    layout.rule(rule)
                    floor = rule.y1 + round(rng.uniform(0.4, 0.9) * body_size)
            y = max(y, floor)
        for index, text in enumerate(wrapped):
            ink = _line_ink(text, body_font)
            placed = None
            while placed is None and column < columns:
                x = left + column * (column_width + gap) + (indent if index == 0 else 0)
                placed = layout.place(text, ink, 0, x, y, floor, bottom, avoid.get(column))
                if placed is None:  # the column is full: the paragraph goes on at the top of the next
                    layout.end_block("paragraph")
                    column, y, floor = column + 1, body_top, body_top
            if placed is None:
                break
            y, box = placed
            y, floor = y + pitch, box.y1 + _LINE_GAP
        layout.end_block("paragraph")
        if column >= columns:
            break

    image, skew = _paper_and_scan(layout, picture, rng, np_rng, config)
    return SynthPage(
        image, tuple(layout.lines), tuple(layout.blocks), tuple(layout.figures), skew, layout.text(),
        tuple(fonts), tuple(layout.line_fonts), seed,
    )  # fmt: skip


def _overlaps(a: Box, b: Box) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def _paper_and_scan(
    layout: _Layout, picture: tuple[int, Box] | None, rng: random.Random, np_rng: np.random.Generator,
    config: PageSynthConfig,
) -> tuple[Image.Image, float]:  # fmt: skip
    """The ink on paper, the picture pasted, then skew and the scanner's degradations."""
    size = layout.mask.size
    colour = rng.random() < config.p_colour
    sheet = paper(rng, np_rng, *size) if rng.random() < config.p_paper else Image.new("RGB", size, (255, 255, 255))
    grey = rng.uniform(0, 60)
    ink: tuple[int, ...] = (round(grey),) * 3
    if colour and rng.random() < 0.25:  # blue-black ink
        ink = (round(grey * 0.4), round(grey * 0.5), round(grey + 40))
    if not colour:
        sheet, ink = sheet.convert("L"), (round(grey),)
    page = Image.composite(Image.new(sheet.mode, size, ink if colour else ink[0]), sheet, layout.mask)
    if picture is not None:
        box = picture[1]
        photo = None
        if rng.random() < config.p_photo:
            photo = natural_crop(rng, box.width, box.height, rng.uniform(0.7, 1.0))  # None without scikit-image
        if photo is None:
            photo = texture(rng, np_rng, box.width, box.height)
        page.paste(photo.convert(page.mode), (box.x0, box.y0))
        layout.figures.append(SynthFigure("picture", box))
    paper_level = float(np.asarray(sheet.convert("L").resize((1, 1), Image.Resampling.BOX))[0, 0])
    skew = 0.0
    if config.skew_degrees:
        skew = round(rng.uniform(-config.skew_degrees, config.skew_degrees), 3)
        fill = sheet.resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))
        page = page.rotate(skew, Image.Resampling.BICUBIC, expand=False, fillcolor=fill)
    return _scan(page, rng, np_rng, config, grey, paper_level), skew


def _scan(
    page: Image.Image, rng: random.Random, np_rng: np.random.Generator, config: PageSynthConfig, ink: float,
    paper_level: float,
) -> Image.Image:  # fmt: skip
    """The word generator's blur, noise and JPEG (``degrade``), with a page's binarisation between them:
    ``degrade``'s threshold comes from the image's percentiles, which a sparse page's ink does not reach."""
    mode = page.mode
    effects = SynthConfig(
        p_low_resolution=0.0, p_blur=config.p_blur, blur_range=config.blur_range, p_motion_blur=0.0,
        p_noise=config.p_noise, noise_range=config.noise_range, p_jpeg=0.0, p_grayscale=0.0, p_invert=0.0,
        p_binarize=0.0,
    )  # fmt: skip
    if config.p_blur or config.p_noise:
        page = degrade(page.convert("RGB"), rng, np_rng, effects)
    if rng.random() < config.p_binarize:
        gray = np.asarray(page.convert("L"), dtype=np.float32)
        threshold = ink + (paper_level - ink) * rng.uniform(0.35, 0.65)
        noisy = gaussian_noise(np_rng, gray.shape, rng.uniform(0, 18)) + gray
        page = Image.fromarray((noisy > threshold).view(np.uint8) * np.uint8(255), "L")
    if config.p_jpeg:
        jpeg = effects.with_changes(p_blur=0.0, p_noise=0.0, p_jpeg=config.p_jpeg,
                                    jpeg_quality_range=config.jpeg_quality_range)  # fmt: skip
        page = degrade(page.convert("RGB"), rng, np_rng, jpeg)
    return page.convert(mode)


# -- datasets -------------------------------------------------------------------------------------------
def page_seed(seed: int, index: int) -> int:
    """The ``render_page`` seed of page ``index`` of a dataset of ``seed`` (48 bits: exact in JSON)."""
    digest = hashlib.sha256(f"crnn-synth-pages:{seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:6], "big")


@dataclass
class SynthPagesSummary:
    """What ``write_synth_pages`` wrote."""

    out: str
    count: int
    seed: int
    lines: int
    fonts: int
    font_families: int
    seconds: float = 0.0


def write_synth_pages(
    out_dir: str | Path, count: int, seed: int = 0, config: PageSynthConfig | None = None, overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> SynthPagesSummary:  # fmt: skip
    """Pages ``page_seed(seed, 0 .. count - 1)`` as ``page-%05d.png`` + ``page-%05d.json``, listed in
    ``pages.tsv`` (image TAB JSON, relative paths), into a folder that appears only once complete."""
    started = time.perf_counter()
    config = config or PageSynthConfig()
    out = Path(out_dir)
    if count < 1:
        raise DatasetError(f"--count must be at least 1, got {count}")
    refuse_existing(out, overwrite)
    fonts = [font for family in _families(config.fonts, config.font_split) for font in family.body + family.bold]
    summary = SynthPagesSummary(str(out), count, seed, 0, len(fonts), len({font.face.family for font in fonts}))
    rows = []
    with staged_directory(out, overwrite) as partial:
        for index in range(count):
            page = render_page(page_seed(seed, index), config)
            image_name, json_name = f"page-{index:05d}.png", f"page-{index:05d}.json"
            page.image.save(partial / image_name, format="PNG", compress_level=3)
            (partial / json_name).write_text(page_json_text(page.to_dict(image_name)), encoding="utf-8")
            rows.append(f"{image_name}\t{json_name}\n")
            summary.lines += len(page.lines)
            if progress:
                progress(index + 1, count)
        (partial / TSV_NAME).write_text("".join(rows), encoding="utf-8")
        summary.seconds = round(time.perf_counter() - started, 2)
        described = {"summary": vars(summary), "config": config.to_dict(), "format": FORMAT}
        (partial / SUMMARY_NAME).write_text(
            json.dumps(described, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
        )
    return summary
