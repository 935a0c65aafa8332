"""What the text is drawn on: crops of natural photographs, procedural textures, or flat paper.

The photographs are the sample images that ship inside the scikit-image wheel (no download): we
read the files directly, without importing scikit-image. Images that contain text of their own
(``text.png``, ``page.png``, the logo) are left out: letters in the background that the label does
not mention would teach the model to ignore real letters.

Backgrounds are 8-bit RGB images at output size, built with Pillow's C operations (flat fills,
masked pastes, blends, channel arithmetic) rather than float32 passes over the canvas and the
conversions between them and Pillow's images.
"""

from __future__ import annotations

import importlib.util
import random
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageChops

# Natural photographs and textures in scikit-image's data folder (as of 0.2x).
NATURAL_IMAGES = (
    "astronaut.png", "brick.png", "camera.png", "cell.png", "chelsea.png", "clock_motion.png", "coffee.png",
    "coins.png", "grass.png", "gravel.png", "hubble_deep_field.jpg", "ihc.png", "moon.png", "motorcycle_left.png",
    "motorcycle_right.png", "retina.jpg", "rocket.jpg",
)  # fmt: skip
# Each photograph is also kept at 1/2 and 1/4 size (crops are at most 4 canvas heights tall), so a
# crop never reads many more source pixels than it makes.
_REDUCTIONS = 2
_NOISE_VALUES = 1 << 20  # standard normal values in the shared noise table (4 MB)


def natural_image_dir() -> Path | None:
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    return folder if folder.is_dir() else None


@lru_cache(maxsize=1)
def natural_images() -> tuple[tuple[Image.Image, ...], ...]:
    """Each photograph as RGB at full, half and quarter size (once per process; empty without scikit-image)."""
    folder = natural_image_dir()
    images = []
    for name in NATURAL_IMAGES if folder else ():
        path = folder / name  # type: ignore[operator]
        try:
            with Image.open(path) as opened:
                levels = [opened.convert("RGB")]
        except (OSError, ValueError):
            continue
        for _ in range(_REDUCTIONS):
            levels.append(levels[-1].reduce(2))
        images.append(tuple(levels))
    return tuple(images)


@lru_cache(maxsize=1)
def _noise_table() -> np.ndarray:
    """Standard normal float32 values, the same in every process (fixed seed)."""
    return np.random.default_rng(0x5EED).standard_normal(_NOISE_VALUES, dtype=np.float32)


