"""One synthetic word image, in the spirit of Synth90k (Jaderberg et al., 2014).

The text is drawn as coverage masks (glyphs, outline, shadow) at its own em size, bent (shear,
rotation, perspective, arc), cropped around the glyphs' own ink with tight or loose margins (never
cutting a glyph: labels never lie), scaled to the output height, coloured against a background
with enough contrast, then degraded (blur, low resolution, noise, JPEG).

Everything after FreeType's drawing works on 8-bit images with Pillow's C operations (one
single-band mask per layer, masked pastes for colour), and the outline is a dilation of the glyph
mask rather than a second FreeType stroke: docs/synthetic_data.md ("Speed") has the profile.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

from .backgrounds import background, luminance, paper, random_colour, rgb
from .config import SynthConfig
from .degrade import degrade
from .fonts import SelectedFont, load_font
from .woff import openable

_INK = 24  # mask value (of 255) from which a pixel counts as ink when finding the text's box


@dataclass(frozen=True)
class Context:
    """Other text around the sample's own, which the crop cuts as real word crops cut their neighbours.

    It is never in the label, so the crop never shows a whole glyph of it: a neighbouring word shows
    at most ``reveal`` of its nearest glyph's ink width, a line above or below at most ``reveal`` em of
    its foot or head. Lines above and below keep the text upright (no rotation, perspective or arc),
    so that no end of them dips into the text's own rows.
    """

    left: str = ""  # a word on the same baseline ("": none)
    right: str = ""
    above: str = ""  # words of the line above ("": none), repeated to the canvas's width
    below: str = ""
    gap: float = 0.5  # the space before a neighbouring word, in em
    leading: float = 1.2  # baseline to baseline, in the font's line heights (ascent + descent)
    # How much of each shows (left, right: part of the nearest glyph's ink width; above, below: em).
    reveal: tuple[float, float, float, float] = (0.3, 0.3, 0.2, 0.2)
    phase: float = 0.0  # how far left of the canvas the lines above and below start, in em

    @property
    def upright(self) -> bool:
        return bool(self.above or self.below)


@dataclass(frozen=True)
class Plan:
    """The cheap decisions about a sample, made before any pixel is drawn."""

    text: str  # what is drawn
    label: str  # what the label says (text, case-folded where the charset has one case)
    font: SelectedFont
    size: int  # pixels per em when drawn
    spacing: float  # extra pixels between characters
    fake_bold: int  # outline width in the text colour (0: none)
    context: Context | None = None  # other text at the crop's edges, never in the label
    word_space: float = 0.0  # the width of every space, in em (0: the font's own)
    width_scale: float = 1.0  # the finished crop's width times this (condensed or extended), the label unchanged

    def advance_em(self, char: str) -> float:
        """How far ``char`` moves the pen, in em (before letter spacing)."""
        if char == " " and self.word_space:
            return self.word_space
        return self.font.check.advances.get(char, 0.5)


@dataclass(frozen=True)
class Masks:
    """Coverage masks of the text: single-band images of one size, glyphs and, if drawn, outline and shadow.

    They hold only the part of the canvas where ink can be (``origin`` is its top-left corner on
    the canvas): the geometry is defined on the whole ``canvas``, but most of it is padding that
    every resampling would otherwise pay for.
    """

    glyphs: Image.Image
    outline: Image.Image | None  # covers the glyphs
    shadow: Image.Image | None
    origin: tuple[int, int]
    canvas: tuple[int, int]  # (width, height)
    # With a plan's context: the sample's own text with its outline ("own"), the neighbouring words
    # ("beside") and the lines above and below ("lines"), each alone; glyphs and outline hold them all.
    parts: dict[str, Image.Image] = field(default_factory=dict)
    reveal: tuple[int, int, int, int] = (0, 0, 0, 0)  # the context's ``reveal`` in pixels (left, right, above, below)

    def map(
        self, change: Callable[[Image.Image], Image.Image], origin: tuple[int, int], canvas: tuple[int, int]
    ) -> Masks:
        """The same change applied to every layer, the result placed at ``origin`` on ``canvas``."""
        return Masks(
            change(self.glyphs),
            None if self.outline is None else change(self.outline),
            None if self.shadow is None else change(self.shadow),
            origin,
            canvas,
            {name: change(layer) for name, layer in self.parts.items()},
            self.reveal,
        )


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Grey-level dilation of a (height, width) uint8 mask by a disc of ``radius`` pixels.

    The disc is the pen FreeType's stroker draws an outline with; dilating the glyphs' coverage
    keeps their anti-aliased edges and costs a few array maxima instead of a second stroked
    rendering (which cost 2.5 plain ones). Nothing may lie within ``radius`` of the edges.
    """
    if radius <= 0:
        return mask
    spans = [mask]  # spans[h]: maximum over horizontal shifts -h..h
    for shift in range(1, radius + 1):
        span = spans[-1].copy()
        np.maximum(span[:, shift:], mask[:, :-shift], out=span[:, shift:])
        np.maximum(span[:, :-shift], mask[:, shift:], out=span[:, :-shift])
        spans.append(span)
    dilated = spans[radius].copy()
    for rise in range(1, radius + 1):
        span = spans[int(math.sqrt((radius + 0.5) ** 2 - rise**2))]
        np.maximum(dilated[rise:], span[:-rise], out=dilated[rise:])
        np.maximum(dilated[:-rise], span[rise:], out=dilated[:-rise])
    return dilated


