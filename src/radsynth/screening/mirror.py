"""Mirrored frontal films: two label-free detectors, a calibrated probability, and review.

1. The heart-side prior refined by the antisymmetric matched filter of
   :mod:`radsynth.screening.orient` (hard EM on the collection).
2. A softmax classifier "as stored" vs "mirrored" learned from the collection itself, started
   from detector 1's labels, cross-fitted and temperature-calibrated
   (:func:`radsynth.data.selfsup.detect_transforms`). Its linear template on a 32 x 32 grid
   weighs every left-right asymmetry the collection shares, not only the heart: the aortic knob,
   the gastric bubble under the left hemidiaphragm, the higher right (liver) dome, and markers
   at a fixed place.

A film is flipped only when detector 2 is confident (probability at least ``review_below``) and
detector 1 agrees; otherwise it goes to review unflipped. A real film shown to readers is then
mirrored by mistake only when both detectors are wrong the same way with high confidence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from radsynth.data.selfsup import MIRROR, detect_transforms, represent
from radsynth.screening.orient import analyse, detect

#: Coarse grid (px) of the learned mirror template.
MIRROR_GRID_PX = 32
#: Collections smaller than this use detector 1 only (too few films to learn a template).
MIN_FILMS = 20


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
    return decide_mirrored(prior, coarse, films, review_below, seed)


def decide_mirrored(prior, coarse, films, review_below: float = 0.9, seed: int = 0) -> MirrorCall:
    """:func:`detect_mirrored` from per-film parts: ``prior`` (N,) and ``coarse`` (N, G, G) from
    :func:`radsynth.screening.orient.analyse`, ``films`` from :func:`represent` at
    ``MIRROR_GRID_PX``."""
    scores, conf1 = detect(prior, coarse)
    first = scores < 0
    if len(films) < MIN_FILMS:
        return MirrorCall(first, conf1, conf1 < review_below)
    fit = detect_transforms(films, MIRROR, first.astype(int), seed=seed)
    mirrored = fit.labels == 1
    confidence = fit.probs.max(1)
    review = (confidence < review_below) | (mirrored != first)
    return MirrorCall(mirrored, confidence, review)
