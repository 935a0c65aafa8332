"""What a page reader returns: blocks of lines of words, each with its box (pixels of the page image as
given, before deskewing) and confidence. Plain dataclasses, so every output format (page/formats.py),
the API and the service serialise the same structure."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in page pixels: ``x0, y0`` inclusive, ``x1, y1`` exclusive."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def area(self) -> int:
        return max(0, self.width) * max(0, self.height)

    def iou(self, other: Box) -> float:
        """Intersection over union; 0 for disjoint or empty boxes."""
        w = min(self.x1, other.x1) - max(self.x0, other.x0)
        h = min(self.y1, other.y1) - max(self.y0, other.y0)
        if w <= 0 or h <= 0:
            return 0.0
        inter = w * h
        return inter / float(self.area + other.area - inter)

    def as_list(self) -> list[int]:
        return [self.x0, self.y0, self.x1, self.y1]


@dataclass(frozen=True)
class Word:
    text: str
    box: Box
    confidence: float


@dataclass(frozen=True)
class Line:
    """One text line: its text as read (words joined by single spaces), its box, P(text | line image)."""

    text: str
    box: Box
    confidence: float
    words: tuple[Word, ...] = ()


@dataclass(frozen=True)
class Block:
    """A block of lines read in order (a paragraph or a column piece). ``kind`` is ``text``; regions set
    aside (pictures, rules) are listed in ``Page.figures`` and are not read."""

    box: Box
    lines: tuple[Line, ...]
    kind: str = "text"

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)


@dataclass(frozen=True)
class Page:
    """One page: its blocks in reading order, and what the pipeline found about the image.

    ``rotation``: the 90-degree steps (0, 90, 180, 270, counter-clockwise) the page was turned by to
    read it upright; ``skew``: the small angle in degrees (counter-clockwise positive) it was deskewed
    by. Boxes are in the pixels of the image as given, when rotation and skew are 0; otherwise in the
    pixels of the upright, deskewed image (``width``/``height`` are that image's size).
    """

    width: int
    height: int
    blocks: tuple[Block, ...]
    figures: tuple[Box, ...] = ()
    rotation: int = 0
    skew: float = 0.0
    source: str = ""
    page_number: int = 1
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def lines(self) -> list[Line]:
        return [line for block in self.blocks for line in block.lines]

    @property
    def text(self) -> str:
        """Reading-order text: lines joined by newlines, blocks separated by a blank line."""
        return "\n\n".join(block.text for block in self.blocks if block.lines)

    def to_dict(self) -> dict:
        return asdict(self)
