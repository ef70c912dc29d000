"""Agreement among many raters: Fleiss' kappa (with irr's z test), Randolph's free-marginal
kappa, and a bootstrap interval over items.

Input is a count table ``(n_items, n_categories)``: cell ``(i, j)`` is how many raters put item
``i`` in category ``j``; every item has the same number of raters. Build it with
:func:`count_table`, which keeps a column for every category, chosen or not.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class FleissKappa:
    """Fleiss' kappa with the large-sample z test of kappa = 0."""

    kappa: float
    se: float  # standard error under kappa = 0 (Fleiss, Nee & Landis 1979, as in irr)
    z: float
    p_value: float  # two-sided, 2 * (1 - pnorm(|z|))
    p_observed: float  # mean pairwise agreement P-bar
    p_expected: float  # chance agreement sum_j p_j^2
    n_items: int
    n_raters: int  # raters per item
    n_categories: int


@dataclass(frozen=True)
class KappaBootstrap:
    """Percentile bootstrap intervals of Fleiss' and Randolph's kappa, resampling items."""

    fleiss_low: float
    fleiss_high: float
    randolph_low: float
    randolph_high: float
    n_boot: int
    seed: int
    conf_level: float


def count_table(
    ratings: Sequence[Sequence[Hashable]], categories: Sequence[Hashable]
) -> np.ndarray:
    """Count table ``(n_items, len(categories))`` from per-item lists of category labels.

    Every category gets a column even if no rater chose it, so the number of categories stays
    fixed (this matters for Randolph's kappa, whose chance agreement is ``1 / k``).

    Raises:
        ValueError: for a label not in ``categories`` or items with unequal numbers of raters.
    """
    index = {c: j for j, c in enumerate(categories)}
    table = np.zeros((len(ratings), len(categories)), dtype=np.int64)
    for i, item in enumerate(ratings):
        for label in item:
            if label not in index:
                raise ValueError(f"label {label!r} is not one of the categories {categories}")
            table[i, index[label]] += 1
    if len(set(table.sum(axis=1))) > 1:
        raise ValueError("every item needs the same number of ratings")
    return table


def _pbar_and_pj(table: np.ndarray) -> tuple[float, np.ndarray, int, int]:
    table = np.asarray(table, dtype=np.float64)
    n_items = table.shape[0]
    m = int(round(table[0].sum()))
    # P_i = (sum_j n_ij^2 - m) / (m (m - 1)), the share of agreeing rater pairs on item i.
    p_bar = float(np.mean((np.sum(table**2, axis=1) - m) / (m * (m - 1))))
    p_j = table.sum(axis=0) / (n_items * m)
    return p_bar, p_j, n_items, m


def fleiss_kappa(table: np.ndarray) -> FleissKappa:
    """Fleiss' (1971) kappa for ``m`` raters per item, like R ``irr::kappam.fleiss``.

    ``kappa = (P-bar - P_e) / (1 - P_e)`` with ``P_e = sum_j p_j^2``. The standard error is the
    one irr uses (Fleiss, Nee & Landis 1979):
    ``var = 2 / ((sum p_j q_j)^2 n m (m - 1)) * ((sum p_j q_j)^2 - sum p_j q_j (q_j - p_j))``.
    A category nobody chose has ``p_j = 0`` and adds nothing to either sum.
    """
    p_bar, p_j, n_items, m = _pbar_and_pj(table)
    if m < 2:
        raise ValueError("Fleiss' kappa needs at least 2 raters per item")
    p_e = float(np.sum(p_j**2))
    kappa = (p_bar - p_e) / (1 - p_e) if p_e < 1 else float("nan")
    q_j = 1 - p_j
    pq = float(np.sum(p_j * q_j))
    if pq > 0:
        var = 2 / (pq**2 * n_items * m * (m - 1)) * (pq**2 - float(np.sum(p_j * q_j * (q_j - p_j))))
        se = float(np.sqrt(var))
        z = kappa / se
        p_value = float(2 * stats.norm.sf(abs(z)))
    else:  # everyone chose one category: kappa and its test are undefined
        se = z = p_value = float("nan")
    return FleissKappa(kappa, se, z, p_value, p_bar, p_e, n_items, m, table.shape[1])


def randolph_kappa(table: np.ndarray) -> float:
    """Randolph's (2005) free-marginal multirater kappa: ``(P-bar - 1/k) / (1 - 1/k)``.

    ``k`` is the number of columns of ``table``, i.e. all categories a rater could choose.
    """
    p_bar, _, _, m = _pbar_and_pj(table)
    if m < 2:
        raise ValueError("Randolph's kappa needs at least 2 raters per item")
    k = table.shape[1]
    return (p_bar - 1 / k) / (1 - 1 / k)


def bootstrap_kappa(
    table: np.ndarray, n_boot: int = 2000, seed: int = 0, conf_level: float = 0.95
) -> KappaBootstrap:
    """Percentile bootstrap (Efron & Tibshirani 1993) over items for both kappas.

    Items are resampled with replacement ``n_boot`` times from ``numpy.random.default_rng(seed)``;
    resamples where Fleiss' kappa is undefined (one category only) are skipped.
    """
    table = np.asarray(table)
    rng = np.random.default_rng(seed)
    fleiss, randolph = [], []
    for _ in range(n_boot):
        sample = table[rng.integers(0, table.shape[0], table.shape[0])]
        fleiss.append(fleiss_kappa(sample).kappa)
        randolph.append(randolph_kappa(sample))
    a = (1 - conf_level) / 2
    f = np.asarray(fleiss)
    f = f[np.isfinite(f)]
    f_lo, f_hi = np.quantile(f, [a, 1 - a]) if f.size else (np.nan, np.nan)
    r_lo, r_hi = np.quantile(randolph, [a, 1 - a])
    return KappaBootstrap(
        float(f_lo), float(f_hi), float(r_lo), float(r_hi), n_boot, seed, conf_level
    )
