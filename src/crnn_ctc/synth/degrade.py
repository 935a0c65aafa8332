"""What a camera, a scanner and a codec do to an image: lower resolution, blur, noise, JPEG, at output size."""

from __future__ import annotations

import io
import math
import random

import numpy as np
from PIL import Image, ImageFilter, ImageOps

from .backgrounds import gaussian_noise, to_image
from .config import SynthConfig


def degrade(image: Image.Image, rng: random.Random, np_rng: np.random.Generator, config: SynthConfig) -> Image.Image:
    """Lose resolution, blur, add noise and JPEG artifacts, at the output height."""
    width, height = image.size
    if rng.random() < config.p_low_resolution:
        low_height = max(6, round(height * rng.uniform(*config.low_resolution_range)))
        downscale = rng.choice((Image.Resampling.BILINEAR, Image.Resampling.BOX, Image.Resampling.NEAREST))
        low = image.resize((max(2, round(width * low_height / height)), low_height), downscale)
        upscale = rng.choice((Image.Resampling.NEAREST, Image.Resampling.BILINEAR, Image.Resampling.BICUBIC))
        image = low.resize((width, height), upscale)
    if rng.random() < config.p_blur:
        radius = _box_radius(rng.uniform(*config.blur_range), 2)
        image = image.filter(ImageFilter.BoxBlur(radius)).filter(ImageFilter.BoxBlur(radius))
    if rng.random() < config.p_motion_blur:
        length = rng.choice((3, 5))
        kernel = [0.0] * (length * length)
        row = length // 2 if rng.random() < 0.7 else rng.randrange(length)
        kernel[row * length : (row + 1) * length] = [1.0] * length
        image = image.filter(ImageFilter.Kernel((length, length), kernel, scale=length))
    if rng.random() < config.p_noise:
        array = np.asarray(image)
        sigma = rng.uniform(*config.noise_range)
        shape = array.shape if rng.random() < 0.5 else (*array.shape[:2], 1)  # colour or luminance noise
        image = to_image(array + gaussian_noise(np_rng, shape, sigma))
    if rng.random() < config.p_grayscale:
        image = image.convert("L").convert("RGB")
    if rng.random() < config.p_invert:
        image = ImageOps.invert(image)
    if config.p_binarize and rng.random() < config.p_binarize:
        image = _binarize(image, rng, np_rng)
    if rng.random() < config.p_jpeg:
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=rng.randint(*config.jpeg_quality_range))
        # Decoded straight into an image of the known size: Image.open's format detection and
        # marker parsing in Python cost as much as the decoding.
        image = Image.frombytes("RGB", image.size, buffer.getvalue(), "jpeg", "RGB", "")
    return image


def _box_radius(sigma: float, passes: int) -> float:
    """Radius of ``passes`` extended box blurs with the variance of a Gaussian of ``sigma`` (Pillow's formula).

    Pillow's GaussianBlur is 3 such passes; 2 passes give the same variance, and for a blur of a
    pixel or so the same look, at two thirds of the cost.
    """
    variance = sigma * sigma / passes
    whole = math.floor((math.sqrt(12 * variance + 1) - 1) / 2)
    fraction = (2 * whole + 1) * (whole * (whole + 1) - 3 * variance) / (6 * (variance - (whole + 1) ** 2))
    return whole + fraction


def _binarize(image: Image.Image, rng: random.Random, np_rng: np.random.Generator) -> Image.Image:
    """Black and white as a cheap scanner makes it: a threshold between ink and paper, with noise
    that breaks thin strokes and speckles the page a little."""
    gray = np.asarray(image.convert("L"))
    low, high = np.percentile(gray, 5), np.percentile(gray, 95)
    threshold = low + (high - low) * rng.uniform(0.35, 0.65)
    noisy = gaussian_noise(np_rng, gray.shape, rng.uniform(0, 18)) + gray
    binary = (noisy > threshold).view(np.uint8) * np.uint8(255)
    return Image.fromarray(binary, "L").convert("RGB")
