"""Where the text is: connected components of the ink, set apart into figures and text, cut into
blocks in reading order (recursive XY cut), and each block into lines.

Written here rather than taken from a layout library: the maintained analysers either need a deep
model (more weights than our recognizer, and another runtime) or do not install beside our pinned
torch; the steps themselves are classical and short on top of SciPy's labelling.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from .types import Box


@dataclass(frozen=True)
class Components:
    """The ink's connected components as parallel arrays of boxes (x1, y1 exclusive) and pixel counts."""

    x0: np.ndarray
    y0: np.ndarray
    x1: np.ndarray
    y1: np.ndarray
    area: np.ndarray

    @property
    def height(self) -> np.ndarray:
        return self.y1 - self.y0

    @property
    def width(self) -> np.ndarray:
        return self.x1 - self.x0

    def __len__(self) -> int:
        return len(self.x0)

    def take(self, keep: np.ndarray) -> Components:
        return Components(self.x0[keep], self.y0[keep], self.x1[keep], self.y1[keep], self.area[keep])


@dataclass(frozen=True)
class Layout:
    """Blocks in reading order, each a list of line boxes top to bottom; figures set aside; the text
    height the thresholds were scaled by (the median height of letter-like components)."""

    blocks: list[list[Box]]
    figures: list[Box]
    text_height: float


def find_components(mask: np.ndarray) -> tuple[Components, np.ndarray]:
    """8-connected components of the ink, and the label image (0 = paper)."""
    from scipy import ndimage

    labels, count = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    slices = ndimage.find_objects(labels)
    boxes = np.array([(s[1].start, s[0].start, s[1].stop, s[0].stop) for s in slices], dtype=np.int64).reshape(-1, 4)
    area = np.bincount(labels.ravel(), minlength=count + 1)[1:].astype(np.int64)
    return Components(boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3], area), labels


def text_height(components: Components) -> float:
    """The median height of letter-like components (neither specks nor long rules nor blobs)."""
    h, w = components.height, components.width
    letters = (h >= 5) & (components.area >= 12) & (w <= 4 * h) & (h <= 8 * np.maximum(w, 1))
    if letters.sum() < 5:
        return 0.0
    return float(np.median(h[letters]))


def split_figures(components: Components, height: float) -> tuple[Components, list[Box]]:
    """Set aside what is not text: blobs far taller than text with what lies inside them (pictures,
    boxes), and rules (long, thin strokes). Specks too small to be part of a letter are dropped."""
    h, w = components.height, components.width
    blob = (h > 4.0 * height) & (w > 1.5 * height)
    rule = ((w > 8.0 * height) & (h < 0.5 * height)) | ((h > 8.0 * height) & (w < 0.5 * height))

    def boxes(which: np.ndarray) -> list[Box]:
        c = components
        return [
            Box(int(a), int(b), int(d), int(e))
            for a, b, d, e in zip(c.x0[which], c.y0[which], c.x1[which], c.y1[which], strict=True)
        ]

    blobs = boxes(blob)
    keep = ~(blob | rule) & (components.area >= max(4.0, (0.15 * height) ** 2))
    # Whatever lies inside a blob's box is part of the picture (a photograph binarises into many pieces).
    margin = 0.5 * height
    cx = (components.x0 + components.x1) / 2.0
    cy = (components.y0 + components.y1) / 2.0
    for box in blobs:
        inside = (cx >= box.x0 - margin) & (cx < box.x1 + margin) & (cy >= box.y0 - margin) & (cy < box.y1 + margin)
        keep &= ~inside
    figures = blobs + boxes(rule & ~blob)
    return components.take(keep), _merge_boxes(figures)


def _merge_boxes(boxes: list[Box]) -> list[Box]:
    """Overlapping boxes joined until none overlap (pieces of one picture become one figure)."""
    merged = list(boxes)
    changed = True
    while changed:
        changed = False
        for i in range(len(merged)):
            for j in range(i + 1, len(merged)):
                a, b = merged[i], merged[j]
                if a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1:
                    merged[i] = Box(min(a.x0, b.x0), min(a.y0, b.y0), max(a.x1, b.x1), max(a.y1, b.y1))
                    del merged[j]
                    changed = True
                    break
            if changed:
                break
    return sorted(merged, key=lambda box: (box.y0, box.x0))


