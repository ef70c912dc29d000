"""Reading and writing image folders: 8/16-bit PNG, JPEG, TIFF as float arrays in [0, 1].

This module imports only numpy and Pillow, so the reader-study app can use it without torch.
DICOM reading lives in :mod:`radsynth.data.dicom`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from radsynth.errors import RadsynthError
from radsynth.stage import atomic_path

#: File endings read as raster images (DICOM is handled separately).
RASTER_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")


def list_images(folder: Path, suffixes: tuple[str, ...] = (".png",)) -> list[Path]:
    """All image files below ``folder``, recursively, sorted by relative path.

    Hidden files and temporary files (``.name.tmp``) are skipped.

    Raises:
        RadsynthError: when the folder does not exist.
    """
    if not folder.is_dir():
        raise RadsynthError(f"image folder not found: {folder}")
    found = [
        p
        for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() in suffixes and not p.name.startswith(".")
    ]
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def pil_to_array(img: Image.Image) -> tuple[np.ndarray, int]:
    """Convert a PIL image to a float32 (H, W) array in [0, 1] and its bit depth.

    16-bit images (modes ``I;16``, ``I;16B``, ``I``) keep full precision: they are read through
    numpy, never through a PIL mode conversion that would clip them to 8 bits. Colour images are
    reduced to luminance (ITU-R BT.601 weights), since radiographs are grey.
    """
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        arr = np.asarray(img, dtype=np.uint16).astype(np.float32)
        return arr / 65535.0, 16
    if img.mode == "I":
        arr = np.asarray(img, dtype=np.int64)
        bits = 16 if arr.max(initial=0) > 255 else 8
        return (np.clip(arr, 0, 2**bits - 1) / (2**bits - 1)).astype(np.float32), bits
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float32)
        lo, hi = float(arr.min()), float(arr.max())
        return ((arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)), 32
    if img.mode in ("RGB", "RGBA", "P", "CMYK", "YCbCr", "LA", "PA"):
        img = img.convert("RGB")
        rgb = np.asarray(img, dtype=np.float32) / 255.0
        return rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32), 8
    if img.mode == "1":
        img = img.convert("L")
    return np.asarray(img.convert("L"), dtype=np.float32) / 255.0, 8


def read_image(path: Path) -> tuple[np.ndarray, int]:
    """Read a raster image file as a float32 (H, W) array in [0, 1] and its bit depth.

    Raises:
        RadsynthError: for a missing, truncated or unsupported file (one line, with the path).
    """
    try:
        with Image.open(path) as img:
            img.load()
            return pil_to_array(img)
    except FileNotFoundError:
        raise RadsynthError(f"image not found: {path}") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise RadsynthError(f"cannot read image {path}: {exc}".splitlines()[0]) from None


def read_gray(path: Path) -> np.ndarray:
    """Read an image as float32 (H, W) in [0, 1], dropping the bit depth."""
    return read_image(path)[0]


def to_uint(arr: np.ndarray, bits: int = 8) -> np.ndarray:
    """Quantise a [0, 1] float array to 8 or 16 bits by rounding (never truncating)."""
    if bits not in (8, 16):
        raise RadsynthError(f"bit depth must be 8 or 16, got {bits}")
    top = 2**bits - 1
    dtype = np.uint8 if bits == 8 else np.uint16
    return np.rint(np.clip(arr, 0.0, 1.0) * top).astype(dtype)


def write_png(path: Path, arr: np.ndarray, bits: int = 8) -> None:
    """Write a [0, 1] float (H, W) array as a grey PNG, atomically, with no metadata.

    Args:
        path: destination; its folder is created.
        arr: float array in [0, 1], shape (H, W).
        bits: 8 or 16.
    """
    data = to_uint(np.asarray(arr, dtype=np.float32), bits)
    img = Image.fromarray(data, mode="L") if bits == 8 else Image.fromarray(data)
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")
