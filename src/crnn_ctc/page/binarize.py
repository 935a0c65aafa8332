"""Grayscale and ink: a page image becomes a gray array and a boolean mask of dark-on-light ink.

Sauvola's local threshold copes with uneven lighting and paper tone, where one global threshold loses
faint text; a global Otsu cap keeps it from turning paper texture into specks. The local mean and
deviation come from SciPy's box filters: scikit-image 0.26's ``threshold_sauvola`` returned thresholds
far above 255 on plain shaded paper here (its own gradient test too), which made whole regions ink.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps


def to_gray(image: Image.Image) -> np.ndarray:
    """(H, W) uint8, alpha composited on white, 16-bit and palette images reduced."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
        top = max(float(array.max()), 1.0)
        return np.clip(array * (255.0 / top), 0, 255).astype(np.uint8)
    return np.asarray(ImageOps.grayscale(image.convert("RGB") if image.mode not in ("L", "RGB") else image))


def ink_mask(gray: np.ndarray, text_height_hint: float | None = None) -> np.ndarray:
    """(H, W) bool: True where there is ink. Light text on a dark page is inverted first, so ink is
    always what differs from the page's dominant tone."""
    from scipy import ndimage
    from skimage.filters import threshold_otsu

    values = gray.astype(np.float64)  # float32 sums lose the local variance (thresholds past 1000 seen)
    if float(np.median(values)) < 110.0:  # a dark page: read the light marks as ink
        values = 255.0 - values
    if float(values.max()) - float(values.min()) < 24.0:  # one flat tone: nothing is written here
        return np.zeros(gray.shape, dtype=bool)
    window = _window(gray.shape, text_height_hint)
    mean = ndimage.uniform_filter(values, window, mode="reflect")
    deviation = np.sqrt(np.maximum(ndimage.uniform_filter(values * values, window, mode="reflect") - mean * mean, 0.0))
    local = mean * (1.0 + 0.2 * (deviation / 128.0 - 1.0))  # Sauvola: k = 0.2, R = 128 (8-bit range / 2)
    global_cap = threshold_otsu(values)
    # Below the local threshold, and not paper brighter than the page's own ink/paper split.
    return (values < local) & (values < global_cap + 0.5 * (255.0 - global_cap))


def _window(shape: tuple[int, ...], text_height_hint: float | None) -> int:
    """Sauvola's window: a few text heights when known, else about 1/40 of the page's shorter side."""
    size = 3.0 * text_height_hint if text_height_hint else min(shape[0], shape[1]) / 40.0
    window = int(max(15, min(101, size)))
    return window if window % 2 == 1 else window + 1
