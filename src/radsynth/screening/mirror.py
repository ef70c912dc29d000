"""Mirrored frontal films: two label-free detectors, a calibrated probability, and review.

1. The heart-side prior refined by the antisymmetric matched filter of
   :mod:`radsynth.screening.orient` (hard EM on the collection).
2. A softmax classifier "as stored" vs "mirrored" learned from the collection itself, started
   from detector 1's labels, cross-fitted and temperature-calibrated
   (:func:`radsynth.data.selfsup.detect_transforms`). Its linear template on a 32 x 32 grid
   weighs every left-right asymmetry the collection shares, not only the heart: the aortic knob,
   the gastric bubble under the left hemidiaphragm, the higher right (liver) dome, and markers
   at a fixed place.

3. **Side markers** (the lead "R" or "L" a radiographer puts in a top corner): the brightest
   compact blob in each top corner, by a white top-hat (the film minus its grey-scale opening
   with an 11 x 11 square at 224 px; Serra, *Image Analysis and Mathematical Morphology*,
   1982). Where one corner's blob is clearly stronger (by ``MARKER_MARGIN``), the film has a
   marker on that side. Which side a collection puts its marker is learned from the collection
   itself: the majority side after detectors 1-2 have turned each film to the standard side.

A film is flipped only when detector 2 is confident (probability at least ``review_below``),
detector 1 agrees, and its marker, if it has one, does not say it is already standard (the
marker on the collection's side as stored); otherwise it goes to review unflipped. A film not
called mirrored whose marker is on the other side goes to review too. A real film shown to
readers is then mirrored by mistake only when all the evidence is wrong the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from radsynth.data.resample import pad_to_square, scale_to_fit
from radsynth.data.selfsup import MIRROR, detect_transforms, represent
from radsynth.screening.orient import analyse, detect

#: Coarse grid (px) of the learned mirror template.
MIRROR_GRID_PX = 32
#: Collections smaller than this use detector 1 only (too few films to learn a template).
MIN_FILMS = 20
#: A top corner's top-hat maximum must exceed the other's by this much (intensity in [0, 1]) to
#: count as a side marker. Chosen on the paediatric films (docs/screening.md).
MARKER_MARGIN = 0.2


def marker_asymmetry(img: np.ndarray) -> float:
    """Top-left minus top-right corner white top-hat maximum of a float (H, W) film in [0, 1],
    at 224 px: > 0 when the stronger compact bright blob (a side marker) is on the image left.
    Corners: the top quarter, outer 30% on each side."""
    x = pad_to_square(scale_to_fit(np.asarray(img, dtype=np.float32), 224, "pad"), 224)
    tophat = x - ndimage.grey_opening(x, size=(11, 11))
    top = tophat[: 224 // 4]
    return float(top[:, : int(0.3 * 224)].max() - top[:, int(0.7 * 224) :].max())


@dataclass(frozen=True)
class MirrorCall:
    """The frontal mirror decision for a collection, one entry per film."""

    mirrored: np.ndarray  # (N,) bool: the heart is on the image left (film stored mirrored)
    confidence: np.ndarray  # (N,) calibrated probability of that decision
    review: np.ndarray  # (N,) bool: uncertain or the detectors disagree: do not flip


def detect_mirrored(images: list[np.ndarray], review_below: float = 0.9, seed: int = 0):
    """Decide, per frontal film, whether it is stored mirrored (module docstring).

    Args:
        images: float (H, W) films in [0, 1], positive polarity.
        review_below: calibrated confidence below which a film is sent to review.
        seed: seed of the cross-fitting folds.

    Returns:
        A :class:`MirrorCall`.
    """
    parts = [analyse(img, "frontal") for img in images]
    prior, coarse = np.array([p for p, _ in parts]), np.stack([g for _, g in parts])
    films = [represent(img, MIRROR_GRID_PX) for img in images]
    marker = np.array([marker_asymmetry(img) for img in images])
    return decide_mirrored(prior, coarse, films, review_below, seed, marker)


def decide_mirrored(
    prior, coarse, films, review_below: float = 0.9, seed: int = 0, marker=None
) -> MirrorCall:
    """:func:`detect_mirrored` from per-film parts: ``prior`` (N,) and ``coarse`` (N, G, G) from
    :func:`radsynth.screening.orient.analyse`, ``films`` from :func:`represent` at
    ``MIRROR_GRID_PX``, ``marker`` (N,) from :func:`marker_asymmetry` (None: not used)."""
    scores, conf1 = detect(prior, coarse)
    first = scores < 0
    if len(films) < MIN_FILMS:
        return MirrorCall(first, conf1, conf1 < review_below)
    fit = detect_transforms(films, MIRROR, first.astype(int), seed=seed)
    mirrored = fit.labels == 1
    confidence = fit.probs.max(1)
    review = (confidence < review_below) | (mirrored != first)
    if marker is not None:
        review |= marker_disagrees(np.asarray(marker, dtype=float), mirrored)
    return MirrorCall(mirrored, confidence, review)


def marker_disagrees(marker: np.ndarray, mirrored: np.ndarray) -> np.ndarray:
    """(N,) bool: the film has a side marker, and after the mirror decision it is not on the
    side where the collection's films have theirs (the majority, decided films only)."""
    has = np.abs(marker) > MARKER_MARGIN
    canonical = np.where(mirrored, -marker, marker)  # the marker side after the decision
    if not has.any():
        return np.zeros(len(marker), dtype=bool)
    side = np.sign(np.median(canonical[has]))
    return has & (np.sign(canonical) != side)
