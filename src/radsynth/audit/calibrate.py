"""The flag threshold from held-out real images, robust to near-copies hiding in the held-out set.

A held-out (val) image is a film the model never saw, so its nearest-neighbour score against
the training set says how close a genuinely new film comes by chance. A synthetic image scoring
at or above the ``flag_percentile`` percentile of those scores is flagged; on new films the
expected false-flag rate is then ``1 - flag_percentile / 100`` (0.5% at 99.5), up to the
sampling error of a percentile estimated from ``n`` held-out images.

Two things used to blind the audit: a held-out set too small for the percentile (the threshold
then sat above the largest held-out score) and one held-out film that is in fact a training
film (same patient, re-saved or re-windowed): its score ~1 became the threshold and only
bit-exact copies were flagged. Here:

1. bit-identical films and shared patient ids are refused before (see
   :mod:`radsynth.data.leaks`);
2. held-out scores beyond Tukey's far-out fence ``Q3 + 3 IQR`` (Tukey, "Exploratory Data
   Analysis", 1977), computed on the closeness scale ``-log(1 - s)`` where copies stand far
   out, are near-copies of training films, not new films: they are listed and left out;
3. at least ``ceil(100 / (100 - p))`` held-out images must remain, so that at least one lies at
   or above the threshold (200 for p = 99.5); fewer is a one-line error saying so.

**Bound.** The threshold is an order statistic of the kept scores (just above the
``ceil(p n / 100)``-th smallest), so it never exceeds the fence, whatever the held-out set
holds; and adding one near-copy to the held-out set moves it by at most one order statistic of
the original scores (dropped: the rank shifts by at most one as ``n`` grows; kept: it adds one
value). Tested in ``tests/audit/test_calibrate.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from radsynth.errors import RadsynthError

FENCE_IQR = 3.0  # Tukey's "far out" multiple


@dataclass(frozen=True)
class Calibration:
    """The threshold and how it was reached."""

    threshold: float  # flag a score >= this
    fence: float  # held-out scores above this were dropped as near-copies of training films
    kept: np.ndarray  # (n_val,) bool: held-out images used for the percentile


def needed(pct: float) -> int:
    """Held-out images needed so that at least one lies at or above the ``pct`` percentile."""
    return math.ceil(round(100.0 / (100.0 - pct), 9))


def closeness(scores: np.ndarray) -> np.ndarray:
    """``-log(1 - s)``: a similarity in [-1, 1] on a scale where near-copies stand far out."""
    s = np.clip(np.asarray(scores, dtype=np.float64), -1.0, 1.0 - 1e-7)
    return -np.log1p(-s)


def far_out_fence(scores: np.ndarray) -> float:
    """Tukey's far-out fence ``Q3 + 3 IQR`` of ``closeness(scores)``, back on the score scale."""
    c = closeness(scores)
    q1, q3 = np.percentile(c, [25, 75])
    return float(-np.expm1(-(q3 + FENCE_IQR * (q3 - q1))))


def order_threshold(values: np.ndarray, pct: float) -> float:
    """The smallest float32 above the ``ceil(pct n / 100)``-th smallest value: the share of
    ``values`` strictly below it is at least ``pct`` %."""
    ranked = np.sort(np.asarray(values, dtype=np.float32))
    need = int(np.ceil(round(pct / 100.0 * len(ranked), 9)))
    if need <= 0:
        return float("-inf")
    return float(np.nextafter(ranked[need - 1], np.float32(np.inf)))


def calibrate(val_scores: np.ndarray, pct: float) -> Calibration:
    """Threshold at the ``pct`` percentile of the held-out scores, near-copies left out.

    Args:
        val_scores: (n_val,) nearest-neighbour scores of held-out images against training.
        pct: flag percentile in (0, 100).

    Raises:
        RadsynthError: fewer than :func:`needed` held-out images remain.
    """
    if not 0.0 < pct < 100.0:
        raise RadsynthError(f"flag_percentile must be in (0, 100), got {pct}")
    scores = np.asarray(val_scores, dtype=np.float64)
    fence = far_out_fence(scores) if len(scores) >= 4 else 1.0
    kept = scores <= fence
    n, need = int(kept.sum()), needed(pct)
    if n < need:
        dropped = (
            f" ({len(scores) - n} dropped as near-copies of training films)"
            if n < len(scores)
            else ""
        )
        raise RadsynthError(
            f"{n} held-out images{dropped} are too few for the {pct} percentile: at least "
            f"{need} are needed; add held-out images or lower flag_percentile"
        )
    return Calibration(order_threshold(scores[kept], pct), fence, kept)
