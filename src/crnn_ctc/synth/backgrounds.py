"""What the text is drawn on: crops of natural photographs, procedural textures, or flat paper.

The photographs are the sample images that ship inside the scikit-image wheel (no download): we
read the files directly, without importing scikit-image. Images that contain text of their own
(``text.png``, ``page.png``, the logo) are left out: letters in the background that the label does
not mention would teach the model to ignore real letters.
"""

from __future__ import annotations

import importlib.util
import random
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

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
