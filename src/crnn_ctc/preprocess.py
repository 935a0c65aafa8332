"""The one image -> tensor path, shared by training, evaluation, every backend and the service.

An image (path, bytes, PIL image or NumPy array) is decoded with Pillow (EXIF orientation
applied), flattened onto white if it has transparency, converted to the model's channels,
resized to the model's height keeping its aspect ratio (width clamped and rounded), and
normalised. Its parameters are a ``PreprocessConfig`` stored inside every model file, so the
model is always fed the way it was trained.
"""

from __future__ import annotations

import errno
import io
import math
import os
import stat
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .config_base import ConfigBase
from .errors import ConfigError, ImageError

ImageInput = str | os.PathLike | bytes | bytearray | memoryview | Image.Image | np.ndarray

# A cropped word or line is far below this; anything above is a mistake or a decompression bomb.
DEFAULT_MAX_PIXELS = 50_000_000

# The largest input a model may ask for (PreprocessConfig): generous for lines at any height the CNN
# is built for (the bundled model reads 32 x 16..1280).
MAX_HEIGHT = 512
MAX_WIDTH = 16384

# Padding value of a batch, in normalised units. Zero is what the convolutions' own zero padding
# feeds at an image's edge, so a padded image is seen exactly as it is alone (see model.cnn).
PAD_VALUE = 0.0

_RESAMPLING = {
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "area": Image.Resampling.BOX,
}


