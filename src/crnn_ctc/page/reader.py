"""``PageReader``: a whole page in, its text in reading order out. Gray and ink (binarize), turned
upright and deskewed (skew), blocks and lines found (layout), then every line read in width-grouped
batches by the ``Recognizer`` with its decoder options, and each line's words boxed."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from ..errors import ConfigError, PageError
from .binarize import ink_mask, to_gray
from .layout import Layout, analyse_layout
from .skew import estimate_skew, lines_run_vertically
from .spacing import respace
from .types import Block, Box, Line, Page, Word

if TYPE_CHECKING:
    from ..api import Prediction, Recognizer

# The upright-or-upside-down test reads this many of the widest lines both ways.
_ORIENTATION_LINES = 6


@dataclass(frozen=True)
class PageOptions:
    """Page limits and pipeline switches (``crnn read`` flags of the same names).

    ``analysis_pixels``: the layout is found on a copy of at most this many pixels (lines are still
    cut from the full-resolution page), so a 600-dpi scan costs about what a 200-dpi one does.
    ``min_line_confidence``: lines read with a lower P(text | line) are dropped (0 keeps every line).
    ``check_spaces``: each line's word spaces are checked against the gaps in its ink (``spacing``).
    """

    max_pixels: int = 80_000_000
    deskew: bool = True
    max_skew: float = 10.0
    orientation: bool = True
    batch_size: int = 32
    analysis_pixels: int = 4_000_000
    min_line_confidence: float = 0.0
    check_spaces: bool = True

    def __post_init__(self) -> None:
        if self.max_pixels < 1 or self.analysis_pixels < 10_000:
            raise ConfigError("max_pixels must be positive and analysis_pixels at least 10,000")
        if not 0.0 <= self.max_skew <= 45.0:
            raise ConfigError(f"max_skew must lie in 0..45 degrees, got {self.max_skew}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {self.batch_size}")
        if not 0.0 <= self.min_line_confidence <= 1.0:
            raise ConfigError(f"min_line_confidence must lie in 0..1, got {self.min_line_confidence}")


@dataclass
class _Upright:
    """The page turned and straightened, with its analysis copy and what was found on it."""

    gray: np.ndarray
    scale: float
    mask: np.ndarray
    layout: Layout
    rotation: int
    skew: float


class PageReader:
    """Reads whole pages with one ``Recognizer`` (its model, backend and decoder options)."""

    def __init__(self, recognizer: Recognizer, options: PageOptions | None = None) -> None:
        self.recognizer = recognizer
        self.options = options or PageOptions()

    def read(self, image: Image.Image, source: str = "", page_number: int = 1) -> Page:
        """The page's blocks, lines and words in reading order (``Page``)."""
        options = self.options
        pixels = image.width * image.height
        if pixels > options.max_pixels:
            raise PageError(
                source or "page", f"{image.width}x{image.height} is {pixels:,} pixels, over the limit of "
                f"{options.max_pixels:,} (--max-page-pixels)", page_number,
            )  # fmt: skip
        gray = to_gray(image)
        analysed = _analysis_mask(gray, options)
        vertical = options.orientation and lines_run_vertically(analysed[2])
        # The upright page's own analysis is the one just made, unless it has to be turned.
        page = self._upright(np.rot90(gray, 1), 90) if vertical else self._upright(gray, 0, analysed)
        if options.orientation and page.layout.blocks and self._reads_better_turned(page):
            page = self._upright(np.rot90(gray, 3 if vertical else 2), 270 if vertical else 180)
        return self._read_lines(page, source, page_number)

    def _upright(
        self, gray: np.ndarray, rotation: int, analysed: tuple[float, np.ndarray, np.ndarray] | None = None
    ) -> _Upright:
        gray = np.ascontiguousarray(gray)
        scale, small, mask = analysed or _analysis_mask(gray, self.options)
        skew = estimate_skew(mask, self.options.max_skew) if self.options.deskew else 0.0
        if abs(skew) >= 0.1:  # straighten the full-resolution page, filling with its paper tone
            paper = int(np.median(gray))
            turned = Image.fromarray(gray).rotate(
                -skew, resample=Image.Resampling.BILINEAR, expand=True, fillcolor=paper
            )
            gray = np.asarray(turned)
            scale, small, mask = _analysis_mask(gray, self.options)
        else:
            skew = 0.0
        return _Upright(gray, scale, mask, analyse_layout(mask, small), rotation, round(skew, 2))

    def _reads_better_turned(self, page: _Upright) -> bool:
        """Whether the page reads better upside down: the widest lines read both ways, compared by the
        mean log-probability per character (a turned page reads as confident nonsense less often)."""
        lines = sorted((line for block in page.layout.blocks for line in block), key=lambda b: -b.width)
        lines = lines[:_ORIENTATION_LINES]
        crops = [_crop(page.gray, _scaled(line, page.scale)) for line in lines]
        as_is = self.recognizer.recognize(crops, batch_size=self.options.batch_size)
        turned = self.recognizer.recognize([np.ascontiguousarray(crop[::-1, ::-1]) for crop in crops],
                                           batch_size=self.options.batch_size)  # fmt: skip
        return _mean_log_prob(turned) > _mean_log_prob(as_is) + 0.05

    def _read_lines(self, page: _Upright, source: str, page_number: int) -> Page:
        options = self.options
        preprocess = self.recognizer.preprocess_config
        max_aspect = 0.95 * preprocess.max_width / preprocess.height
        pieces: list[tuple[int, int, Box]] = []  # (block, line, piece box in page pixels)
        for b, block in enumerate(page.layout.blocks):
            for n, line in enumerate(block):
                for piece in _split_wide(line, page.mask, max_aspect):
                    pieces.append((b, n, _scaled(piece, page.scale)))
        names = [f"{source or 'page'} p{page_number} line {b + 1}.{n + 1}" for b, n, _ in pieces]
        crops = (_crop(page.gray, box) for _, _, box in pieces)
        predictions = list(self.recognizer.iter_recognize(crops, batch_size=options.batch_size, errors="report",
                                                          names=names, positions=options.check_spaces))  # fmt: skip
        read: dict[tuple[int, int], list[tuple[Box, Prediction]]] = {}
        for (b, n, box), prediction in zip(pieces, predictions, strict=True):
            if options.check_spaces:
                prediction = _check_spaces(prediction, box, page)
            read.setdefault((b, n), []).append((box, prediction))
        blocks: list[Block] = []
        warnings = [f"{p.source}: {p.error}" for p in predictions if p.error]
        for b, block in enumerate(page.layout.blocks):
            lines = [_line(read[(b, n)], page) for n in range(len(block)) if (b, n) in read]
            kept = tuple(line for line in lines if line.text and line.confidence >= options.min_line_confidence)
            if kept:
                blocks.append(Block(_union([line.box for line in kept]), kept))
        height, width = page.gray.shape
        figures = tuple(_scaled(figure, page.scale, (width, height)) for figure in page.layout.figures)
        return Page(width, height, tuple(blocks), figures, page.rotation, page.skew, source, page_number,
                    tuple(warnings))  # fmt: skip