def _draw_text(
    layer: Image.Image, text: str, font: ImageFont.FreeTypeFont, origin: tuple[int, int], advances: list[float],
    spacing: float, rises: list[int],
) -> None:  # fmt: skip
    """Draw ``text`` at ``origin``: in one go, or character by character ``spacing`` further apart, each moved
    by its rise (when ``rises`` is not empty).

    Spaced, each distinct character is drawn once, then pasted wherever it occurs: a line of 60
    characters has about 25 distinct ones, and drawing is most of the cost.
    """
    if not rises:
        ImageDraw.Draw(layer).text(origin, text, font=font, fill=255)
        return
    margin = int(font.size) // 2  # room for overhangs (swashes, italics) around each character's advance box
    height = sum(font.getmetrics()) + 2 * margin
    drawn: dict[str, tuple[Image.Image, int, int] | None] = {}  # the character's ink and where it lies
    x = float(origin[0])
    for char, advance, rise in zip(text, advances, rises, strict=True):
        if char not in drawn:
            glyph = Image.new("L", (math.ceil(advance) + 2 * margin, height))
            ImageDraw.Draw(glyph).text((margin, margin), char, font=font, fill=255)
            ink = glyph.getbbox()
            drawn[char] = None if ink is None else (glyph.crop(ink), ink[0] - margin, ink[1] - margin)
        placed = drawn[char]
        if placed is not None:
            ink_image, left, top = placed
            left, top = round(x) + left, origin[1] + rise + top
            layer.paste(255, (left, top, left + ink_image.width, top + ink_image.height), ink_image)
        x += advance + spacing


def _draw_words(layer: Image.Image, words: list[str], font: ImageFont.FreeTypeFont, advance: Callable[[str], float],
                x: float, y: int, space: float) -> None:  # fmt: skip
    """Draw ``words`` from ``x``, ``space`` pixels apart, again and again up to the layer's right edge."""
    if not words:
        return
    draw = ImageDraw.Draw(layer)
    while x < layer.width:
        for word in words:
            draw.text((round(x), y), word, font=font, fill=255)
            x += advance(word) + space
            if x >= layer.width:
                return


def _inner_letters(text: str) -> list[int]:
    """Positions of the letters with a letter on each side: where a logo shifts one (T[E]X, L[A]TEX)."""
    return [i for i in range(1, len(text) - 1) if text[i - 1].isalpha() and text[i].isalpha() and text[i + 1].isalpha()]


def _glyph_ink_width(font: ImageFont.FreeTypeFont, char: str) -> int:
    left, _, right, _ = font.getbbox(char)
    return max(0, round(right - left))


