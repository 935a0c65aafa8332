"""Today's renderer (render.py and backgrounds.py as of commit 015f9f8), kept for benchmarks/synth.py only.

Why it is here: the issue asks for the new renderer's speed "side by side with today's code path in
one run", and a number from another day on another load says little on a shared machine. This is
the old code unchanged (only merged into one file and its imports made absolute); the package never
imports it. ``render`` takes the same ``Plan`` and generators as ``crnn_ctc.synth.render.render``.
"""

from __future__ import annotations

import importlib.util
import io
import math
import random
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from crnn_ctc.synth.config import SynthConfig
from crnn_ctc.synth.fonts import load_font
from crnn_ctc.synth.render import Plan

# -- backgrounds.py --------------------------------------------------------------------------------
# Natural photographs and textures in scikit-image's data folder (as of 0.2x).
NATURAL_IMAGES = (
    "astronaut.png", "brick.png", "camera.png", "cell.png", "chelsea.png", "clock_motion.png", "coffee.png",
    "coins.png", "grass.png", "gravel.png", "hubble_deep_field.jpg", "ihc.png", "moon.png", "motorcycle_left.png",
    "motorcycle_right.png", "retina.jpg", "rocket.jpg",
)  # fmt: skip


def natural_image_dir() -> Path | None:
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    return folder if folder.is_dir() else None


@lru_cache(maxsize=1)
def natural_images() -> tuple[np.ndarray, ...]:
    """The photographs as RGB arrays (loaded once per process; empty if scikit-image is absent)."""
    folder = natural_image_dir()
    images = []
    for name in NATURAL_IMAGES if folder else ():
        path = folder / name  # type: ignore[operator]
        try:
            with Image.open(path) as opened:
                images.append(np.asarray(opened.convert("RGB")))
        except (OSError, ValueError):
            continue
    return tuple(images)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Relative luminance in 0..1 of an RGB uint8 array (or of one colour)."""
    return (rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114) / 255.0


def random_colour(rng: random.Random) -> np.ndarray:
    """A colour biased to what signs and paper show: often grey-ish, sometimes saturated."""
    if rng.random() < 0.4:
        grey = rng.random() * 255
        return np.array([grey, grey, grey]) + np.array([rng.uniform(-12, 12) for _ in range(3)])
    return np.array([rng.random() * 255 for _ in range(3)])


def natural_crop(rng: random.Random, width: int, height: int, contrast: float) -> np.ndarray | None:
    """A random crop of a random photograph, resized to (height, width), its contrast scaled down."""
    images = natural_images()
    if not images:
        return None
    source = images[rng.randrange(len(images))]
    source_height, source_width = source.shape[:2]
    # Crop about as tall as 0.5..4 times the canvas, keeping the canvas's aspect ratio where possible.
    crop_height = int(min(source_height, max(8, height * rng.uniform(0.5, 4.0))))
    crop_width = int(min(source_width, max(8, crop_height * width / max(height, 1))))
    top = rng.randint(0, source_height - crop_height)
    left = rng.randint(0, source_width - crop_width)
    crop = Image.fromarray(source[top : top + crop_height, left : left + crop_width])
    if rng.random() < 0.5:
        crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    array = np.asarray(crop.resize((width, height), Image.Resampling.BILINEAR), dtype=np.float32)
    if rng.random() < 0.3:  # recolour: channels in another order
        array = array[..., rng.sample(range(3), 3)]
    mean = array.mean(axis=(0, 1), keepdims=True)
    shifted_mean = mean * 0.5 + random_colour(rng).astype(np.float32) * 0.5 if rng.random() < 0.5 else mean
    return np.clip(shifted_mean + (array - mean) * contrast, 0, 255)


def texture(rng: random.Random, np_rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A procedural background: gradient, cloudy noise, stripes or paper grain, in float32 RGB."""
    base = random_colour(rng).astype(np.float32)
    kind = rng.randrange(4)
    if kind == 0:  # linear gradient between two colours
        other = np.clip(base + np.array([rng.uniform(-70, 70) for _ in range(3)], dtype=np.float32), 0, 255)
        angle = rng.uniform(0, np.pi)
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        ramp = xs * np.cos(angle) / max(width, 1) + ys * np.sin(angle) / max(height, 1)
        ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
        return base + (other - base) * ramp[..., None]
    if kind == 1:  # cloudy: coarse noise upsampled smoothly
        grid = np_rng.normal(0, rng.uniform(10, 40), (rng.randint(2, 5), rng.randint(3, 12), 3)).astype(np.float32)
        low = Image.fromarray(np.clip(grid + 128, 0, 255).astype(np.uint8))
        cloud = np.asarray(low.resize((width, height), Image.Resampling.BICUBIC), dtype=np.float32) - 128
        return base + cloud
    if kind == 2:  # stripes or ruled lines
        period = rng.uniform(3, max(4.0, height / 2))
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        angle = rng.choice((0.0, np.pi / 2, rng.uniform(0, np.pi)))
        phase = (xs * np.sin(angle) + ys * np.cos(angle)) / period
        wave = (np.sin(phase * 2 * np.pi) > rng.uniform(0.3, 0.9)).astype(np.float32)
        return base + wave[..., None] * np.array([rng.uniform(-50, 50) for _ in range(3)], dtype=np.float32)
    grain = np_rng.normal(0, rng.uniform(3, 14), (height, width, 1)).astype(np.float32)  # paper grain
    return base + grain


def paper(rng: random.Random, np_rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """White, cream or grey-white paper, sometimes with grain or an uneven scan's shading (float32 RGB)."""
    level = rng.uniform(200, 255)
    tint = np.array([rng.uniform(-8, 4), rng.uniform(-8, 2), rng.uniform(-20, 0)], dtype=np.float32)
    canvas: np.ndarray = np.empty((height, width, 3), dtype=np.float32)
    canvas[:] = np.clip(level + tint, 0, 255)
    if rng.random() < 0.3:
        canvas += np_rng.normal(0, rng.uniform(2, 9), (height, width, 1)).astype(np.float32)
    if rng.random() < 0.2:
        ramp = np.linspace(0, 1, width, dtype=np.float32)[None, :, None]
        canvas -= ramp * rng.uniform(0, 40) if rng.random() < 0.5 else (1 - ramp) * rng.uniform(0, 40)
    return np.clip(canvas, 0, 255)


def background(
    rng: random.Random, np_rng: np.random.Generator, width: int, height: int, p_natural: float, p_texture: float,
    contrast_range: tuple[float, float],
) -> np.ndarray:  # fmt: skip
    """An RGB float32 (height, width, 3) canvas: natural crop and/or texture over a flat colour."""
    canvas: np.ndarray = np.empty((height, width, 3), dtype=np.float32)
    canvas[:] = random_colour(rng)
    if rng.random() < p_texture:
        canvas = texture(rng, np_rng, width, height)
    if rng.random() < p_natural:
        crop = natural_crop(rng, width, height, rng.uniform(*contrast_range))
        if crop is not None:
            alpha = rng.uniform(0.4, 1.0)
            canvas = canvas * (1 - alpha) + crop * alpha
    return np.clip(canvas, 0, 255)


# -- render.py --------------------------------------------------------------------------------
_INK = 24  # mask value (of 255) from which a pixel counts as ink when finding the text's box
_INK_TABLE = [0] * _INK + [255] * (256 - _INK)


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