def _analysis_mask(gray: np.ndarray, options: PageOptions) -> tuple[float, np.ndarray, np.ndarray]:
    """A copy of the page of at most ``analysis_pixels``, its scale, and its ink mask."""
    scale = min(1.0, math.sqrt(options.analysis_pixels / float(gray.size)))
    if scale < 1.0:
        size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
        gray = np.asarray(Image.fromarray(gray).resize(size, Image.Resampling.BOX))
    return scale, gray, ink_mask(gray)


def _scaled(box: Box, scale: float, limit: tuple[int, int] | None = None) -> Box:
    if scale == 1.0:
        return box
    x0, y0 = int(box.x0 / scale), int(box.y0 / scale)
    x1, y1 = math.ceil(box.x1 / scale), math.ceil(box.y1 / scale)
    if limit is not None:
        x1, y1 = min(x1, limit[0]), min(y1, limit[1])
    return Box(x0, y0, x1, y1)


def _crop_box(box: Box, shape: tuple[int, ...]) -> Box:
    """Where a line's image is cut: a margin like the generator's crops, a fifth of its height above and
    below, a third at the ends."""
    pad_y, pad_x = max(1, round(0.2 * box.height)), max(2, round(0.35 * box.height))
    height, width = shape[:2]
    return Box(max(0, box.x0 - pad_x), max(0, box.y0 - pad_y), min(width, box.x1 + pad_x), min(height, box.y1 + pad_y))


def _crop(gray: np.ndarray, box: Box) -> np.ndarray:
    """A line's image (``_crop_box``)."""
    cut = _crop_box(box, gray.shape)
    return np.ascontiguousarray(gray[cut.y0 : cut.y1, cut.x0 : cut.x1])


def _check_spaces(prediction: Prediction, box: Box, page: _Upright) -> Prediction:
    """``prediction`` of the line piece ``box`` (page pixels) with its spaces checked against the ink
    between its characters (``spacing.respace``), on the analysis mask."""
    if not prediction.positions or not prediction.text.strip():
        return prediction
    cut, scale = _crop_box(box, page.gray.shape), page.scale
    small = _analysis_box(box, scale)
    empty = np.asarray(~page.mask[small.y0 : small.y1, small.x0 : small.x1].any(axis=0), dtype=bool)
    columns = [(cut.x0 + share * cut.width) * scale - small.x0 for share in prediction.positions]
    result = respace(prediction.text, prediction.char_probs, columns, empty, small.height)
    if not (result.joined or result.split):
        return prediction
    shares = tuple(((column + small.x0) / scale - cut.x0) / cut.width for column in result.positions)
    return dataclasses.replace(prediction, text=result.text, char_probs=result.char_probs, positions=shares)


