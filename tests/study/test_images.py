"""Blinded encoding: same format, size, bit depth and byte length for every image."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from radsynth.study.images import (
    attention_image,
    blind_encode,
    encode_png_constant,
    png_chunks,
    square_resize,
)


def test_byte_length_does_not_depend_on_content() -> None:
    rng = np.random.default_rng(0)
    flat = np.full((64, 64), 128, np.uint8)
    noise = rng.integers(0, 256, (64, 64), dtype=np.uint8)
    ramp = np.tile(np.arange(64, dtype=np.uint8) * 4, (64, 1))
    sizes = {len(encode_png_constant(a)) for a in (flat, noise, ramp)}
    # A deflating encoder would give the flat image a far smaller file; stored blocks do not.
    assert len(sizes) == 1
    assert len(encode_png_constant(flat)) != len(encode_png_constant(flat[:32]))


def test_png_decodes_to_the_same_pixels_and_has_no_metadata() -> None:
    arr = np.random.default_rng(1).integers(0, 256, (40, 40), dtype=np.uint8)
    data = encode_png_constant(arr)
    assert png_chunks(data) == [b"IHDR", b"IDAT", b"IEND"]
    img = Image.open(io.BytesIO(data))
    assert img.mode == "L" and img.size == (40, 40) and not img.info
    assert np.array_equal(np.asarray(img), arr)


def test_blind_encode_equalises_size_and_depth(tmp_path: Path, cxr_dir: Path) -> None:
    real = next((cxr_dir / "train").rglob("*.png"))
    wide16 = tmp_path / "wide16.png"
    Image.fromarray((np.random.default_rng(2).random((100, 160)) * 65535).astype(np.uint16)).save(
        wide16, pnginfo=None
    )
    rgb = tmp_path / "rgb.png"
    Image.new("RGB", (300, 300), (10, 200, 30)).save(rgb, dpi=(300, 300))
    outs = [blind_encode(p, 224) for p in (real, wide16, rgb)]
    outs.append(attention_image(224, np.random.default_rng(0)))
    assert len({len(o) for o in outs}) == 1
    for data in outs:
        img = Image.open(io.BytesIO(data))
        assert (img.format, img.mode, img.size) == ("PNG", "L", (224, 224))
        assert png_chunks(data) == [b"IHDR", b"IDAT", b"IEND"]


def test_square_resize_crops_the_centre() -> None:
    arr = np.zeros((10, 20), np.float32)
    arr[:, 5:15] = 1.0
    assert np.allclose(square_resize(arr, 10), 1.0)
