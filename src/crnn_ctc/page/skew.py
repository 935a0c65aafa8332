"""Skew and orientation from the ink alone: text lines make the ink's projection across them sharp,
and letters have their nearest neighbours along the line.

Written here rather than taken from a library: the projection-profile method is a few lines of NumPy
on the ink points (no image is rotated to search), and the libraries that offer it (deskew, OpenCV's
Hough transform) add dependencies or need tuning per resolution.
"""

from __future__ import annotations

import numpy as np

# Enough ink points for a stable profile; more only costs time.
_MAX_POINTS = 250_000


def _ink_points(mask: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.nonzero(mask)
    if len(ys) > _MAX_POINTS:
        pick = np.random.default_rng(seed).choice(len(ys), _MAX_POINTS, replace=False)
        ys, xs = ys[pick], xs[pick]
    return ys.astype(np.float64), xs.astype(np.float64)


def profile_sharpness(positions: np.ndarray) -> float:
    """mean(h^2) / mean(h)^2 of the 1-pixel histogram over the occupied span: 1 for evenly spread
    ink, larger when the ink gathers in bands (lines of text seen across)."""
    if len(positions) < 2:
        return 0.0
    bins = np.floor(positions - positions.min()).astype(np.int64)
    counts = np.bincount(bins).astype(np.float64)
    mean = counts.mean()
    return float((counts**2).mean() / (mean * mean)) if mean > 0 else 0.0


def _best_angle(ys: np.ndarray, xs: np.ndarray, max_angle: float) -> tuple[float, float]:
    """The angle (degrees) whose projection is sharpest, coarse then fine, and that sharpness."""

    def sharpness(angle: float) -> float:
        return profile_sharpness(ys + xs * np.tan(np.radians(angle)))

    best_angle, best = 0.0, sharpness(0.0)
    for angle in np.arange(-max_angle, max_angle + 1e-9, 0.5):
        value = sharpness(float(angle))
        if value > best * (1 + 1e-9):
            best_angle, best = float(angle), value
    for angle in np.arange(best_angle - 0.5, best_angle + 0.5 + 1e-9, 0.05):
        value = sharpness(float(angle))
        if value > best * (1 + 1e-9):
            best_angle, best = float(angle), value
    return best_angle, best


def estimate_skew(mask: np.ndarray, max_angle: float = 10.0) -> float:
    """The text lines' angle in degrees within ±max_angle, counter-clockwise positive (lines rising to
    the right); 0 when there is too little ink to tell. ``Image.rotate(-angle)`` straightens the page."""
    ys, xs = _ink_points(mask)
    if len(ys) < 200:
        return 0.0
    angle, _ = _best_angle(ys, xs, max_angle)
    # Rising to the right means y falls as x grows: the sharp projection is y + x·tan(a) with a > 0, a
    # counter-clockwise angle on screen.
    return angle


def lines_run_vertically(mask: np.ndarray) -> bool:
    """Whether the text lines run top to bottom (a page turned by 90 or 270 degrees).

    Letters sit closer to their neighbours along a line than across lines, so most letter-sized
    components find their nearest neighbour sideways in upright text, and above or below in turned
    text. Unlike a projection profile, this holds for a page of a single line too.
    """
    from scipy.spatial import cKDTree

    from .layout import find_components, text_height

    components, _ = find_components(mask)
    height = text_height(components)
    if height == 0.0:
        return False
    h, w = components.height, components.width
    size = np.maximum(h, w)
    letters = (size >= 0.5 * height) & (size <= 3.0 * height) & (components.area >= 12)
    if letters.sum() < 6:
        return False
    centres = np.stack(
        [(components.x0 + components.x1)[letters] / 2.0, (components.y0 + components.y1)[letters] / 2.0], 1
    )
    _, nearest = cKDTree(centres).query(centres, k=2)
    offsets = np.abs(centres[nearest[:, 1]] - centres)
    sideways = np.count_nonzero(offsets[:, 0] > offsets[:, 1])
    return bool(sideways < 0.4 * len(centres))
