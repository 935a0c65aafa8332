"""One synthetic word image, in the spirit of Synth90k (Jaderberg et al., 2014).

The text is drawn as masks (glyphs, outline, shadow) at a larger size than the output, bent
(shear, rotation, perspective, arc), cropped around the glyphs' own ink with tight or loose
margins (never cutting a glyph: labels never lie), coloured against a background with enough
contrast, then degraded (blur, low resolution, noise, JPEG) at the output height.
"""

from __future__ import annotations

import io
import math
import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .backgrounds import background, luminance, paper, random_colour
from .config import SynthConfig
from .fonts import SelectedFont, load_font

_INK = 24  # mask value (of 255) from which a pixel counts as ink when finding the text's box
_INK_TABLE = [0] * _INK + [255] * (256 - _INK)


@dataclass(frozen=True)
class Plan:
    """The cheap decisions about a sample, made before any pixel is drawn."""

    text: str  # what is drawn
    label: str  # what the label says (text, case-folded where the charset has one case)
    font: SelectedFont
    size: int  # pixels per em when drawn
    spacing: float  # extra pixels between characters
    fake_bold: int  # outline width in the text colour (0: none)


def draw_masks(plan: Plan, rng: random.Random, config: SynthConfig) -> tuple[Image.Image, bool]:
    """Glyph, outline and shadow masks as the R, G, B bands of one image, and whether there is an outline."""
    font = load_font(plan.font.face.path, plan.size)
    size = plan.size
    border = max(1, round(size * rng.uniform(*config.border_range))) if rng.random() < config.p_border else 0
    shadow = rng.random() < config.p_shadow
    ascent, descent = font.getmetrics()
    # Drawn with the same generator only where the preset asks, so older presets keep their images.
    jitter = 0.0
    if config.p_baseline_jitter and rng.random() < config.p_baseline_jitter:
        jitter = rng.uniform(*config.baseline_jitter_range) * size
    if plan.spacing or jitter:
        advances = [font.getlength(char) + plan.spacing for char in plan.text]
        width = sum(advances) - plan.spacing
        rises = [round(rng.uniform(-jitter, jitter)) for _ in plan.text]
    else:
        advances = []
        width = font.getlength(plan.text)
    # Room for what reaches past the advance box: italic overhangs, outlines, shadows.
    pad = size // 4 + border + plan.fake_bold + (size // 8 if shadow else 0) + math.ceil(jitter)
    canvas = (math.ceil(width) + 2 * pad, ascent + descent + 2 * pad)
    glyphs = Image.new("L", canvas)
    outline = Image.new("L", canvas) if border else None
    for layer, stroke in ((glyphs, plan.fake_bold), (outline, plan.fake_bold + border)):
        if layer is None:
            continue
        draw = ImageDraw.Draw(layer)
        if advances:
            x = float(pad)
            for char, advance, rise in zip(plan.text, advances, rises, strict=True):
                draw.text((x, pad + rise), char, font=font, fill=255, stroke_width=stroke, stroke_fill=255)
                x += advance
        else:
            draw.text((pad, pad), plan.text, font=font, fill=255, stroke_width=stroke, stroke_fill=255)
    if rng.random() < config.p_underline:
        y = pad + ascent + max(1, descent // 2)
        ImageDraw.Draw(glyphs).line((pad, y, pad + width, y), fill=255, width=max(1, size // 18))
    base = outline if outline is not None else glyphs
    if shadow:
        dx, dy = (max(1, round(size * rng.uniform(*config.shadow_offset_range))) for _ in range(2))
        shade = Image.new("L", canvas)
        shade.paste(base, (dx, dy))
        if rng.random() < 0.5:
            shade = shade.filter(ImageFilter.BoxBlur(max(1, size // 24)))
    else:
        shade = Image.new("L", canvas)
    return Image.merge("RGB", (glyphs, outline if outline is not None else glyphs, shade)), outline is not None


def _perspective_coefficients(dest: np.ndarray, src: np.ndarray) -> list[float]:
    """The 8 coefficients PIL needs to map output (dest) corners to input (src) corners."""
    rows = []
    for (x, y), (u, v) in zip(dest, src, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    return [float(c) for c in np.linalg.solve(np.array(rows, dtype=np.float64), src.reshape(8).astype(np.float64))]


def bend(masks: Image.Image, plan: Plan, rng: random.Random, config: SynthConfig) -> Image.Image:
    """Shear, rotate and distort in perspective (one resampling), then curve along an arc."""
    width, height = masks.size
    corners = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float64)
    moved = corners.copy()
    bent = False
    if rng.random() < config.p_shear:
        moved[:, 0] += rng.uniform(-config.shear_amount, config.shear_amount) * (moved[:, 1] - height / 2)
        bent = True
    if rng.random() < config.p_rotation:
        angle = math.radians(rng.uniform(-config.rotation_degrees, config.rotation_degrees))
        centre = moved.mean(axis=0)
        rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        moved = (moved - centre) @ rotation.T + centre
        bent = True
    if rng.random() < config.p_perspective:
        jitter = config.perspective_strength * plan.size
        moved += np.array([[rng.uniform(-jitter, jitter) for _ in range(2)] for _ in range(4)])
        bent = True
    if bent:
        moved -= moved.min(axis=0)
        size = (math.ceil(moved[:, 0].max()) + 1, math.ceil(moved[:, 1].max()) + 1)
        masks = masks.transform(
            size, Image.Transform.PERSPECTIVE, _perspective_coefficients(moved, corners), Image.Resampling.BILINEAR
        )
    if rng.random() < config.p_curve:
        masks = _curve(masks, rng.uniform(0.4, 1.0) * config.curve_amount * plan.size * rng.choice((-1, 1)))
    return masks


def _curve(masks: Image.Image, amplitude: float) -> Image.Image:
    """Shift each column up or down along a parabola of height ``amplitude`` (pixels)."""
    array = np.asarray(masks)
    height, width = array.shape[:2]
    pad = math.ceil(abs(amplitude)) + 1
    padded = np.zeros((height + 2 * pad, width, array.shape[2]), dtype=array.dtype)
    padded[pad : pad + height] = array
    columns = np.arange(width)
    offsets = np.rint(amplitude * (1 - ((columns - width / 2) / max(width / 2, 1)) ** 2)).astype(np.int64)
    # Column c moves down by offsets[c]: out[r, c] = padded[r - offsets[c], c]; the padding is blank.
    rows = np.clip(np.arange(height + 2 * pad)[:, None] - offsets[None, :], 0, height + 2 * pad - 1)
    return Image.fromarray(padded[rows, columns[None, :]])


def crop_box(masks: Image.Image, plan: Plan, rng: random.Random, config: SynthConfig) -> tuple[int, int, int, int]:
    """The glyphs' and outline's ink box, with tight (0-2 px at output size) or loose margins."""
    # Band G holds the outline, which covers the glyphs (it is the glyphs when there is no outline).
    box = masks.getchannel(1).point(_INK_TABLE).getbbox()
    if box is None:  # nothing drawn (cannot happen for non-space text): keep everything
        return (0, 0, *masks.size)
    left, top, right, bottom = box
    scale = plan.size / config.height  # render pixels per output pixel, roughly
    if rng.random() < config.p_loose_crop:
        margins = [rng.uniform(*config.loose_margin_range) * plan.size for _ in range(4)]
        margins[0] *= rng.uniform(0.3, 1.5)  # horizontal margins vary more than vertical ones
        margins[2] *= rng.uniform(0.3, 1.5)
    else:
        margins = [rng.uniform(0, 2) * scale for _ in range(4)]
    left_m, top_m, right_m, bottom_m = (round(m) for m in margins)
    return left - left_m, top - top_m, right + right_m, bottom + bottom_m


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


def compose(
    masks: Image.Image, box: tuple[int, int, int, int], has_outline: bool, stroke: float, rng: random.Random,
    np_rng: np.random.Generator, config: SynthConfig,
) -> np.ndarray:  # fmt: skip
    """Crop the masks, scale them to the output height, and colour them over a background (RGB float32).

    Compositing is linear in the masks, so scaling the masks first is the same as scaling the
    finished image, at a twentieth of the pixels.
    """
    cropped = masks.crop(box)  # PIL pads with zeros where a loose margin leaves the canvas
    width = max(4, round(cropped.width * config.height / cropped.height))
    layers = np.asarray(cropped.resize((width, config.height), Image.Resampling.BOX), dtype=np.float32) / 255.0
    height, width = layers.shape[:2]
    if config.p_dark_text and rng.random() < config.p_dark_text:  # printed ink on paper
        canvas = paper(rng, np_rng, width, height) if rng.random() > config.p_texture else background(
            rng, np_rng, width, height, 0.0, 1.0, config.natural_contrast_range
        )  # fmt: skip
        canvas = np.maximum(canvas, 185.0)  # a texture is lifted to paper's lightness: the ink must contrast
        ink = rng.uniform(0, 70)
        text = np.clip(np.array([ink, ink, ink + rng.uniform(0, 50) * (rng.random() < 0.2)]), 0, 255)
        canvas += (text - canvas) * layers[..., 0:1] * (rng.uniform(0.85, 1.0) if rng.random() < 0.3 else 1.0)
        return canvas
    canvas = background(rng, np_rng, width, height, config.p_natural, config.p_texture, config.natural_contrast_range)
    glyphs, outline, shade = layers[..., 0:1], layers[..., 1:2], layers[..., 2:3]
    weight = glyphs[..., 0]
    bg_luminance = luminance(canvas)
    total = float(weight.sum()) or 1.0
    under = float((bg_luminance * weight).sum() / total)
    spread = float(np.sqrt(((bg_luminance - under) ** 2 * weight).sum() / total))
    # Light weights fade to grey when scaled down: they need more colour contrast to stay as legible.
    text = _text_colour(rng, under, spread, config.min_contrast + max(0.0, 0.07 - stroke) * 4)
    if shade.any():
        dark = float(luminance(text)) > 0.5
        shadow_colour = np.full(3, 20.0) if dark or rng.random() < 0.7 else np.full(3, 235.0)
        canvas += (shadow_colour - canvas) * shade * rng.uniform(0.4, 0.9)
    if has_outline:
        text_luminance = float(luminance(text))
        border = _text_colour(rng, text_luminance, 0.0, 0.35)
        canvas += (border - canvas) * outline
    opacity = rng.uniform(0.8, 1.0) if rng.random() < 0.3 else 1.0
    canvas += (text - canvas) * glyphs * opacity
    return canvas


def degrade(canvas: np.ndarray, rng: random.Random, np_rng: np.random.Generator, config: SynthConfig) -> Image.Image:
    """Lose resolution, blur, add noise and JPEG artifacts, at the output height."""
    image = Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8))
    width, height = image.size
    if rng.random() < config.p_low_resolution:
        low_height = max(6, round(height * rng.uniform(*config.low_resolution_range)))
        downscale = rng.choice((Image.Resampling.BILINEAR, Image.Resampling.BOX, Image.Resampling.NEAREST))
        low = image.resize((max(2, round(width * low_height / height)), low_height), downscale)
        upscale = rng.choice((Image.Resampling.NEAREST, Image.Resampling.BILINEAR, Image.Resampling.BICUBIC))
        image = low.resize((width, height), upscale)
    if rng.random() < config.p_blur:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(*config.blur_range)))
    if rng.random() < config.p_motion_blur:
        length = rng.choice((3, 5))
        kernel = [0.0] * (length * length)
        row = length // 2 if rng.random() < 0.7 else rng.randrange(length)
        kernel[row * length : (row + 1) * length] = [1.0] * length
        image = image.filter(ImageFilter.Kernel((length, length), kernel, scale=length))
    if rng.random() < config.p_noise:
        array = np.asarray(image, dtype=np.float32)
        sigma = rng.uniform(*config.noise_range)
        shape = array.shape if rng.random() < 0.5 else (*array.shape[:2], 1)  # colour or luminance noise
        array = array + np_rng.normal(0, sigma, shape).astype(np.float32)
        image = Image.fromarray(np.clip(array, 0, 255).astype(np.uint8))
    if rng.random() < config.p_grayscale:
        image = image.convert("L").convert("RGB")
    if rng.random() < config.p_invert:
        image = Image.eval(image, lambda value: 255 - value)
    if config.p_binarize and rng.random() < config.p_binarize:
        image = _binarize(image, rng, np_rng)
    if rng.random() < config.p_jpeg:
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=rng.randint(*config.jpeg_quality_range))
        buffer.seek(0)
        with Image.open(buffer) as decoded:
            image = decoded.convert("RGB")
    return image


def _binarize(image: Image.Image, rng: random.Random, np_rng: np.random.Generator) -> Image.Image:
    """Black and white as a cheap scanner makes it: a threshold between ink and paper, with noise
    that breaks thin strokes and speckles the page a little."""
    gray = np.asarray(image.convert("L"), dtype=np.float32)
    low, high = np.percentile(gray, 5), np.percentile(gray, 95)
    threshold = low + (high - low) * rng.uniform(0.35, 0.65)
    noisy = gray + np_rng.normal(0, rng.uniform(0, 18), gray.shape).astype(np.float32)
    binary = np.where(noisy > threshold, 255, 0).astype(np.uint8)
    return Image.fromarray(binary).convert("RGB")


def render(plan: Plan, rng: random.Random, np_rng: np.random.Generator, config: SynthConfig) -> Image.Image:
    """The RGB image of ``plan`` at ``config.height``."""
    masks, has_outline = draw_masks(plan, rng, config)
    masks = bend(masks, plan, rng, config)
    box = crop_box(masks, plan, rng, config)
    return degrade(compose(masks, box, has_outline, plan.font.check.stroke, rng, np_rng, config), rng, np_rng, config)
