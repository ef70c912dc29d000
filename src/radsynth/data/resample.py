"""Anti-aliased resampling of float images to a square, by stretching or by padding.

Resampling runs on float32 data through Pillow's mode ``"F"``, so 16-bit sources keep their
precision until this final step. Pillow widens the filter support by the scale factor when it
shrinks an image, which makes the Lanczos-3 filter (Duchon 1979, "Lanczos filtering in one and two
dimensions") an anti-aliasing low-pass filter rather than point sampling. Lanczos overshoots
slightly at hard edges, so the result is clipped back to [0, 1].
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from radsynth.errors import RadsynthError

#: How an image of any aspect ratio becomes size x size.
RESIZE_MODES = ("pad", "stretch")


def resize_float(arr: np.ndarray, width_px: int, height_px: int) -> np.ndarray:
    """Resize a float (H, W) array to (height_px, width_px) with an anti-aliased Lanczos filter."""
    if arr.shape == (height_px, width_px):
        return np.asarray(arr, dtype=np.float32).copy()
    img = Image.fromarray(np.ascontiguousarray(arr, dtype=np.float32), mode="F")
    out = img.resize((width_px, height_px), resample=Image.Resampling.LANCZOS)
    return np.clip(np.asarray(out, dtype=np.float32), 0.0, 1.0)


def fit_size(height_px: int, width_px: int, size_px: int, mode: str) -> tuple[int, int]:
    """(height, width) of the resampled content before padding: the long side becomes size_px."""
    if mode == "stretch":
        return size_px, size_px
    if mode != "pad":
        raise RadsynthError(f"resize mode must be one of {', '.join(RESIZE_MODES)}, got {mode!r}")
    scale = size_px / max(height_px, width_px)
    return max(1, round(height_px * scale)), max(1, round(width_px * scale))


def scale_to_fit(arr: np.ndarray, size_px: int, mode: str) -> np.ndarray:
    """Resample so that the image fits a size_px square: the whole square (stretch) or the long
    side (pad, aspect ratio kept). Shape (h, w) with max(h, w) == size_px."""
    h, w = fit_size(arr.shape[0], arr.shape[1], size_px, mode)
    return resize_float(arr, w, h)


def pad_to_square(arr: np.ndarray, size_px: int, fill: float = 0.0) -> np.ndarray:
    """Centre a (h, w) array with h, w <= size_px on a size_px square filled with ``fill``.

    The fill is black by default: in a positive radiograph, unexposed air is dark.
    """
    h, w = arr.shape
    if h > size_px or w > size_px:
        raise RadsynthError(f"cannot pad a {h}x{w} image into {size_px}x{size_px}")
    out = np.full((size_px, size_px), fill, dtype=np.float32)
    top, left = (size_px - h) // 2, (size_px - w) // 2
    out[top : top + h, left : left + w] = arr
    return out


def resample_square(arr: np.ndarray, size_px: int, mode: str = "pad") -> np.ndarray:
    """Resample a float (H, W) image in [0, 1] to a float32 (size_px, size_px) square."""
    return pad_to_square(scale_to_fit(arr, size_px, mode), size_px)
