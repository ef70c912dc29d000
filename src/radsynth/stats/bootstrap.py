"""A reader- and case-aware interval: the two-way (raters x items) bootstrap.

Resampling only judgements treats 400 answers from 8 readers as 400 independent facts and gives
intervals that are far too narrow. Resampling readers and cases together (Obuchowski & Rockette
1995; the "two-way" or "bootstrap of readers and cases" of Beiden, Wagner & Campbell 2000)
lets both sources of variation show in the interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TwoWayBootstrap:
    """Percentile interval of the mean of a raters x items matrix, both axes resampled."""

    estimate: float  # mean over all observed cells
    low: float
    high: float
    n_boot: int
    seed: int
    conf_level: float
    n_raters: int
    n_items: int
    method: str


def two_way_bootstrap(
    values: np.ndarray, n_boot: int = 2000, seed: int = 0, conf_level: float = 0.95
) -> TwoWayBootstrap:
    """Bootstrap the grand mean of ``values`` ``(n_raters, n_items)``; NaN marks a missing cell.

    Each replicate draws raters and items with replacement (independently, from
    ``numpy.random.default_rng(seed)``), takes the crossed sub-matrix and averages its observed
    cells. Replicates with no observed cell are skipped. Same seed, same interval.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or not np.isfinite(values).any():
        raise ValueError("need a 2-D raters x items matrix with at least one observed cell")
    n_raters, n_items = values.shape
    rng = np.random.default_rng(seed)
    observed = np.isfinite(values)
    filled = np.where(observed, values, 0.0)
    means = []
    for _ in range(n_boot):
        r = rng.integers(0, n_raters, n_raters)
        i = rng.integers(0, n_items, n_items)
        count = observed[np.ix_(r, i)].sum()
        if count:
            means.append(filled[np.ix_(r, i)].sum() / count)
    a = (1 - conf_level) / 2
    low, high = np.quantile(means, [a, 1 - a])
    return TwoWayBootstrap(
        estimate=float(np.nanmean(values)),
        low=float(low),
        high=float(high),
        n_boot=n_boot,
        seed=seed,
        conf_level=conf_level,
        n_raters=n_raters,
        n_items=n_items,
        method="two-way percentile bootstrap resampling raters and items",
    )
