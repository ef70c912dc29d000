"""Mirrored frontal films: a learned network, side markers, a calibrated probability, review.

1. **The laterality network** (:mod:`radsynth.screening.laterality`): a small antisymmetric CNN
   trained on standard frontal films and their mirror images (the shipped weights: the
   paediatric films; ``radsynth mirror-model`` trains one on a user's own films). It learns every
   left-right cue at once: the heart, the aortic knob, the gastric bubble under the left dome,
   the higher right (liver) dome. Its temperature-calibrated probability decides the call.
2. **Side markers** (the lead "R"/"L"/"D" a radiographer puts in a top corner): the brightest
   compact blob in each top corner, by a white top-hat (the film minus its grey-scale opening
   with an 11 x 11 square at 224 px; Serra, *Image Analysis and Mathematical Morphology*,
   1982). Where one corner's blob is clearly stronger (by ``MARKER_MARGIN``), the film has a
   marker on that side. Which side a collection puts its marker is learned from the collection
   itself: the majority side after the network has turned each film to the standard side.

The decision (issue 27: "a wrong flip is worse than a review", as for ingest's turns):

3. **The collection's prior.** The network is calibrated at even odds (half its training films
   mirrored), but in a real collection mirrored films are rare. Their share is estimated from
   the collection itself by EM (:func:`collection_prior`) and its log prior odds are added to
   every film's log-odds, so in a folder of standard films a lone confident "mirrored" call
   needs far more evidence; in a half-mirrored folder nothing changes.
4. **Posterior.** Markers count as independent evidence (naive Bayes): a marker on the
   collection's side adds ``MARKER_LOG_ODDS`` (logit 0.95, the marker's accuracy measured on the
   paediatric films) towards "stored standard", one on the other side as much towards
   "mirrored".
5. **Flip** only when the network itself says the film is on the wrong side, no marker
   contradicts it, and the network with the collection's prior alone gives the wrong side a
   probability of at least ``FLIP_ABOVE`` (0.99, or ``review_below`` if higher). A marker can
   veto a flip (a marker that contradicts the network sends the film to review) but never make
   one: in the example run a bright blob in a top corner of a standard film, read as a marker,
   agreed with the network's confident wrong call (log-odds 7.3 on a right-sided consolidation)
   and lifted it from 0.906 to 0.9945 (before the second round of 2026-12-06 it counted
   towards the flip).
   **Keep** (no review) when the posterior probability of the canonical side, markers
   included, is at least ``review_below``. Anything else is left as stored and listed for
   review.

What this replaced (measured in docs/screening.md): the heart-side prior refined by orient's
matched filter and a linear template learned on the collection (right on 72% and 65% of 54
adult films of another hospital, against 94.4% for the networks trained on children's films).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from radsynth.data.resample import pad_to_square, scale_to_fit
from radsynth.screening.laterality import MirrorModel, load_model

#: A top corner's top-hat maximum must exceed the other's by this much (intensity in [0, 1]) to
#: count as a side marker. Chosen on the paediatric films (docs/screening.md).
MARKER_MARGIN = 0.2
#: Evidence of one marker in log-odds: on the paediatric films, 95.0% of films with a marker had
#: it on their collection's side, logit(0.95) = 2.94 (docs/screening.md).
MARKER_LOG_ODDS = math.log(0.95 / 0.05)
#: At least this many films with a marker are needed to learn the collection's marker side.
MIN_MARKED = 10
#: A flip needs at least this posterior probability: a wrong flip is worse than a review, as
#: for ingest's turns (``CheckSettings.turn_above`` in :mod:`radsynth.data.filmchecks`); checked
#: on the paediatric films (docs/screening.md).
FLIP_ABOVE = 0.99


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

    mirrored: np.ndarray  # (N,) bool: the heart is more likely on the image left (posterior)
    confidence: np.ndarray  # (N,) posterior probability of that side
    review: np.ndarray  # (N,) bool: not flipped, listed for a person to decide
    flip: np.ndarray  # (N,) bool: the flip rule holds: turn the film to the canonical side


def detect_mirrored(
    images: list[np.ndarray], review_below: float = 0.9, model: MirrorModel | None = None
) -> MirrorCall:
    """Decide, per frontal film, whether it is stored mirrored (module docstring).

    Args:
        images: float (H, W) films in [0, 1], positive polarity.
        review_below: calibrated confidence below which a film is sent to review.
        model: the laterality network; None loads the shipped weights.

    Returns:
        A :class:`MirrorCall`.
    """
    z = (model or load_model()).logit(images)
    return decide_mirrored(z, np.array([marker_asymmetry(img) for img in images]), review_below)


def decide_mirrored(
    logit_mirrored: np.ndarray,
    marker: np.ndarray | None = None,
    review_below: float = 0.9,
    heart_left: bool = False,
    adapt_prior: bool = True,
) -> MirrorCall:
    """:func:`detect_mirrored` from per-film parts (the rule in the module docstring).

    Args:
        logit_mirrored: (N,) the network's calibrated log-odds of "stored mirrored" (at even
            odds, as it was trained and calibrated).
        marker: (N,) from :func:`marker_asymmetry`; None: markers are not used.
        review_below: a film is kept without review when the posterior probability of its
            side being the canonical one is at least this; 0 sends nothing to review.
        heart_left: the canonical side is the heart on the image left (``--side left``).
        adapt_prior: add the collection's own log prior odds of a mirrored film
            (:func:`collection_prior`); False keeps even odds.

    Returns:
        A :class:`MirrorCall`; ``flip`` means "turn to the canonical side".
    """
    z = np.asarray(logit_mirrored, dtype=float)
    vote = np.zeros(len(z))
    if marker is not None:
        vote = marker_vote(np.asarray(marker, dtype=float), z > 0)
    prior = collection_prior(z) if adapt_prior else 0.5
    # Log-odds of "mirrored" from the network and the prior, then with the marker too (naive
    # Bayes: prior, network and marker independent).
    net = z + math.log(prior / (1.0 - prior))
    post = net - MARKER_LOG_ODDS * vote
    s = -1.0 if heart_left else 1.0  # s * log-odds of "mirrored" = evidence for a flip
    # A flip rests on the network and the prior alone: a marker may veto it, never make it.
    flip = (s * z > 0) & (s * vote < 1) & (s * net >= _logit(max(FLIP_ABOVE, review_below)))
    keep = -s * post >= _logit(review_below)
    contradicted = (s * z > 0) & (s * vote == 1)  # the network says flip, the marker says keep
    review = ~flip & (~keep | contradicted) & (review_below > 0)
    confidence = 1.0 / (1.0 + np.exp(-np.abs(post)))
    return MirrorCall(post > 0, confidence, np.asarray(review), flip)


def _logit(p: float) -> float:
    """log(p / (1 - p)), -inf at 0 and +inf at 1."""
    return -math.inf if p <= 0 else math.inf if p >= 1 else math.log(p / (1.0 - p))


def collection_prior(logit_mirrored: np.ndarray, iterations: int = 100) -> float:
    """The share of a collection's films that are stored mirrored, estimated from the network's
    even-odds log-odds by EM (Saerens, Latinne & Decaestecker, *Neural Computation* 14, 2002:
    re-weight each posterior by the current prior, average, repeat) with a Beta(1, 1) prior on
    the share, so one film gives 1/3-2/3 and a large standard collection about 1/(N + 2)."""
    z = np.asarray(logit_mirrored, dtype=float)
    share = 0.5
    for _ in range(iterations):
        post = 1.0 / (1.0 + np.exp(-(z + math.log(share / (1.0 - share)))))
        share = (post.sum() + 1.0) / (len(z) + 2.0)
    return float(share)


def marker_vote(marker: np.ndarray, mirrored: np.ndarray) -> np.ndarray:
    """(N,) +1 where a film's side marker, as stored, is on the side the collection puts its
    markers (evidence that it is stored standard), -1 where it is on the other side, 0 without
    a marker. The collection's side is the majority side of the films with a marker after the
    preliminary ``mirrored`` call has turned them standard; fewer than ``MIN_MARKED`` such films
    give no side and all votes are 0."""
    has = np.abs(marker) > MARKER_MARGIN
    if has.sum() < MIN_MARKED:
        return np.zeros(len(marker))
    canonical = np.where(mirrored, -marker, marker)  # the marker side after the call
    side = np.sign(np.median(canonical[has]))
    return np.where(has, np.sign(marker) * side, 0.0)