@dataclass(frozen=True)
class PreprocessConfig(ConfigBase):
    """How an image becomes the model's input. Stored in the model file."""

    config_kind: ClassVar[str] = "preprocess parameters"

    height: int = 32
    channels: int = 1
    min_width: int = 16
    max_width: int = 1280
    width_multiple: int = 4
    fixed_width: int | None = None  # None: keep aspect ratio; else stretch every image to this width
    mean: float = 0.5
    std: float = 0.5
    resample: str = "bilinear"

    def __post_init__(self) -> None:
        # A model file is data from anywhere: every size is bounded, so a damaged or crafted file is
        # refused when it loads instead of asking for gigabytes per image.
        bounds = {
            "height": (8, MAX_HEIGHT, self.height),
            "min_width": (1, MAX_WIDTH, self.min_width),
            "max_width": (1, MAX_WIDTH, self.max_width),
            "width_multiple": (1, MAX_WIDTH, self.width_multiple),
            **({"fixed_width": (1, MAX_WIDTH, self.fixed_width)} if self.fixed_width is not None else {}),
        }
        for name, (lowest, highest, value) in bounds.items():
            if not isinstance(value, int) or isinstance(value, bool) or not lowest <= value <= highest:
                raise ConfigError(f"preprocess {name} must be a whole number in {lowest}..{highest}, got {value!r}")
        if self.channels not in (1, 3):
            raise ConfigError(f"preprocess channels must be 1 (gray) or 3 (RGB), got {self.channels}")
        if self.min_width > self.max_width:
            raise ConfigError(f"need min_width <= max_width, got {self.min_width} and {self.max_width}")
        if self.max_width < self.width_multiple:
            raise ConfigError(f"max_width {self.max_width} is below width_multiple {self.width_multiple}")
        for name, number in (("mean", self.mean), ("std", self.std)):
            if not isinstance(number, int | float) or isinstance(number, bool) or not math.isfinite(number):
                raise ConfigError(f"preprocess {name} must be a finite number, got {number!r}")
        if self.std <= 0:
            raise ConfigError(f"std must be positive, got {self.std}")
        if self.resample not in _RESAMPLING:
            raise ConfigError(f"resample must be one of {', '.join(_RESAMPLING)}, got {self.resample!r}")

    def target_width(self, width: int, height: int, width_scale: float = 1.0) -> int:
        """Width after resizing an image of ``width`` x ``height`` to the model's height, stretched
        ``width_scale`` times (a reading of the same crop wider: ``inference.recognize_window``)."""
        if self.fixed_width is not None:
            return self.fixed_width
        multiple = self.width_multiple
        lowest = math.ceil(self.min_width / multiple) * multiple
        highest = (self.max_width // multiple) * multiple
        scaled = width * width_scale * self.height / height
        return int(min(max(round(scaled / multiple) * multiple, lowest), highest))


def describe_source(source: object, position: int) -> str:
    """A name for an input in messages: its path, or its kind and position in the batch."""
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<bytes #{position}>"
    if isinstance(source, Image.Image):
        return f"<PIL image #{position}>"
    if isinstance(source, np.ndarray):
        return f"<array #{position}>"
    return f"<{type(source).__name__} #{position}>"


def load_image(source: ImageInput, *, name: str | None = None, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Decode ``source`` into an 8-bit ``L`` or ``RGB`` PIL image, or raise ``ImageError`` saying why."""
    name = name or describe_source(source, 0)
    if isinstance(source, np.ndarray):
        image = _image_from_array(source, name)
    elif isinstance(source, Image.Image):
        image = source
    elif isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise ImageError(name, "empty input (0 bytes)")
        image = _open_encoded(io.BytesIO(bytes(source)), name, max_pixels)
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            status = path.stat()
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise ImageError(name, "symbolic link loop (a link that leads back to itself)") from None
            if error.errno in (errno.ENOENT, errno.ENOTDIR):
                raise ImageError(name, "no such file") from None
            raise ImageError(name, f"cannot read: {error.strerror or error}") from error
        if stat.S_ISDIR(status.st_mode):
            raise ImageError(name, "is a directory, not an image file")
        size = status.st_size
        if size == 0:
            raise ImageError(name, "empty file (0 bytes)")
        image = _open_encoded(path, name, max_pixels)
    else:
        raise ImageError(
            name, f"unsupported input type {type(source).__name__}; pass a path, bytes, PIL image or NumPy array"
        )
    _check_size(image, name, max_pixels)
    return _to_8bit(image, name)


def _open_encoded(file: Path | io.BytesIO, name: str, max_pixels: int) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(file)
            _check_size(image, name, max_pixels)  # before decoding a single pixel
            image.load()
            return ImageOps.exif_transpose(image) or image
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(name, "not an image Pillow can read (unknown or corrupt format)") from None
    except Image.DecompressionBombError as error:
        raise ImageError(name, f"refused as a possible decompression bomb: {error}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        # Pillow reports truncated and damaged data as OSError / SyntaxError / EOFError.
        raise ImageError(name, f"corrupt or truncated image data: {error}") from None


def _check_size(image: Image.Image, name: str, max_pixels: int) -> None:
    width, height = image.size
    if width == 0 or height == 0:
        raise ImageError(name, f"image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise ImageError(
            name,
            f"image is {width}x{height} = {width * height:,} pixels, over the limit of {max_pixels:,} "
            "(a guard against decompression bombs); crop the text first or raise max_pixels",
        )


def _image_from_array(array: np.ndarray, name: str) -> Image.Image:
    """Gray (H, W) or (H, W, 1), gray+alpha (H, W, 2), RGB (H, W, 3) or RGBA (H, W, 4).

    uint8 is 0..255, uint16 is 0..65535 and floats are 0..1; channels are in RGB order.
    """
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 2:
        mode = "L"
    elif array.ndim == 3 and array.shape[2] in (2, 3, 4):
        mode = {2: "LA", 3: "RGB", 4: "RGBA"}[array.shape[2]]
    else:
        raise ImageError(name, f"array of shape {array.shape} is not an image; expected (H, W) or (H, W, 1|2|3|4)")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ImageError(name, f"image has no pixels ({array.shape[1]}x{array.shape[0]})")
    if array.dtype == np.bool_:
        array8 = array.astype(np.uint8) * 255
    elif array.dtype == np.uint8:
        array8 = array
    elif np.issubdtype(array.dtype, np.integer):
        high = int(array.max())
        if int(array.min()) < 0 or high > 65535:
            raise ImageError(name, f"integer array values must lie in 0..65535, found {int(array.min())}..{high}")
        if array.dtype.itemsize == 1:
            array8 = array.astype(np.uint8)
        else:  # 16-bit range, whatever the storage type
            array8 = np.round(array.astype(np.float32) / 257.0).astype(np.uint8)
    elif np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise ImageError(name, "float array holds NaN or infinity")
        array8 = np.round(np.clip(array, 0.0, 1.0) * 255.0).astype(np.uint8)
    else:
        raise ImageError(name, f"unsupported array dtype {array.dtype}")
    return Image.fromarray(np.ascontiguousarray(array8), mode=mode)


def _to_8bit(image: Image.Image, name: str) -> Image.Image:
    """Bring any Pillow mode to ``L`` or ``RGB``: 16-bit scaled down, transparency flattened onto white."""
    mode = image.mode
    if mode in ("L", "RGB"):
        return image
    if mode == "1":
        return image.convert("L")
    if mode.startswith("I;16") or mode == "I":
        # Pillow opens 16-bit PNG/TIFF as I;16 or I; both hold 0..65535.
        values = np.asarray(image, dtype=np.float32)
        return Image.fromarray(np.round(np.clip(values, 0, 65535) / 257.0).astype(np.uint8), mode="L")
    if mode == "F":
        values = np.asarray(image, dtype=np.float32)
        return Image.fromarray(np.round(np.clip(values, 0, 255)).astype(np.uint8), mode="L")
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        mode = image.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        # Text on a transparent background is almost always dark on a light page.
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    try:
        return image.convert("RGB")  # CMYK, YCbCr, LAB, HSV...
    except (ValueError, OSError) as error:
        raise ImageError(name, f"cannot convert image mode {mode!r} to RGB: {error}") from None


def image_to_array(image: Image.Image, config: PreprocessConfig, width_scale: float = 1.0) -> np.ndarray:
    """A decoded image -> normalised float32 array of shape (channels, height, width)."""
    image = image.convert("L" if config.channels == 1 else "RGB")
    width = config.target_width(*image.size, width_scale=width_scale)
    if image.size != (width, config.height):
        image = image.resize((width, config.height), _RESAMPLING[config.resample])
    pixels = np.asarray(image, dtype=np.float32)
    scale = 1.0 / (255.0 * config.std)
    offset = config.mean / config.std
    pixels = pixels * scale - offset
    if config.channels == 1:
        return pixels[np.newaxis]
    return np.ascontiguousarray(pixels.transpose(2, 0, 1))


def preprocess(
    source: ImageInput,
    config: PreprocessConfig,
    *,
    name: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    width_scale: float = 1.0,
) -> np.ndarray:
    """Any supported image input -> normalised (channels, height, width) float32 array."""
    return image_to_array(load_image(source, name=name, max_pixels=max_pixels), config, width_scale)


# A batch's narrowest image is at least this share of its widest. Padding costs as much as image on a
# CPU: measured on the 2,000 IIIT5K words (small model, ONNX Runtime int8, 1 thread), cutting each
# window sorted by width into batches of 64 gave 367-421 images/s, cutting also where the width falls
# below 0.85 of the batch's widest gave 559-597 (0.7: 507-514, 0.95: 603-620).
MIN_WIDTH_FILL = 0.85


def width_groups(widths: Sequence[int], max_batch: int, min_fill: float = MIN_WIDTH_FILL) -> list[list[int]]:
    """Indices into ``widths``, widest first, cut into batches of at most ``max_batch`` images whose
    narrowest is at least ``min_fill`` of their widest: little padding, still batched."""
    if max_batch < 1:
        raise ValueError(f"max_batch must be at least 1, got {max_batch}")
    groups: list[list[int]] = []
    for index in sorted(range(len(widths)), key=lambda index: widths[index], reverse=True):
        current = groups[-1] if groups else None
        if current is None or len(current) >= max_batch or widths[index] < min_fill * widths[current[0]]:
            groups.append([index])
        else:
            current.append(index)
    return groups


def collate(arrays: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Pad (C, H, w) arrays on the right to the widest; return the batch and each true width."""
    if not arrays:
        raise ValueError("cannot collate an empty batch")
    channels, height = arrays[0].shape[:2]
    widths = np.array([a.shape[2] for a in arrays], dtype=np.int64)
    batch = np.full((len(arrays), channels, height, int(widths.max())), PAD_VALUE, dtype=np.float32)
    for row, array in enumerate(arrays):
        if array.shape[:2] != (channels, height):
            raise ValueError(f"array #{row} has shape {array.shape}, expected ({channels}, {height}, w)")
        batch[row, :, :, : array.shape[2]] = array
    return batch, widths
