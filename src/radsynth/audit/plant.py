"""Near-copies of a film at stated strengths: what a memorizing generator reproduces.

A memorized sample is rarely bit-exact: it is the training film slightly shifted, cropped,
rescaled, rotated, re-windowed, noisier, blurred or mirrored (Dar et al., "Investigating
Data Memorization in 3D Latent Diffusion Models for Medical Image Synthesis", 2024; Akbar et
al., "Beware of diffusion models for synthesizing medical images", 2025). The audit benchmark
(:mod:`radsynth.audit.bench`) and the tests plant these copies among novel films; the
strengths below are the ones the copy detector must catch (issue 15).

Every transform takes an (H, W) float image in [0, 1] and a numpy Generator and returns an
(H, W) float32 image in [0, 1]; geometric ones resample bilinearly with edge replication.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage

Transform = Callable[[np.ndarray, np.random.Generator], np.ndarray]

#: Human-readable strengths, printed by the benchmark and written to docs/screening.md.
STRENGTHS: dict[str, str] = {
    "exact": "bit-exact copy",
    "shift": "3-5 px in x and in y (random signs)",
    "crop": "crop keeping 88% of each side at a random offset, rescaled to full size",
    "rotate": "rotation 2-4 degrees (random sign) about the centre",
    "scale": "zoom 0.90-0.95 or 1.05-1.10 about the centre",
    "window": "gamma 0.7-0.8 or 1.25-1.4, then window [0-0.05, 0.90-1.0] to [0, 1]",
    "noise": "additive Gaussian noise, sd 0.03-0.05 (of the [0, 1] range)",
    "blur": "Gaussian blur, sigma 1.0-1.5 px",
    "mirror": "left-right mirror",
}


def _affine(img: np.ndarray, zoom: float, angle_deg: float, shift_yx=(0.0, 0.0)) -> np.ndarray:
    """Resample ``img`` zoomed by ``zoom`` and rotated by ``angle_deg`` about its centre, then
    shifted by ``shift_yx`` px (output = input content moved by +shift)."""
    h, w = img.shape
    a = np.deg2rad(angle_deg)
    # Output pixel o maps to input pixel i = M (o - c - shift) + c, M = R(-a) / zoom.
    rot = np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]]) / zoom
    centre = np.array([(h - 1) / 2, (w - 1) / 2])
    offset = centre - rot @ (centre + np.asarray(shift_yx, dtype=np.float64))
    out = ndimage.affine_transform(img.astype(np.float64), rot, offset, order=1, mode="nearest")
    return np.clip(out, 0, 1).astype(np.float32)


def _sign(rng: np.random.Generator) -> float:
    return 1.0 if rng.random() < 0.5 else -1.0


def exact(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.asarray(img, dtype=np.float32).copy()


def shift(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    dy, dx = (_sign(rng) * int(rng.integers(3, 6)) for _ in range(2))
    return _affine(img, 1.0, 0.0, (dy, dx))


def crop(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = img.shape
    ch, cw = round(0.88 * h), round(0.88 * w)
    y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    zoom_y, zoom_x = h / ch, w / cw
    part = img[y0 : y0 + ch, x0 : x0 + cw].astype(np.float64)
    out = ndimage.zoom(part, (zoom_y, zoom_x), order=1, mode="nearest", grid_mode=True)
    return np.clip(out[:h, :w], 0, 1).astype(np.float32)


def rotate(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return _affine(img, 1.0, _sign(rng) * rng.uniform(2.0, 4.0))


def scale(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    zoom = rng.uniform(1.05, 1.10) if rng.random() < 0.5 else rng.uniform(0.90, 0.95)
    return _affine(img, zoom, 0.0)


def window(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    gamma = rng.uniform(0.7, 0.8) if rng.random() < 0.5 else rng.uniform(1.25, 1.4)
    lo, hi = rng.uniform(0.0, 0.05), rng.uniform(0.90, 1.0)
    out = (np.clip(img, 0, 1) ** gamma - lo) / (hi - lo)
    return np.clip(out, 0, 1).astype(np.float32)


def noise(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    sd = rng.uniform(0.03, 0.05)
    return np.clip(img + rng.normal(0.0, sd, img.shape), 0, 1).astype(np.float32)


def blur(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    sigma = rng.uniform(1.0, 1.5)
    return np.clip(ndimage.gaussian_filter(img.astype(np.float64), sigma, mode="nearest"), 0, 1)


def mirror(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.ascontiguousarray(img[:, ::-1], dtype=np.float32)


#: name -> transform, in the order the benchmark reports them.
TRANSFORMS: dict[str, Transform] = {
    "exact": exact,
    "shift": shift,
    "crop": crop,
    "rotate": rotate,
    "scale": scale,
    "window": window,
    "noise": noise,
    "blur": blur,
    "mirror": mirror,
}


def plant(img: np.ndarray, kind: str, seed: int) -> np.ndarray:
    """The near-copy ``kind`` of ``img``; the same seed gives the same copy."""
    return TRANSFORMS[kind](img, np.random.default_rng(seed)).astype(np.float32)