def gaussian_noise(np_rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    """Independent N(0, sigma²) float32 values: a run of the shared table from a random offset.

    A slice of a precomputed table costs one random integer instead of a normal draw per value;
    within an image the values are independent.
    """
    table = _noise_table()
    count = int(np.prod(shape))
    if count > table.size:  # a canvas far larger than a text line: draw it directly
        return np_rng.standard_normal(shape, dtype=np.float32) * np.float32(sigma)
    start = int(np_rng.integers(0, table.size - count + 1))
    return table[start : start + count].reshape(shape) * np.float32(sigma)


def to_image(array: np.ndarray) -> Image.Image:
    """An RGB image from a float (height, width, 3) array, rounded and clipped to 0..255 (in place)."""
    array += 0.5
    return Image.fromarray(np.clip(array, 0, 255, out=array).astype(np.uint8), "RGB")


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Relative luminance in 0..1 of an RGB uint8 array (or of one colour)."""
    return (rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114) / 255.0


def rgb(colour: np.ndarray) -> tuple[int, int, int]:
    """A float colour as Pillow's fill, clipped to 0..255."""
    red, green, blue = colour.tolist()
    return min(255, max(0, int(red + 0.5))), min(255, max(0, int(green + 0.5))), min(255, max(0, int(blue + 0.5)))


def random_colour(rng: random.Random) -> np.ndarray:
    """A colour biased to what signs and paper show: often grey-ish, sometimes saturated."""
    if rng.random() < 0.4:
        grey = rng.random() * 255
        return np.array([grey, grey, grey]) + np.array([rng.uniform(-12, 12) for _ in range(3)])
    return np.array([rng.random() * 255 for _ in range(3)])


def natural_crop(rng: random.Random, width: int, height: int, contrast: float) -> Image.Image | None:
    """A random crop of a random photograph, resized to (width, height), its contrast scaled down."""
    images = natural_images()
    if not images:
        return None
    levels = images[rng.randrange(len(images))]
    source_width, source_height = levels[0].size
    # Crop about as tall as 0.5..4 times the canvas, keeping the canvas's aspect ratio where possible.
    crop_height = int(min(source_height, max(8, height * rng.uniform(0.5, 4.0))))
    crop_width = int(min(source_width, max(8, crop_height * width / max(height, 1))))
    top = rng.randint(0, source_height - crop_height)
    left = rng.randint(0, source_width - crop_width)
    # The smallest reduction in which the crop still has at least the canvas's pixels: the same
    # filtered resize, from up to 16 times fewer source pixels.
    level = 0
    while level < _REDUCTIONS and min(crop_height / height, crop_width / width) >= 2 ** (level + 1):
        level += 1
    source = levels[level]
    scale_x, scale_y = source.width / source_width, source.height / source_height
    box = (left * scale_x, top * scale_y, (left + crop_width) * scale_x, (top + crop_height) * scale_y)
    crop = source.resize((width, height), Image.Resampling.BILINEAR, box=box)
    if rng.random() < 0.5:
        crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if rng.random() < 0.3:  # recolour: channels in another order
        bands = crop.split()
        crop = Image.merge("RGB", [bands[channel] for channel in rng.sample(range(3), 3)])
    mean = np.array(crop.resize((1, 1), Image.Resampling.BOX).getpixel((0, 0)), dtype=np.float64)
    shifted_mean = mean * 0.5 + random_colour(rng) * 0.5 if rng.random() < 0.5 else mean
    # new = shifted_mean + (old - mean) * contrast: a blend towards the flat mean, then a shift.
    toned = Image.blend(Image.new("RGB", crop.size, rgb(mean)), crop, contrast)
    shift = shifted_mean - mean
    if not shift.any():
        return toned
    return ImageChops.add(toned, Image.new("RGB", crop.size, rgb(shift + 128)), 1.0, -128)


def _ramp(width: int, height: int, angle: float) -> np.ndarray:
    """0..1 along ``angle`` across a (height, width) canvas, as x cos/width + y sin/height normalised."""
    across = np.arange(width, dtype=np.float32) * np.float32(np.cos(angle) / max(width, 1))
    down = np.arange(height, dtype=np.float32) * np.float32(np.sin(angle) / max(height, 1))
    ramp = down[:, None] + across[None, :]
    low = float(across.min() + down.min())
    span = float(np.ptp(across) + np.ptp(down))
    return (ramp - np.float32(low)) / np.float32(max(span, 1e-6))


def texture(rng: random.Random, np_rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """A procedural background: gradient, cloudy noise, stripes or paper grain, as an RGB image."""
    base = random_colour(rng).astype(np.float32)
    kind = rng.randrange(4)
    size = (width, height)
    if kind == 0:  # linear gradient between two colours
        other = np.clip(base + np.array([rng.uniform(-70, 70) for _ in range(3)], dtype=np.float32), 0, 255)
        ramp = _ramp(width, height, rng.uniform(0, np.pi))
        mask = Image.fromarray((ramp * 255 + 0.5).astype(np.uint8), "L")
        return Image.composite(Image.new("RGB", size, rgb(other)), Image.new("RGB", size, rgb(base)), mask)
    if kind == 1:  # cloudy: coarse noise upsampled smoothly
        grid = np_rng.normal(0, rng.uniform(10, 40), (rng.randint(2, 5), rng.randint(3, 12), 3)).astype(np.float32)
        low = Image.fromarray(np.clip(grid + 128, 0, 255).astype(np.uint8))
        cloud = low.resize(size, Image.Resampling.BICUBIC)
        return ImageChops.add(cloud, Image.new("RGB", size, rgb(base)), 1.0, -128)
    if kind == 2:  # stripes or ruled lines
        period = rng.uniform(3, max(4.0, height / 2))
        angle = rng.choice((0.0, np.pi / 2, rng.uniform(0, np.pi)))
        across = np.arange(width, dtype=np.float32) * np.float32(np.sin(angle) / period)
        down = np.arange(height, dtype=np.float32) * np.float32(np.cos(angle) / period)
        phase = down[:, None] + across[None, :]
        wave = np.sin(phase * np.float32(2 * np.pi)) > rng.uniform(0.3, 0.9)
        shift = np.array([rng.uniform(-50, 50) for _ in range(3)], dtype=np.float32)
        canvas = Image.new("RGB", size, rgb(base))
        canvas.paste(rgb(base + shift), mask=Image.fromarray(wave.view(np.uint8) * np.uint8(255), "L"))
        return canvas
    grain = gaussian_noise(np_rng, (height, width, 1), rng.uniform(3, 14))  # paper grain
    return to_image(base + grain)


def paper(rng: random.Random, np_rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """White, cream or grey-white paper, sometimes with grain or an uneven scan's shading (RGB)."""
    level = rng.uniform(200, 255)
    tint = np.array([rng.uniform(-8, 4), rng.uniform(-8, 2), rng.uniform(-20, 0)], dtype=np.float32)
    colour = np.clip(level + tint, 0, 255)
    shading: np.ndarray | None = None  # the same for every channel: grain and the scan's shading
    if rng.random() < 0.3:
        shading = gaussian_noise(np_rng, (height, width), rng.uniform(2, 9))
    if rng.random() < 0.2:
        ramp = np.linspace(0, 1, width, dtype=np.float32)[None, :]
        shade = -(ramp * rng.uniform(0, 40) if rng.random() < 0.5 else (1 - ramp) * rng.uniform(0, 40))
        shading = np.broadcast_to(shade, (height, width)) if shading is None else shading + shade
    if shading is None:
        return Image.new("RGB", (width, height), rgb(colour))
    return to_image(colour + shading[..., None])


def background(
    rng: random.Random, np_rng: np.random.Generator, width: int, height: int, p_natural: float, p_texture: float,
    contrast_range: tuple[float, float],
) -> Image.Image:  # fmt: skip
    """An RGB (width, height) canvas: natural crop and/or texture over a flat colour."""
    canvas = Image.new("RGB", (width, height), rgb(random_colour(rng)))
    if rng.random() < p_texture:
        canvas = texture(rng, np_rng, width, height)
    if rng.random() < p_natural:
        crop = natural_crop(rng, width, height, rng.uniform(*contrast_range))
        if crop is not None:
            canvas = Image.blend(canvas, crop, rng.uniform(0.4, 1.0))
    return canvas
