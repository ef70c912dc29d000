"""A bootstrap confidence interval for KID (Bińkowski et al., ICLR 2018).

KID is the unbiased estimate of MMD^2 with the cubic polynomial kernel
k(a, b) = (a.b / D + 1)^3 (:func:`radsynth.metrics.formulas.polynomial_kernel`). Here both sets
are resampled with replacement (Efron & Tibshirani 1993, ch. 13: the percentile interval), and
each replicate's MMD^2 is the U-statistic over pairs of *distinct* original images: a pair that
is one image drawn twice is left out of the within-set means, since k(x, x) is not a draw of
k(x, x') and would bias every replicate upwards. The kernel matrices are computed once and
indexed, so B replicates cost B index gathers, not B kernel evaluations.
"""

from __future__ import annotations

import numpy as np

from radsynth.metrics.formulas import polynomial_kernel


def _within_mean(k: np.ndarray, idx: np.ndarray) -> float:
    """Mean of k[idx_a, idx_b] over a != b with idx_a != idx_b (distinct original images)."""
    block = k[np.ix_(idx, idx)]
    distinct = idx[:, None] != idx[None, :]
    n = int(distinct.sum())
    return float(block[distinct].sum() / n) if n else float("nan")


def mmd2_resampled(
    k_xx: np.ndarray, k_xy: np.ndarray, k_yy: np.ndarray, i: np.ndarray, j: np.ndarray
) -> float:
    """MMD^2 of the resample x[i], y[j] from the full kernel matrices.

    With ``i`` and ``j`` permutations (no image drawn twice) this is
    :func:`radsynth.metrics.formulas.mmd2_unbiased` of the whole sets.

    Args:
        k_xx: (N_x, N_x), k_xy: (N_x, N_y), k_yy: (N_y, N_y) kernel matrices.
        i: (M_x,) indices into x; j: (M_y,) indices into y, with repeats.
    """
    cross = float(k_xy[np.ix_(i, j)].mean())
    return _within_mean(k_xx, i) + _within_mean(k_yy, j) - 2.0 * cross


def kid_bootstrap(
    fake: np.ndarray, real: np.ndarray, n_boot: int, seed: int | list[int], level: float = 0.95
) -> tuple[float, float, np.ndarray]:
    """Percentile bootstrap interval of KID between two (N, D) feature sets.

    Each of the ``n_boot`` replicates draws len(fake) synthetic and len(real) real rows with
    replacement from one ``np.random.default_rng(seed)`` (synthetic first, then real).

    Returns:
        (low, high, replicates): the ``level`` percentile interval and the (n_boot,) values.

    Raises:
        ValueError: fewer than 2 rows in a set or ``n_boot`` < 1.
    """
    if min(len(fake), len(real)) < 2 or n_boot < 1:
        raise ValueError("a KID bootstrap needs 2+ rows per set and 1+ replicates")
    x, y = np.asarray(fake, np.float64), np.asarray(real, np.float64)
    k_xx, k_xy, k_yy = polynomial_kernel(x, x), polynomial_kernel(x, y), polynomial_kernel(y, y)
    rng = np.random.default_rng(seed)
    values = np.empty(n_boot)
    for b in range(n_boot):
        i = rng.integers(0, len(x), len(x))
        j = rng.integers(0, len(y), len(y))
        values[b] = mmd2_resampled(k_xx, k_xy, k_yy, i, j)
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = np.nanpercentile(values, [tail, 100.0 - tail])
    return float(low), float(high), values