def _analysis_box(box: Box, scale: float) -> Box:
    """A page-pixel box on the analysis copy, at least a pixel each way."""
    x0, y0 = int(box.x0 * scale), int(box.y0 * scale)
    return Box(x0, y0, max(x0 + 1, int(box.x1 * scale)), max(y0 + 1, int(box.y1 * scale)))


def _ink_runs(mask: np.ndarray, box: Box) -> list[tuple[int, int]]:
    """Column runs [start, stop) holding ink inside ``box`` of the mask (absolute columns)."""
    inked = mask[box.y0 : box.y1, box.x0 : box.x1].any(axis=0)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], inked.astype(np.int8), [0]])))
    return [(box.x0 + int(a), box.x0 + int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _split_wide(line: Box, mask: np.ndarray, max_aspect: float) -> list[Box]:
    """A line wider than the model reads without squeezing, cut at its widest gaps near the middle."""
    if line.width <= max_aspect * line.height * 1.4:  # the crop's margins make it about 1.4x taller
        return [line]
    runs = _ink_runs(mask, line)
    gaps = [(runs[i][1], runs[i + 1][0]) for i in range(len(runs) - 1)]
    middle = (line.x0 + line.x1) / 2.0
    candidates = [gap for gap in gaps if abs((gap[0] + gap[1]) / 2.0 - middle) < 0.3 * line.width]
    if not candidates:
        return [line]
    # The widest gap near the middle (a word space), preferring the centre among equals.
    a, b = max(candidates, key=lambda gap: (gap[1] - gap[0], -abs((gap[0] + gap[1]) / 2.0 - middle)))
    left, right = Box(line.x0, line.y0, a, line.y1), Box(b, line.y0, line.x1, line.y1)
    return _split_wide(left, mask, max_aspect) + _split_wide(right, mask, max_aspect)


def _line(pieces: Sequence[tuple[Box, Prediction]], page: _Upright) -> Line:
    """One line from its read pieces: their words one space apart, confidence their product, words boxed."""
    text = " ".join(word for _, p in pieces for word in p.text.split())  # one space, as in the labels
    confidence = float(np.prod([p.confidence for _, p in pieces]))
    words: list[Word] = []
    for box, prediction in pieces:
        words.extend(_words(prediction, box, page))
    return Line(text, _union([box for box, _ in pieces]), confidence, tuple(words))


def _words(prediction: Prediction, box: Box, page: _Upright) -> list[Word]:
    """Word boxes from the ink: the n-1 widest gaps between inked columns split a piece read as n words,
    or, when the ink has fewer gaps, its width shared by character count."""
    text = prediction.text.strip()
    if not text:
        return []
    tokens = text.split()
    probs = list(prediction.char_probs) if len(prediction.char_probs) == len(prediction.text) else []
    offset = len(prediction.text) - len(prediction.text.lstrip())
    confidences: list[float] = []
    position = offset
    for token in tokens:
        start = prediction.text.index(token, position)
        confidences.append(float(np.prod(probs[start : start + len(token)])) if probs else prediction.confidence)
        position = start + len(token)
    scale = page.scale
    small = _analysis_box(box, scale)
    runs = _ink_runs(page.mask, small)
    spans: list[tuple[int, int]]
    if len(tokens) == 1:
        spans = [(box.x0, box.x1)]
    elif len(runs) >= len(tokens):  # the widest gaps split the words
        gaps = sorted(range(len(runs) - 1), key=lambda i: runs[i][1] - runs[i + 1][0])[: len(tokens) - 1]
        cuts = sorted(gaps)
        starts = [runs[0][0]] + [runs[i + 1][0] for i in cuts]
        stops = [runs[i][1] for i in cuts] + [runs[-1][1]]
        spans = [(int(a / scale), min(box.x1, math.ceil(b / scale))) for a, b in zip(starts, stops, strict=True)]
    else:
        total = sum(len(token) for token in tokens) + len(tokens) - 1
        spans, at = [], 0
        for token in tokens:
            a = box.x0 + round(box.width * at / total)
            at += len(token)
            spans.append((a, box.x0 + round(box.width * at / total)))
            at += 1
    return [Word(token, Box(a, box.y0, max(b, a + 1), box.y1), confidence)
            for token, (a, b), confidence in zip(tokens, spans, confidences, strict=True)]  # fmt: skip


def _mean_log_prob(predictions: Sequence[Prediction]) -> float:
    values = [math.log(max(p, 1e-6)) for prediction in predictions for p in prediction.char_probs]
    return sum(values) / len(values) if values else -1e9


def _union(boxes: Sequence[Box]) -> Box:
    return Box(min(b.x0 for b in boxes), min(b.y0 for b in boxes), max(b.x1 for b in boxes), max(b.y1 for b in boxes))