def draw_masks(plan: Plan, rng: random.Random, config: SynthConfig) -> Masks:
    """Glyph, outline and shadow masks of the plan's text, on a canvas with room for what reaches past its advance."""
    size = plan.size
    border = max(1, round(size * rng.uniform(*config.border_range))) if rng.random() < config.p_border else 0
    shadow = rng.random() < config.p_shadow
    # Drawn with the same generator only where the preset asks, so older presets keep their images.
    jitter = 0.0
    if config.p_baseline_jitter and rng.random() < config.p_baseline_jitter:
        jitter = rng.uniform(*config.baseline_jitter_range) * size
    # Advances from the font check (em units): no layout just to measure the text.
    em_advances = plan.font.check.advances

    def advance(text: str) -> float:
        return sum(em_advances.get(char, 0.5) for char in text) * size

    advances = [plan.advance_em(char) * size for char in plan.text]
    width = sum(advances) + plan.spacing * (len(advances) - 1)
    spaced = plan.spacing or jitter or plan.word_space  # drawn one character at a time
    rises = [round(rng.uniform(-jitter, jitter)) for _ in plan.text] if spaced else []
    shift = 0  # drawn only where the preset asks, so older presets keep their images
    # Only wide letters: a narrow one (i, l, t) moved and tucked among its neighbours reads as none.
    inner = _inner_letters(plan.text) if config.p_shifted_letter else []
    inner = [i for i in inner if plan.advance_em(plan.text[i]) >= 0.5]
    if inner and rng.random() < config.p_shifted_letter:
        index = rng.choice(inner)
        lowered = rng.random() < 2 / 3 or plan.text[index] in "gjpqy"  # a raised p reads as P
        shift = round(rng.uniform(*config.shifted_letter_range) * size) * (1 if lowered else -1)
        rises = rises or [0] * len(plan.text)
        rises[index] += shift  # positive: lowered
        # A lowered letter tucks under its neighbours' arms (T, X); a raised one would run into them.
        for neighbour in (index - 1, index) if lowered else ():
            advances[neighbour] -= rng.uniform(*config.letter_tuck_range) * size  # it and the next one come closer
        width = sum(advances) + plan.spacing * (len(advances) - 1)
    path = openable(plan.font.face.path)
    # One character at a time needs no shaping: the basic layout draws it in half the time.
    font = ImageFont.truetype(path, size, layout_engine=ImageFont.Layout.BASIC) if rises else load_font(path, size)
    ascent, descent = font.getmetrics()
    # Room for what reaches past the advance box: italic overhangs, outlines, shadows.
    pad = size // 4 + border + plan.fake_bold + (size // 8 if shadow else 0) + math.ceil(jitter) + abs(shift)
    context = plan.context
    left_word = right_word = ""
    reveal = (0, 0, 0, 0)
    before = after = above = below = 0  # room on the canvas for the context, in pixels
    if context is not None:
        gap = context.gap * size
        # A neighbour whose nearest glyph is narrow (l, i, a dot) would show all of it or nothing: left out.
        left_ink = _glyph_ink_width(font, context.left[-1]) if context.left else 0
        right_ink = _glyph_ink_width(font, context.right[0]) if context.right else 0
        left_word = context.left if left_ink >= 0.3 * size else ""
        right_word = context.right if right_ink >= 0.3 * size else ""
        before = math.ceil(advance(left_word) + gap) if left_word else 0
        after = math.ceil(gap + advance(right_word)) if right_word else 0
        leading = round(context.leading * (ascent + descent))
        above, below = (leading if context.above else 0), (leading if context.below else 0)
        reveal = (
            max(1, round(context.reveal[0] * left_ink)) if left_word else 0,
            max(1, round(context.reveal[1] * right_ink)) if right_word else 0,
            max(1, round(context.reveal[2] * size)) if above else 0,
            max(1, round(context.reveal[3] * size)) if below else 0,
        )
    origin = (pad + before, pad + above)
    canvas = (math.ceil(width) + 2 * pad + before + after, ascent + descent + 2 * pad + above + below)
    layer = Image.new("L", canvas)
    _draw_text(layer, plan.text, font, origin, advances, plan.spacing, rises)
    underline = rng.random() < config.p_underline
    line_y, line_width = origin[1] + ascent + max(1, descent // 2), max(1, size // 18)
    context_layers: dict[str, Image.Image] = {}
    if context is not None:
        own = layer.copy()
        beside = Image.new("L", canvas)
        if left_word:
            ImageDraw.Draw(beside).text((origin[0] - before, origin[1]), left_word, font=font, fill=255)
        if right_word:
            ImageDraw.Draw(beside).text((round(origin[0] + width + gap), origin[1]), right_word, font=font, fill=255)
        lines = Image.new("L", canvas)
        start = -context.phase * size
        _draw_words(lines, context.above.split(), font, advance, start, origin[1] - above, 0.3 * size)
        _draw_words(lines, context.below.split(), font, advance, start, origin[1] + below, 0.3 * size)
        context_layers = {"own": own, "beside": beside, "lines": lines}
        layer = ImageChops.lighter(ImageChops.lighter(own, beside), lines)
    # Keep only where ink can be: the glyphs, the underline, and what outline and shadow add to them.
    left, top, right, bottom = layer.getbbox() or (pad, pad, pad + 1, pad + 1)
    if underline:
        left, right = min(left, origin[0] - 1), max(right, origin[0] + math.ceil(width) + 2)
        top, bottom = min(top, line_y - line_width), max(bottom, line_y + line_width + 1)
    reach = plan.fake_bold + border + (size // 8 + size // 24 + 1 if shadow else 0) + 1
    box = (max(0, left - reach), max(0, top - reach), min(canvas[0], right + reach), min(canvas[1], bottom + reach))
    glyph_layer = layer.crop(box)
    parts = {name: part.crop(box) for name, part in context_layers.items()}
    outline_layer = None
    if plan.fake_bold or border:  # fake bold is an outline in the text's colour
        glyphs = dilate(np.asarray(glyph_layer), plan.fake_bold)
        outline_layer = Image.fromarray(dilate(glyphs, border), "L") if border else None
        glyph_layer = Image.fromarray(glyphs, "L") if plan.fake_bold else glyph_layer
        # The parts measure where ink lies, outline included.
        parts = {name: Image.fromarray(dilate(np.asarray(part), plan.fake_bold + border), "L")
                 for name, part in parts.items()}  # fmt: skip
    if underline:
        y = line_y - box[1]
        for under in (glyph_layer, parts.get("own")):
            if under is not None:
                ImageDraw.Draw(under).line((origin[0] - box[0], y, origin[0] + width - box[0], y), fill=255,
                                           width=line_width)  # fmt: skip
    shade = None
    if shadow:
        dx, dy = (max(1, round(size * rng.uniform(*config.shadow_offset_range))) for _ in range(2))
        shade = Image.new("L", glyph_layer.size)
        shade.paste(outline_layer if outline_layer is not None else glyph_layer, (dx, dy))
        if rng.random() < 0.5:
            shade = shade.filter(ImageFilter.BoxBlur(max(1, size // 24)))
    return Masks(glyph_layer, outline_layer, shade, (box[0], box[1]), canvas, parts, reveal)


def _perspective(dest: np.ndarray, src: np.ndarray) -> np.ndarray:
    """The 3x3 projective map taking the 4 ``dest`` corners to the 4 ``src`` corners (PIL's direction)."""
    rows = []
    for (x, y), (u, v) in zip(dest, src, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    solved = np.linalg.solve(np.array(rows, dtype=np.float64), src.reshape(8).astype(np.float64))
    return np.append(solved, 1.0).reshape(3, 3)


def _translated(matrix: np.ndarray, dest_origin: tuple[int, int], src_origin: tuple[int, int]) -> list[float]:
    """PIL's 8 coefficients of ``matrix`` with dest and src coordinates measured from other origins."""
    to_dest = np.array([[1.0, 0, dest_origin[0]], [0, 1, dest_origin[1]], [0, 0, 1]])
    from_src = np.array([[1.0, 0, -src_origin[0]], [0, 1, -src_origin[1]], [0, 0, 1]])
    moved = from_src @ matrix @ to_dest
    return [float(value) for value in (moved / moved[2, 2]).reshape(9)[:8]]


def bend(masks: Masks, plan: Plan, rng: random.Random, config: SynthConfig) -> Masks:
    """Shear, rotate and distort in perspective (one resampling), then curve along an arc."""
    width, height = masks.canvas
    corners = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float64)
    moved = corners.copy()
    bent = False
    upright = plan.context is not None and plan.context.upright  # lines above or below stay clear of the text
    if rng.random() < config.p_shear:
        moved[:, 0] += rng.uniform(-config.shear_amount, config.shear_amount) * (moved[:, 1] - height / 2)
        bent = True
    if rng.random() < config.p_rotation and not upright:
        angle = math.radians(rng.uniform(-config.rotation_degrees, config.rotation_degrees))
        centre = moved.mean(axis=0)
        rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        moved = (moved - centre) @ rotation.T + centre
        bent = True
    perspective = rng.random() < config.p_perspective and not upright
    if perspective:
        jitter = config.perspective_strength * plan.size
        moved += np.array([[rng.uniform(-jitter, jitter) for _ in range(2)] for _ in range(4)])
        bent = True
    if bent:
        moved -= moved.min(axis=0)
        size = (math.ceil(moved[:, 0].max()) + 1, math.ceil(moved[:, 1].max()) + 1)
        backward = _perspective(moved, corners)  # output pixel -> canvas pixel, as PIL samples
        # Resample only the box where the layers land (a pixel more for the bilinear filter).
        left, top = masks.origin
        right, bottom = left + masks.glyphs.width, top + masks.glyphs.height
        landed = np.linalg.inv(backward) @ np.array([[left, right, right, left], [top, top, bottom, bottom], [1.0] * 4])
        landed = landed[:2] / landed[2]
        x0, y0 = (max(0, math.floor(value) - 1) for value in landed.min(axis=1))
        x1, y1 = (min(limit, math.ceil(value) + 2) for value, limit in zip(landed.max(axis=1), size, strict=True))
        coefficients = _translated(backward, (x0, y0), (left, top))
        # Shear and rotation alone are affine: Pillow's affine path skips a division per pixel.
        kind = Image.Transform.PERSPECTIVE if perspective else Image.Transform.AFFINE
        coefficients = coefficients if perspective else coefficients[:6]
        masks = masks.map(
            lambda layer: layer.transform((x1 - x0, y1 - y0), kind, coefficients, Image.Resampling.BILINEAR),
            (x0, y0),
            size,
        )
    if rng.random() < config.p_curve and not upright:
        amplitude = rng.uniform(0.4, 1.0) * config.curve_amount * plan.size * rng.choice((-1, 1))
        pad = math.ceil(abs(amplitude)) + 1
        canvas_width, canvas_height = masks.canvas
        columns = np.arange(canvas_width)
        offsets = np.rint(amplitude * (1 - ((columns - canvas_width / 2) / max(canvas_width / 2, 1)) ** 2)).astype(
            np.int64
        )
        start = masks.origin[0]
        layer_offsets = offsets[start : start + masks.glyphs.width] + pad
        masks = masks.map(lambda layer: _curve(layer, layer_offsets, 2 * pad), masks.origin,
                          (canvas_width, canvas_height + 2 * pad))  # fmt: skip
    return masks


def _curve(layer: Image.Image, offsets: np.ndarray, grow: int) -> Image.Image:
    """Column c moved down by ``offsets[c]`` (0..``grow``) pixels, into a layer ``grow`` pixels taller."""
    array = np.asarray(layer)
    height, width = array.shape
    curved = np.zeros((height + grow, width), dtype=array.dtype)
    # An arc moves runs of neighbouring columns by the same amount: one copy per run.
    starts = np.flatnonzero(np.diff(offsets, prepend=offsets[0] - 1))
    for start, end in zip(starts, [*starts[1:], width], strict=True):
        top = int(offsets[start])
        curved[top : top + height, start:end] = array[:, start:end]
    return Image.fromarray(curved, "L")


def _ink(layer: Image.Image) -> np.ndarray:
    """Where a mask counts as ink (coverage of at least ``_INK``), as booleans."""
    return np.asarray(layer) >= _INK


def crop_box(masks: Masks, plan: Plan, rng: random.Random, config: SynthConfig) -> tuple[int, int, int, int]:
    """The glyphs' and outline's ink box on the canvas, with tight (0-2 px at output size) or loose margins.

    With a context, a side that has a neighbouring word or line ends inside it instead, ``reveal``
    pixels past its nearest ink: a cut glyph, never a whole one.
    """
    own = masks.parts.get("own")
    covered = masks.outline if masks.outline is not None else masks.glyphs  # the outline covers the glyphs
    if own is not None:
        covered = own
    ink = ImageChops.subtract(covered, Image.new("L", covered.size, _INK - 1)).getbbox()  # values >= _INK
    if ink is None:  # nothing drawn (cannot happen for non-space text): keep everything
        return (0, 0, *masks.canvas)
    left, top, right, bottom = (edge + offset for edge, offset in zip(ink, masks.origin * 2, strict=True))
    scale = plan.size / config.height  # render pixels per output pixel, roughly
    if rng.random() < config.p_loose_crop:
        margins = [rng.uniform(*config.loose_margin_range) * plan.size for _ in range(4)]
        margins[0] *= rng.uniform(0.3, 1.5)  # horizontal margins vary more than vertical ones
        margins[2] *= rng.uniform(0.3, 1.5)
    else:
        margins = [rng.uniform(0, 2) * scale for _ in range(4)]
    left_m, top_m, right_m, bottom_m = (round(m) for m in margins)
    box = [left - left_m, top - top_m, right + right_m, bottom + bottom_m]
    if own is not None:
        box = _cut_into_context(masks, ink, box)
    return box[0], box[1], box[2], box[3]


def _cut_into_context(masks: Masks, own: tuple[int, int, int, int], box: list[int]) -> list[int]:
    """``box`` with each side that has context moved to ``reveal`` pixels past the context's nearest ink."""
    x0, y0 = masks.origin
    own_left, own_top, own_right, own_bottom = own  # on the layers
    reveal_left, reveal_right, reveal_above, reveal_below = masks.reveal
    columns = np.flatnonzero(_ink(masks.parts["beside"]).any(axis=0))
    middle = (own_left + own_right) / 2  # the left word lies wholly left of it, the right word right
    if reveal_left and (before := columns[columns < middle]).size:
        box[0] = min(own_left, int(before[-1]) + 1 - reveal_left) + x0
    if reveal_right and (after := columns[columns >= middle]).size:
        box[2] = max(own_right, int(after[0]) + reveal_right) + x0
    # The lines above and below, under the box's final columns (the text is upright: they never reach its rows).
    lines = _ink(masks.parts["lines"])[:, max(0, box[0] - x0) : max(0, box[2] - x0)]
    rows = np.flatnonzero(lines.any(axis=1))
    if reveal_above and (higher := rows[rows < own_top]).size:
        box[1] = min(own_top, int(higher[-1]) + 1 - reveal_above) + y0
    if reveal_below and (lower := rows[rows >= own_bottom]).size:
        box[3] = max(own_bottom, int(lower[0]) + reveal_below) + y0
    return box


def _text_colour(rng: random.Random, under: float, spread: float, min_contrast: float) -> np.ndarray:
    """A colour whose luminance differs from ``under`` by at least ``min_contrast`` (plus the background's spread)."""
    needed = min(0.9, min_contrast + spread)
    darker_ok, lighter_ok = under - needed >= 0, under + needed <= 1
    if darker_ok and (not lighter_ok or rng.random() < 0.5 + 0.4 * (under - 0.5)):
        target = rng.uniform(0, under - needed)
    elif lighter_ok:
        target = rng.uniform(under + needed, 1)
    else:
        target = 0.0 if under > 0.5 else 1.0
    colour = random_colour(rng) if rng.random() < 0.6 else np.full(3, 128.0)
    current = float(luminance(colour))
    if current > target:
        colour = colour * (target / max(current, 1e-6))
    else:
        colour = colour + (255 - colour) * ((target - current) / max(1 - current, 1e-6))
    return np.clip(colour, 0, 255)


def _paint(canvas: Image.Image, colour: np.ndarray, mask: Image.Image, opacity: float = 1.0) -> None:
    """Paint ``colour`` over ``canvas`` where ``mask`` covers it, times ``opacity`` (in place, 8-bit)."""
    if opacity < 1.0:
        mask = ImageChops.multiply(mask, Image.new("L", mask.size, round(255 * opacity)))
    # Pasting a flat image is faster in Pillow than pasting a colour through a mask.
    canvas.paste(Image.new("RGB", canvas.size, rgb(colour)), (0, 0), mask)


def compose(
    masks: Masks, box: tuple[int, int, int, int], stroke: float, rng: random.Random, np_rng: np.random.Generator,
    config: SynthConfig, width_scale: float = 1.0,
) -> Image.Image:  # fmt: skip
    """Crop the masks, scale them to the output height (and the width by ``width_scale``), and colour
    them over a background (RGB).

    Compositing is linear in the masks, so scaling the masks first is the same as scaling the
    finished image, at a fraction of the pixels.
    """
    width = max(4, round((box[2] - box[0]) * config.height * width_scale / (box[3] - box[1])))
    size = (width, config.height)

    left, top = masks.origin
    on_layer = (box[0] - left, box[1] - top, box[2] - left, box[3] - top)

    def scaled(layer: Image.Image) -> Image.Image:
        return layer.crop(on_layer).resize(size, Image.Resampling.BOX)  # crop pads with zeros past the layer

    glyphs = scaled(masks.glyphs)
    if config.p_dark_text and rng.random() < config.p_dark_text:  # printed ink on paper
        canvas = paper(rng, np_rng, width, config.height) if rng.random() > config.p_texture else background(
            rng, np_rng, width, config.height, 0.0, 1.0, config.natural_contrast_range
        )  # fmt: skip
        canvas = ImageChops.lighter(canvas, Image.new("RGB", size, (185, 185, 185)))  # lifted to paper: ink contrasts
        ink = rng.uniform(0, 70)
        text = np.clip(np.array([ink, ink, ink + rng.uniform(0, 50) * (rng.random() < 0.2)]), 0, 255)
        _paint(canvas, text, glyphs, rng.uniform(0.85, 1.0) if rng.random() < 0.3 else 1.0)
        return canvas
    canvas = background(
        rng, np_rng, width, config.height, config.p_natural, config.p_texture, config.natural_contrast_range
    )
    # The background's luminance under the glyphs, weighted by their coverage: mean and spread.
    weight = np.frombuffer(glyphs.tobytes(), dtype=np.uint8).astype(np.float64)
    shade_under = np.frombuffer(canvas.convert("L").tobytes(), dtype=np.uint8).astype(np.float64)
    total = float(weight.sum()) or 1.0
    under = float(shade_under @ weight) / total
    spread = math.sqrt(max(0.0, float((shade_under * shade_under) @ weight) / total - under * under)) / 255
    under /= 255
    # Light weights fade to grey when scaled down: they need more colour contrast to stay as legible.
    text = _text_colour(rng, under, spread, config.min_contrast + max(0.0, 0.07 - stroke) * 4)
    if masks.shadow is not None:
        shade = scaled(masks.shadow)
        if shade.getbbox() is not None:
            dark = float(luminance(text)) > 0.5
            shadow_colour = np.full(3, 20.0) if dark or rng.random() < 0.7 else np.full(3, 235.0)
            _paint(canvas, shadow_colour, shade, rng.uniform(0.4, 0.9))
    if masks.outline is not None:
        border = _text_colour(rng, float(luminance(text)), 0.0, 0.35)
        _paint(canvas, border, scaled(masks.outline))
    opacity = rng.uniform(0.8, 1.0) if rng.random() < 0.3 else 1.0
    _paint(canvas, text, glyphs, opacity)
    return canvas


def render(plan: Plan, rng: random.Random, np_rng: np.random.Generator, config: SynthConfig) -> Image.Image:
    """The RGB image of ``plan`` at ``config.height``."""
    masks = bend(draw_masks(plan, rng, config), plan, rng, config)
    box = crop_box(masks, plan, rng, config)
    image = compose(masks, box, plan.font.check.stroke, rng, np_rng, config, plan.width_scale)
    return degrade(image, rng, np_rng, config)
