"""Blinded image encoding: every study image becomes the same kind of file, byte for byte in size.

A rater's browser could tell groups apart by anything that differs between their files: format,
bit depth, size in pixels, metadata chunks, or, subtly, the *compressed byte size* (a smoother
synthetic image deflates better than a noisy real one). So every image is

1. read as grey, centre-cropped to a square and resized to ``size_px`` x ``size_px``;
2. quantised to 8 bits by rounding;
3. written as a minimal PNG (IHDR, one IDAT, IEND; no text, gamma, ICC or time chunks) whose
   IDAT holds *stored* (uncompressed, level-0) deflate blocks with filter type 0 on every row.

Step 3 makes the file length a function of ``size_px`` alone:
``len = 8 + 25 + 12 + zlib_stored_len(size_px * (size_px + 1)) + 12``, so byte size reveals
nothing (PNG spec: ISO/IEC 15948:2004; stored blocks: RFC 1951 section 3.2.4).
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from radsynth.data.imageio import read_gray, to_uint

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_png_constant(pixels: np.ndarray) -> bytes:
    """Encode an 8-bit (H, W) grey array as a PNG whose length depends only on H and W.

    Args:
        pixels: uint8 array of shape (H, W).

    Returns:
        The PNG file bytes (8-bit greyscale, no ancillary chunks, uncompressed deflate).
    """
    if pixels.dtype != np.uint8 or pixels.ndim != 2:
        raise ValueError("expected a uint8 (H, W) array")
    h, w = pixels.shape
    # Filter byte 0 ("None") before every row, then the row's bytes.
    raw = np.concatenate([np.zeros((h, 1), np.uint8), pixels], axis=1).tobytes()
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)  # 8-bit, greyscale, no interlace
    idat = zlib.compress(raw, level=0)
    return PNG_SIGNATURE + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def square_resize(arr: np.ndarray, size_px: int) -> np.ndarray:
    """Centre-crop a float (H, W) image in [0, 1] to a square and resize it (Lanczos)."""
    h, w = arr.shape
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    arr = arr[top : top + side, left : left + side]
    if side != size_px:
        img = Image.fromarray(arr.astype(np.float32), mode="F")
        arr = np.asarray(img.resize((size_px, size_px), Image.Resampling.LANCZOS))
    return np.clip(arr, 0.0, 1.0)


def blind_encode(path: Path, size_px: int) -> bytes:
    """Read any supported image file and return its blinded PNG bytes (see module docstring)."""
    return encode_png_constant(to_uint(square_resize(read_gray(path), size_px), 8))


def attention_image(size_px: int, rng: np.random.Generator) -> bytes:
    """An obviously non-radiographic image for attention checks: smoothed noise with bands.

    Encoded like every other study image, so only its content, not its file, stands out.
    """
    noise = rng.random((size_px // 8 + 1, size_px // 8 + 1)).astype(np.float32)
    big = Image.fromarray(noise, mode="F").resize((size_px, size_px), Image.Resampling.BICUBIC)
    bands = 0.5 + 0.5 * np.sin(np.arange(size_px) / 3.0)[None, :]
    arr = np.clip(0.6 * np.asarray(big) + 0.4 * bands, 0.0, 1.0)
    return encode_png_constant(to_uint(arr, 8))


def png_chunks(data: bytes) -> list[bytes]:
    """The chunk types of a PNG file, in order (used to check that no metadata is present)."""
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG file")
    kinds, pos = [], len(PNG_SIGNATURE)
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kinds.append(data[pos + 4 : pos + 8])
        pos += 12 + length
    return kinds
