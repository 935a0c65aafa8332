"""Training-time perturbations of stored images (real crops, pre-rendered shards), new each epoch.

Trained for twelve epochs on a folder of 4,000 crops, a model sees the same 4,000 pictures twelve
times and learns them rather than reading. Each epoch here redraws every stored image a little
differently: a small rotation, slant and zoom, contrast and brightness, and the generator's own
camera effects (``synth.degrade``: lower resolution, blur, noise, JPEG), so one implementation of
those serves rendered and stored images alike. ``synth:`` sources are never augmented: every image
they render is new and already carries these effects.

It works on the model's input array, after the one preprocessing path, and keeps its size: the
width buckets planned from stored sizes stay exact, and evaluation and inference never see it. The
geometry is chosen so the whole image stays inside the canvas, so no character is ever cut off and
the label stays true. The draws depend on (seed, epoch, source, index) only, so a resumed run
perturbs each image exactly as the uninterrupted run would have.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image

from ..preprocess import PreprocessConfig, image_to_array
from ..synth.config import SynthConfig
from ..synth.degrade import degrade


@dataclass(frozen=True)
class Augmentation:
    """How strongly stored images are perturbed; the defaults are what ``crnn train`` uses."""

    p_geometry: float = 0.5
    max_rotation_degrees: float = 2.5
    max_shear: float = 0.2  # horizontal slant, x += shear * (y - centre)
    zoom_range: tuple[float, float] = (0.85, 1.0)  # never above 1: the whole image stays in the canvas
    p_photometric: float = 0.5
    contrast_range: tuple[float, float] = (0.6, 1.2)
    brightness_range: tuple[float, float] = (-0.15, 0.15)  # in units of the full 0..255 range


def seed_for(seed: int, epoch: int, source: int, index: int) -> int:
    """One integer per (run seed, epoch, source, sample): what makes an epoch's perturbations reproducible."""
    return (((seed * 1_000_003 + epoch) * 1_000_033 + source) * 1_000_037 + index) & 0xFFFFFFFFFFFF


def augment(
    array: np.ndarray, preprocess: PreprocessConfig, rng: random.Random, settings: Augmentation = Augmentation()
) -> np.ndarray:
    """A (channels, height, width) model input -> the same shape, perturbed."""
    image = _to_image(array, preprocess)
    if rng.random() < settings.p_geometry:
        image = _geometry(image, rng, settings)
    if rng.random() < settings.p_photometric:
        image = _photometric(image, rng, settings)
    image = degrade(image, rng, np.random.default_rng(rng.getrandbits(64)), _camera())
    # Back through the one preprocessing path: the size already fits, so it only normalises.
    return image_to_array(image, preprocess)


@lru_cache(maxsize=1)
def _camera() -> SynthConfig:
    """The generator's degradations at the chances used for stored images: lighter than for rendered
    ones, which start clean, since a real crop already carries its own camera."""
    return SynthConfig(
        p_low_resolution=0.15, p_blur=0.2, p_motion_blur=0.03, p_noise=0.2, p_jpeg=0.2, p_grayscale=0.0,
        p_invert=0.0, p_binarize=0.0,
    )  # fmt: skip


def _to_image(array: np.ndarray, preprocess: PreprocessConfig) -> Image.Image:
    pixels = (array * preprocess.std + preprocess.mean) * 255.0
    pixels = np.clip(np.rint(pixels), 0, 255).astype(np.uint8)
    if pixels.shape[0] == 1:
        return Image.fromarray(pixels[0], "L").convert("RGB")
    return Image.fromarray(np.ascontiguousarray(pixels.transpose(1, 2, 0)), "RGB")


def _border_colour(image: Image.Image) -> tuple[int, int, int]:
    """The median of the outermost pixels: what the uncovered canvas is filled with, so it looks like background."""
    pixels = np.asarray(image)
    edge = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    red, green, blue = np.median(edge, axis=0)
    return int(red), int(green), int(blue)


def placement(width: int, height: int, rng: random.Random, settings: Augmentation) -> tuple[np.ndarray, np.ndarray]:
    """A forward map ``out = linear @ (in - input centre) + centre``: rotate, slant and zoom out about the
    centre, shrunk until the whole image fits the canvas, then shifted within the room left over."""
    angle = math.radians(rng.uniform(-settings.max_rotation_degrees, settings.max_rotation_degrees))
    shear = rng.uniform(-settings.max_shear, settings.max_shear)
    cos, sin = math.cos(angle), math.sin(angle)
    linear = np.array([[cos, -sin], [sin, cos]]) @ np.array([[1.0, shear], [0.0, 1.0]])
    corners = np.array([[-width, -height], [width, -height], [-width, height], [width, height]], dtype=float) / 2
    moved = corners @ linear.T
    extent_x = moved[:, 0].max() - moved[:, 0].min()
    extent_y = moved[:, 1].max() - moved[:, 1].min()
    scale = min(1.0, width / extent_x, height / extent_y) * rng.uniform(*settings.zoom_range)
    room_x = max(0.0, (width - extent_x * scale) / 2)
    room_y = max(0.0, (height - extent_y * scale) / 2)
    centre = np.array([width / 2 + rng.uniform(-room_x, room_x), height / 2 + rng.uniform(-room_y, room_y)])
    return linear * scale, centre


def _geometry(image: Image.Image, rng: random.Random, settings: Augmentation) -> Image.Image:
    width, height = image.size
    linear, centre = placement(width, height, rng, settings)
    # PIL maps each output pixel back to the input: in = inverse(linear) @ (out - centre) + input centre.
    inverse = np.linalg.inv(linear)
    offset = np.array([width / 2, height / 2]) - inverse @ centre
    coefficients = (inverse[0, 0], inverse[0, 1], offset[0], inverse[1, 0], inverse[1, 1], offset[1])
    return image.transform(
        image.size, Image.Transform.AFFINE, coefficients, Image.Resampling.BILINEAR, fillcolor=_border_colour(image)
    )


def _photometric(image: Image.Image, rng: random.Random, settings: Augmentation) -> Image.Image:
    """Contrast about the image's mean, then brightness: a different exposure of the same crop."""
    pixels = np.asarray(image, dtype=np.float32)
    mean = float(pixels.mean())
    contrast = rng.uniform(*settings.contrast_range)
    brightness = rng.uniform(*settings.brightness_range) * 255.0
    changed = (pixels - mean) * contrast + mean + brightness
    return Image.fromarray(np.clip(np.rint(changed), 0, 255).astype(np.uint8), "RGB")
