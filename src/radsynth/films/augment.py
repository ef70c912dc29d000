"""What real frontal films carry that a clean training collection lacks, as seeded functions.

Each function takes a float (H, W) film in [0, 1] (positive polarity, upright) and a
``numpy.random.Generator`` and returns a new float32 film; the same generator state gives the same
film. They are used to fit the shipped rotation and polarity networks
(:mod:`radsynth.films.checknet`) so that they hold on films from other hospitals:

- :func:`letterbox`: the film padded into a wider or taller black frame (exported figures,
  screenshots of a viewer);
- :func:`text_block`: a burned-in block of annotation text (a bright box of glyph strokes);
- :func:`side_marker`: a small bright lead marker letter near a top corner;
- :func:`tubes_wires`: thin bright curves (ECG leads, lines, tubes) across the chest;
- :func:`crop`: a crop of 70-95% of each side (films cropped from figures);
- :func:`collimation`: uniform bright bands along the edges (collimator shadow: unexposed film
  is white in positive display);
- :func:`portable_ap`: the geometry of a bedside AP film: magnified, tilted a few degrees, the
  thorax shortened by the beam angle, and a flatter contrast;
- :func:`processing`: a vendor's multi-frequency processing: the large-scale contrast
  compressed, the fine detail amplified (the grey lungs and white abdomen of many portable
  adult films). Added after the shipped networks were fitted, so :func:`augment` applies it
  only when asked (docs/screening.md, "Third round": refits with it were measured and not
  shipped).

:func:`augment` applies each with a given probability, in a fixed order.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image
from scipy import ndimage

Augmentation = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def _resize(img: np.ndarray, height_px: int, width_px: int) -> np.ndarray:
    pil = Image.fromarray(np.asarray(img, dtype=np.float32), mode="F")
    out = pil.resize((max(1, width_px), max(1, height_px)), Image.Resampling.BILINEAR)
    return np.clip(np.asarray(out, dtype=np.float32), 0.0, 1.0)


def letterbox(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The film shrunk into a frame 1.25-1.8 times as wide (or tall) as it is, filled black (or
    dark grey), at a random offset; same shape as the input."""
    h, w = img.shape
    ratio = rng.uniform(1.25, 1.8)
    wide = rng.random() < 0.5
    ih, iw = (h, round(w / ratio)) if wide else (round(h / ratio), w)
    out = np.full((h, w), rng.uniform(0.0, 0.08), dtype=np.float32)
    top, left = int(rng.integers(0, h - ih + 1)), int(rng.integers(0, w - iw + 1))
    out[top : top + ih, left : left + iw] = _resize(img, ih, iw)
    return out


