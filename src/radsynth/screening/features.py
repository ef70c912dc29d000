"""Anatomy-aware features of a lateral radiograph facing left, for the implausibility screen.

All features are measured relative to the spine, which is located first:

- **Spine line**: in each row, the centre of the brightest band (smoothed column profile) near
  the previous row's centre, then smoothed along the rows (the cervical lordosis is gentle).
- **Cross-section profile** (anterior -> posterior): the mean intensity at fixed horizontal
  offsets from the spine line, over the neck rows. A normal film has the dark airway and the
  thin anterior soft tissue in front of the spine and the spinous processes and posterior
  muscles behind it; an airway behind the spine or anterior/posterior elements swapped change
  this profile.
- **Along-spine spectrum**: the intensity along the spine line (vertebral bodies bright, discs
  dark) is periodic with one period per vertebra; the normalised power spectrum of the
  detrended profile, on a grid of "cycles per spine length", encodes the number of vertebral
  bodies (a missing or a duplicated vertebra shifts its peak).
- **Spine-window texture**: the spine band straightened (resampled along the spine line) and
  shrunk to a small grid, which sees the order of bodies and posterior elements.

The feature vector is the concatenation; each block is scaled so it has unit norm on average.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

#: Working resolution (px): images are resized to this square before measuring.
WORK_PX = 128
#: Horizontal offsets of the cross-section profile, in image widths (negative = anterior).
OFFSETS = np.linspace(-0.4, 0.4, 33)
#: Frequencies of the along-spine spectrum, in cycles per measured spine length.
CYCLES = np.linspace(2.0, 12.0, 41)


def _resize(img: np.ndarray, size: int) -> np.ndarray:
    pil = Image.fromarray(np.asarray(img, dtype=np.float32), mode="F")
    return np.asarray(pil.resize((size, size), Image.Resampling.BOX), dtype=np.float32)


def spine_line(img: np.ndarray) -> np.ndarray:
    """Column (px, float) of the spine's centre in each row of a (S, S) image."""
    s = img.shape[0]
    band = ndimage.uniform_filter1d(img, size=max(3, s // 10), axis=1)
    band = ndimage.uniform_filter1d(band, size=max(3, s // 16), axis=0)
    lo, hi = s // 5, s - s // 5
    centre = np.empty(s)
    mid = s // 2
    centre[mid] = lo + np.argmax(band[mid, lo:hi])
    reach = max(2, s // 32)
    for rows in (range(mid + 1, s), range(mid - 1, -1, -1)):
        prev = centre[mid]
        for r in rows:
            a, b = int(max(lo, prev - reach)), int(min(hi, prev + reach + 1))
            prev = a + np.argmax(band[r, a:b])
            centre[r] = prev
    return ndimage.gaussian_filter1d(centre, sigma=s / 16, mode="nearest")


def anatomy_features(img: np.ndarray) -> np.ndarray:
    """The screen's feature vector of one left-facing image (float (H, W) in [0, 1])."""
    x = _resize(img, WORK_PX)
    x = (x - x.mean()) / (x.std() + 1e-6)
    s = WORK_PX
    centre = spine_line(x)
    rows = np.arange(int(0.25 * s), int(0.9 * s))
    # Cross-section: intensity at offsets from the spine, averaged over the neck rows.
    cols = centre[rows][:, None] + OFFSETS[None, :] * s  # (R, K)
    coords = np.stack([np.broadcast_to(rows[:, None], cols.shape), cols])
    cross = ndimage.map_coordinates(x, coords, order=1, mode="nearest").mean(0)
    # Along-spine profile and its spectrum.
    along = ndimage.map_coordinates(x, np.stack([rows, centre[rows]]), order=1, mode="nearest")
    along = along - np.polyval(np.polyfit(np.arange(len(along)), along, 2), np.arange(len(along)))
    t = np.arange(len(along)) / len(along)
    spectrum = np.abs(np.exp(-2j * np.pi * CYCLES[:, None] * t[None, :]) @ along)
    spectrum /= np.linalg.norm(spectrum) + 1e-9
    # Straightened spine window, +-0.2 widths around the spine line, shrunk to 16 x 8.
    offs = np.linspace(-0.2, 0.2, 24) * s
    win = ndimage.map_coordinates(
        x, np.stack(np.broadcast_arrays(rows[:, None], centre[rows][:, None] + offs)), order=1
    )
    window = _resize(win, 16)[:, ::2].ravel()
    blocks = [cross, spectrum * np.sqrt(len(cross)), window * np.sqrt(len(cross) / len(window))]
    return np.concatenate(blocks).astype(np.float32)
