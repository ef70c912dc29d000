"""Anti-aliased pad/stretch resampling keeps float precision."""

from __future__ import annotations

import numpy as np

from radsynth.data.resample import pad_to_square, resample_square, scale_to_fit


def test_pad_keeps_aspect_ratio_and_stretch_fills() -> None:
    img = np.full((50, 100), 0.8, dtype=np.float32)
    padded = resample_square(img, 40, "pad")
    assert padded.shape == (40, 40)
    assert np.allclose(padded[10:30], 0.8, atol=1e-4)  # content 20 rows tall, centred
    assert np.all(padded[:10] == 0.0) and np.all(padded[30:] == 0.0)
    assert np.allclose(resample_square(img, 40, "stretch"), 0.8, atol=1e-4)
    assert scale_to_fit(np.zeros((30, 10)), 60, "pad").shape == (60, 20)
    assert pad_to_square(np.ones((3, 5), np.float32), 7).sum() == 15


def test_downsampling_is_anti_aliased() -> None:
    """One-pixel stripes shrunk 4x average to grey; point sampling would keep 0 or 1."""
    stripes = np.tile(np.array([0.0, 1.0], dtype=np.float32), (64, 32))
    small = resample_square(stripes, 16, "stretch")
    assert np.allclose(small[:, 1:-1], 0.5, atol=0.02)  # edge columns see the image border
    assert not np.allclose(stripes[::4, ::4], 0.5, atol=0.02)


def test_float_precision_is_kept() -> None:
    ramp = 0.5 + np.linspace(0.0, 1e-4, 128, dtype=np.float32)[None, :].repeat(128, axis=0)
    small = resample_square(ramp, 64, "stretch")
    assert np.all(np.diff(small[32, 4:-4]) > 0), "steps of 1e-6 stay distinct"