def text_block(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A block of burned-in text (rows of bright glyph strokes on a dark or clear box) covering
    4-15% of the film, placed near a random corner or edge."""
    out = np.array(img, dtype=np.float32)
    h, w = out.shape
    bh = max(3, round(h * rng.uniform(0.12, 0.3)))
    bw = max(6, round(w * rng.uniform(0.3, 0.55)))
    top = int(rng.choice([0, h - bh, int(rng.integers(0, h - bh + 1))]))
    left = int(rng.choice([0, w - bw]))
    box = out[top : top + bh, left : left + bw]
    if rng.random() < 0.6:
        box[:] = rng.uniform(0.0, 0.1)
    line_px = max(2, bh // int(rng.integers(2, 5)))
    glyphs = rng.random((bh, bw)) < 0.45
    glyphs &= (np.arange(bh)[:, None] % line_px) < max(1, line_px * 2 // 3)
    box[glyphs] = rng.uniform(0.85, 1.0)
    return out


def side_marker(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A bright lead marker (a small square letter shape, 5-9% of the width) near a top corner."""
    out = np.array(img, dtype=np.float32)
    h, w = out.shape
    s = max(3, round(w * rng.uniform(0.05, 0.09)))
    top = int(rng.integers(0, max(1, h // 5)))
    left = int(rng.integers(0, max(1, w // 6)))
    if rng.random() < 0.5:
        left = w - s - left
    letter = np.zeros((s, s), dtype=bool)
    letter[:, : max(1, s // 4)] = True  # the stem of an L or R
    letter[-max(1, s // 4) :, :] = rng.random() < 0.5
    letter[: max(1, s // 4), :] |= rng.random() < 0.5
    out[top : top + s, left : left + s][letter] = rng.uniform(0.9, 1.0)
    return out


def tubes_wires(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One to four thin bright curves (leads, lines, tubes), each a random smooth path."""
    out = np.array(img, dtype=np.float32)
    h, w = out.shape
    for _ in range(int(rng.integers(1, 5))):
        t = np.linspace(0.0, 1.0, 4 * max(h, w))
        p = rng.uniform(0.1, 0.9, (2, 3))  # start, bend, end in each coordinate
        x = (1 - t) ** 2 * p[0, 0] + 2 * t * (1 - t) * p[0, 1] + t**2 * p[0, 2]
        y = (1 - t) ** 2 * p[1, 0] + 2 * t * (1 - t) * p[1, 1] + t**2 * p[1, 2]
        r = max(0, round(rng.uniform(0.0, 1.0) * max(h, w) / 96))  # half-width (px)
        level = rng.uniform(0.75, 1.0)
        for dy in range(-r, r + 1):
            for dx in range(-r, r + 1):
                rows = np.clip(np.round(y * (h - 1)).astype(int) + dy, 0, h - 1)
                cols = np.clip(np.round(x * (w - 1)).astype(int) + dx, 0, w - 1)
                out[rows, cols] = np.maximum(out[rows, cols], level)
    return out


def crop(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A crop keeping 70-95% of each side at a random offset, resized back to the input shape."""
    h, w = img.shape
    ch, cw = round(h * rng.uniform(0.7, 0.95)), round(w * rng.uniform(0.7, 0.95))
    top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    return _resize(img[top : top + ch, left : left + cw], h, w)


def collimation(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Uniform bright bands (4-15% of the side) along one to four edges."""
    out = np.array(img, dtype=np.float32)
    h, w = out.shape
    level = rng.uniform(0.8, 1.0)
    edges = np.flatnonzero(rng.random(4) < 0.5)
    for edge in edges if edges.size else [int(rng.integers(0, 4))]:
        side = h if edge < 2 else w
        n = max(1, round(side * rng.uniform(0.04, 0.15)))
        band = (slice(0, n), slice(side - n, side))[edge % 2]
        if edge < 2:
            out[band, :] = level
        else:
            out[:, band] = level
    return out


def portable_ap(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A bedside AP look: magnified 1.05-1.25, shortened vertically by 0-15% (beam angle), tilted
    up to 6 degrees and with contrast flattened (gamma 0.7-1.0, a raised floor)."""
    h, w = img.shape
    zoom = rng.uniform(1.05, 1.25)
    squash = rng.uniform(0.85, 1.0)
    zh, zw = round(h * zoom * squash), round(w * zoom)
    big = _resize(img, zh, zw)
    canvas = np.zeros((max(h, zh), max(w, zw)), dtype=np.float32)
    canvas[(canvas.shape[0] - zh) // 2 :][:zh, (canvas.shape[1] - zw) // 2 :][:, :zw] = big
    pil = Image.fromarray(canvas, mode="F").rotate(
        rng.uniform(-6.0, 6.0), resample=Image.Resampling.BILINEAR
    )
    rot = np.asarray(pil, dtype=np.float32)
    top, left = (rot.shape[0] - h) // 2, (rot.shape[1] - w) // 2
    out = rot[top : top + h, left : left + w]
    floor = rng.uniform(0.0, 0.15)
    return np.clip(floor + (1 - floor) * out ** rng.uniform(0.7, 1.0), 0.0, 1.0).astype(np.float32)


def processing(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Two-band multi-frequency processing, the kind digital radiography systems apply before
    a film is exported (multiscale contrast amplification: Vuylsteke & Schoeters, *Proc. SPIE*
    2167, 1994). The film splits into a low band (a Gaussian blur with sigma 3-10% of the
    shorter side) and the detail left over; the low band is scaled by 0.15-0.7 (large-scale
    contrast compressed: lungs, mediastinum and abdomen drawn towards one grey), the detail by
    1.5-4.0 (edges of ribs, vessels and lines sharpened). The result is stretched between its
    0.5th and 99.5th percentiles and given a gamma of 0.7-1.4. Both bands keep their sign, so a
    positive film stays positive."""
    x = np.asarray(img, dtype=np.float32)
    low = ndimage.gaussian_filter(x, sigma=rng.uniform(0.03, 0.1) * min(x.shape), mode="nearest")
    out = rng.uniform(0.15, 0.7) * low + rng.uniform(1.5, 4.0) * (x - low)
    lo, hi = np.percentile(out, [0.5, 99.5])
    out = np.clip((out - lo) / max(float(hi - lo), 1e-6), 0.0, 1.0)
    return (out ** rng.uniform(0.7, 1.4)).astype(np.float32)


#: The augmentations in the order :func:`augment` applies them (geometry first, overlays last).
AUGMENTATIONS: tuple[tuple[str, Augmentation], ...] = (
    ("portable_ap", portable_ap),
    ("crop", crop),
    ("collimation", collimation),
    ("tubes_wires", tubes_wires),
    ("side_marker", side_marker),
    ("processing", processing),
    ("text_block", text_block),
    ("letterbox", letterbox),
)


def augment(
    img: np.ndarray, rng: np.random.Generator, p: float = 0.3, with_processing: bool = False
) -> np.ndarray:
    """Apply each of :data:`AUGMENTATIONS` with probability ``p`` (in that order).

    :func:`processing` was added after the shipped networks were fitted and takes part only
    when asked (``with_processing``); otherwise it draws nothing from ``rng``, so the
    films of the other seven, and every figure and weight made with them, come out draw for
    draw as before it existed.
    """
    out = np.asarray(img, dtype=np.float32)
    for name, fn in AUGMENTATIONS:
        if (with_processing or name != "processing") and rng.random() < p:
            out = fn(out, rng)
    return out