def _gaps(start: np.ndarray, stop: np.ndarray) -> list[tuple[int, int]]:
    """Runs of coordinates covered by no interval [start, stop), between the first and the last."""
    low, high = int(start.min()), int(stop.max())
    coverage = np.zeros(high - low + 1, dtype=np.int64)
    np.add.at(coverage, start - low, 1)
    np.add.at(coverage, stop - low, -1)
    empty = np.cumsum(coverage)[:-1] == 0
    gaps: list[tuple[int, int]] = []
    edges = np.flatnonzero(np.diff(np.concatenate([[0], empty.astype(np.int8), [0]])))
    for begin, end in zip(edges[::2], edges[1::2], strict=True):
        gaps.append((low + int(begin), low + int(end)))
    return gaps


def xy_cut(components: Components, height: float) -> list[np.ndarray]:
    """Blocks of components in reading order (recursive XY cut).

    A region is cut at its widest gap relative to what that gap must be: a column gutter (spanning
    the whole height of a region of several lines, at least 1.2 text heights; columns then read left
    to right) or a horizontal gap (at least 1.5 text heights; top before bottom). Text height is the
    region's own, so the word spaces of a large headline are not taken for gutters. A region with
    neither is cut under (or over) a line that spans its columns, such as a headline set close to
    them, when that reveals a gutter.

    Gutters that make a table are not column gutters: where a piece between them is narrow (a few
    words wide, as a table's cells or a list's numbers are, never a column of running text) and its
    rows stand level with its neighbours' rows, the region is read row by row, across the gutters.
    """
    blocks: list[np.ndarray] = []

    def gutters(indices: np.ndarray, local: float) -> list[tuple[int, int]]:
        y0, y1 = components.y0[indices], components.y1[indices]
        # A gutter separates columns of several lines; within a line or two a wide gap is still a word
        # space (monospace spaces line up over a few lines).
        if len(indices) == 0 or int(y1.max()) - int(y0.min()) <= 5.0 * local:
            return []
        return [gap for gap in _gaps(components.x0[indices], components.x1[indices]) if gap[1] - gap[0] >= 1.2 * local]

    def rows(indices: np.ndarray, local: float) -> list[tuple[int, int]]:
        """Row extents of some components: runs of covered y, those closer than a quarter of a text
        height joined (an i's dot, a raised comma), those under 0.4 text heights dropped (specks)."""
        if len(indices) == 0:
            return []
        top, bottom = int(components.y0[indices].min()), int(components.y1[indices].max())
        gaps = [gap for gap in _gaps(components.y0[indices], components.y1[indices]) if gap[1] - gap[0] >= 0.25 * local]
        edges = [top] + [edge for gap in gaps for edge in gap] + [bottom]
        return [(a, b) for a, b in zip(edges[::2], edges[1::2], strict=True) if b - a >= 0.4 * local]

    def is_table(pieces: list[np.ndarray], local: float) -> bool:
        """Whether a narrow piece's rows (at least two) each face exactly one row of a neighbour."""
        extents = [rows(piece, local) for piece in pieces]
        for i, piece in enumerate(pieces):
            width = int(components.x1[piece].max()) - int(components.x0[piece].min()) if len(piece) else 0
            if not len(piece) or width >= 12.0 * local or len(extents[i]) < 2:
                continue
            for j in (i - 1, i + 1):
                if not 0 <= j < len(pieces) or not extents[j]:
                    continue
                level = sum(
                    1 for a, b in extents[i]
                    if sum(1 for c, d in extents[j] if min(b, d) - max(a, c) >= 0.5 * min(b - a, d - c)) == 1
                )  # fmt: skip
                if level >= 0.8 * len(extents[i]):
                    return True
        return False

    def split_rows(indices: np.ndarray, gap: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        centres = (components.y0[indices] + components.y1[indices]) / 2.0
        middle = (gap[0] + gap[1]) / 2.0
        return indices[centres < middle], indices[centres >= middle]

    def spanning_line_cut(indices: np.ndarray, local: float) -> tuple[int, int] | None:
        """The line gap under a spanning top (or over a spanning bottom) of at most 30% of the region
        whose cut leaves the tallest part with a gutter, if any does."""
        top, bottom = int(components.y0[indices].min()), int(components.y1[indices].max())
        limit = 0.3 * (bottom - top)
        candidates = [
            gap for gap in _gaps(components.y0[indices], components.y1[indices])
            if gap[1] - gap[0] >= 0.2 * local and (gap[0] - top <= limit or bottom - gap[1] <= limit)
        ]  # fmt: skip
        best, best_height = None, 0
        for gap in candidates:
            upper, lower = split_rows(indices, gap)
            part = lower if gap[0] - top <= limit else upper
            if len(part) and gutters(part, local):
                part_height = int(components.y1[part].max()) - int(components.y0[part].min())
                if part_height > best_height:
                    best, best_height = gap, part_height
        return best

    def cut(indices: np.ndarray) -> None:
        if len(indices) == 0:
            return
        local = text_height(components.take(indices)) or height
        x0, x1 = components.x0[indices], components.x1[indices]
        vertical = gutters(indices, local)
        horizontal = [
            gap for gap in _gaps(components.y0[indices], components.y1[indices]) if gap[1] - gap[0] >= 1.5 * local
        ]
        across = max((b - a) / (1.2 * local) for a, b in vertical) if vertical else 0.0
        down = max((b - a) / (1.5 * local) for a, b in horizontal) if horizontal else 0.0
        if vertical and across >= down:
            edges = [int(x0.min())] + [(a + b) // 2 for a, b in vertical] + [int(x1.max()) + 1]
            centres = (x0 + x1) / 2.0
            pieces = [indices[(centres >= left) & (centres < right)] for left, right in itertools.pairwise(edges)]
            table = is_table(pieces, local)
            if not table:
                for piece in pieces:
                    cut(piece)
                return
        else:
            table = False
        gap: tuple[int, int] | None = None
        if horizontal:
            gap = max(horizontal, key=lambda gap: gap[1] - gap[0])
        elif not table:  # a table's rows are not headlines over columns
            gap = spanning_line_cut(indices, local)
        if gap is not None:
            for part in split_rows(indices, gap):
                cut(part)
            return
        blocks.append(indices)

    cut(np.arange(len(components)))
    return blocks


def block_lines(mask: np.ndarray, components: Components, indices: np.ndarray, height: float) -> list[list[Box]]:
    """The lines of one block, top to bottom, grouped into paragraphs where the gap between two lines
    is clearly wider than the block's usual line gap."""
    x0, y0 = int(components.x0[indices].min()), int(components.y0[indices].min())
    x1, y1 = int(components.x1[indices].max()), int(components.y1[indices].max())
    # The block's own ink (its components' boxes painted), so a neighbour's stray pixels do not count.
    own = np.zeros((y1 - y0, x1 - x0), dtype=bool)
    for i in indices:
        own[components.y0[i] - y0 : components.y1[i] - y0, components.x0[i] - x0 : components.x1[i] - x0] = True
    ink = own & mask[y0:y1, x0:x1]
    profile = ink.sum(axis=1)
    bands = _bands(profile, height)
    lines: list[Box] = []
    for top, bottom in bands:
        columns = np.flatnonzero(ink[top:bottom].any(axis=0))
        if len(columns) == 0 or (bottom - top < 0.5 * height and columns[-1] - columns[0] < 2 * height):
            continue  # a speck or a stray mark, not a line
        lines.append(Box(x0 + int(columns[0]), y0 + top, x0 + int(columns[-1]) + 1, y0 + bottom))
    return _paragraphs(lines)


def _bands(profile: np.ndarray, height: float) -> list[tuple[int, int]]:
    """Row ranges holding one text line each: runs of inked rows, small runs (dots, accents) joined to
    the nearest neighbour, runs as tall as several lines split at the profile's lowest rows."""
    inked = profile > 0
    edges = np.flatnonzero(np.diff(np.concatenate([[0], inked.astype(np.int8), [0]])))
    runs = [[int(a), int(b)] for a, b in zip(edges[::2], edges[1::2], strict=True)]
    if not runs:
        return []
    tall = [b - a for a, b in runs if b - a >= 0.6 * height]
    typical = float(np.median(tall)) if tall else float(height)
    merged: list[list[int]] = []
    for run in runs:  # small runs join the closer neighbour (most are above their letters: i-dots, accents)
        if run[1] - run[0] < 0.45 * typical and merged and run[0] - merged[-1][1] < 0.5 * typical:
            merged[-1][1] = run[1]
        else:
            merged.append(run)
    joined: list[list[int]] = []
    for run in merged:
        if joined and joined[-1][1] - joined[-1][0] < 0.45 * typical and run[0] - joined[-1][1] < 0.5 * typical:
            joined[-1][1] = run[1]
        else:
            joined.append(run)
    bands: list[tuple[int, int]] = []
    for top, bottom in joined:
        count = round((bottom - top) / typical) if typical > 0 else 1
        if count <= 1 or (bottom - top) < 1.6 * typical:
            bands.append((top, bottom))
            continue
        cuts = [top]
        for k in range(1, count):  # cut at the emptiest row near each expected line boundary
            expected = top + k * (bottom - top) / count
            low, high = int(expected - 0.3 * typical), int(expected + 0.3 * typical) + 1
            window = profile[max(low, cuts[-1] + 1) : min(high, bottom - 1)]
            if len(window) == 0:
                continue
            cuts.append(max(low, cuts[-1] + 1) + int(np.argmin(window)))
        cuts.append(bottom)
        bands.extend((a, b) for a, b in itertools.pairwise(cuts) if b > a)
    return bands


def _paragraphs(lines: list[Box]) -> list[list[Box]]:
    if len(lines) < 3:
        return [lines] if lines else []
    gaps = np.array([b.y0 - a.y1 for a, b in itertools.pairwise(lines)], dtype=np.float64)
    heights = np.median([line.height for line in lines])
    limit = max(float(np.median(gaps)) + 0.6 * heights, 0.5 * heights)
    groups: list[list[Box]] = [[lines[0]]]
    for gap, line in zip(gaps, lines[1:], strict=True):
        if gap > limit:
            groups.append([line])
        else:
            groups[-1].append(line)
    return groups


def looks_like_picture(gray: np.ndarray, mask: np.ndarray, box: Box) -> bool:
    """Whether a found line is a strip of a photograph: between printed letters the paper is one tone,
    while in a photograph what is not ink spreads over much of the ink-to-paper range (on synthetic
    pages, text lines stay below 0.5 of it in 99 of 100, picture strips mostly lie above 0.8)."""
    values = gray[box.y0 : box.y1, box.x0 : box.x1]
    ink = mask[box.y0 : box.y1, box.x0 : box.x1]
    paper, marks = values[~ink], values[ink]
    if paper.size < 10 or marks.size < 5:
        return False
    contrast = max(float(np.median(paper)) - float(np.median(marks)), 1.0)
    low, high = np.percentile(paper, [10, 90])
    return float(high - low) / contrast > 0.7


def analyse_layout(mask: np.ndarray, gray: np.ndarray | None = None) -> Layout:
    """Blocks of line boxes in reading order, and figures, from an upright, deskewed ink mask (and the
    gray page it came from, which lets strips of photographs be told from lines of text)."""
    components, _ = find_components(mask)
    height = text_height(components)
    if height == 0.0:
        return Layout([], [], 0.0)
    text, figures = split_figures(components, height)
    if len(text) == 0:
        return Layout([], figures, height)
    blocks: list[list[Box]] = []
    pictures: list[Box] = []
    for indices in xy_cut(text, height):
        local = text_height(text.take(indices)) or height
        for block in block_lines(mask, text, indices, local):
            if gray is not None:
                strips = [line for line in block if looks_like_picture(gray, mask, line)]
                pictures.extend(strips)
                block = [line for line in block if line not in strips]
            if block:
                blocks.append(block)
    return Layout(blocks, _merge_boxes(figures + pictures), height)
