"""Wilcoxon signed-rank test, branch for branch like R's ``wilcox.test`` (one-sample/paired).

R's rules (``stats:::wilcox.test.default``), which this module follows:

- differences equal to ``mu`` (zeros) are dropped, leaving ``n`` non-zero differences;
- ``V`` is the sum of the ranks of ``|d|`` over positive ``d`` (average ranks for ties);
- when ``n < 50`` and there are neither ties nor zeros, the exact null distribution of ``V`` is
  used (Wilcoxon 1945);
- otherwise the normal approximation with tie-corrected variance
  ``n(n+1)(2n+1)/24 - sum(t^3 - t)/48`` and a continuity correction of 0.5.

Values may be any exactly comparable numbers. Pass :class:`fractions.Fraction` (e.g. per-rater
mean differences built from integer rating sums) so that ties are exact, never float noise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from scipy import stats

Alternative = Literal["two-sided", "less", "greater"]


@dataclass(frozen=True)
class SignedRankTest:
    """Result of :func:`signed_rank_test`; ``branch`` says which p-value R would compute."""

    V: float  # sum of ranks of the positive differences (R's statistic name)
    p_value: float  # NaN when every difference is zero (R gives NaN too)
    branch: str  # "exact" or "normal" (normal approximation, continuity-corrected)
    n: int  # non-zero differences used
    n_zeros: int  # differences equal to mu, dropped
    ties: bool  # whether tied |differences| occurred
    z: float | None  # the corrected z statistic on the normal branch
    alternative: str


def _ranks(values: Sequence) -> list[float]:
    """Average ranks (1-based) of exactly comparable values, like R ``rank(ties = "average")``."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        stop = start
        while stop + 1 < len(order) and values[order[stop + 1]] == values[order[start]]:
            stop += 1
        for j in range(start, stop + 1):
            ranks[order[j]] = (start + stop) / 2 + 1
        start = stop + 1
    return ranks


@lru_cache(maxsize=64)
def _signrank_counts(n: int) -> tuple[int, ...]:
    """Number of subsets of {1..n} with each rank sum 0..n(n+1)/2 (exact null of V)."""
    counts = [1] + [0] * (n * (n + 1) // 2)
    for k in range(1, n + 1):
        for s in range(len(counts) - 1, k - 1, -1):
            counts[s] += counts[s - k]
    return tuple(counts)


def psignrank(q: float, n: int, lower_tail: bool = True) -> float:
    """P(V <= q) under H0 (or P(V > q) with ``lower_tail=False``), like R ``psignrank``.

    Both tails are summed from exact integer counts, so the upper tail loses no precision.
    """
    counts = _signrank_counts(n)
    q = min(max(math.floor(q + 1e-7), -1), len(counts) - 1)
    below = sum(counts[: q + 1])
    return (below if lower_tail else 2**n - below) / 2**n


def signed_rank_test(
    x: Sequence,
    y: Sequence | None = None,
    *,
    mu: float = 0,
    alternative: Alternative = "two-sided",
    exact: bool | None = None,
    correct: bool = True,
) -> SignedRankTest:
    """One-sample or paired Wilcoxon signed-rank test, like R
    ``wilcox.test(x, y, paired = TRUE, mu, alternative, exact, correct)``.

    Args:
        x: values (or first members of pairs). Fractions keep ties exact.
        y: second members of pairs; the test runs on ``x - y``.
        mu: location under H0.
        alternative: "two-sided", "less" or "greater" (of ``x - y - mu``).
        exact: force or forbid the exact branch; ``None`` means ``n < 50`` (R's default).
        correct: continuity correction on the normal branch.
    """
    if y is not None:
        if len(y) != len(x):
            raise ValueError("paired samples must have the same length")
        d = [a - b - mu for a, b in zip(x, y, strict=True)]
    else:
        d = [a - mu for a in x]
    if not d:
        raise ValueError("not enough observations")
    nonzero = [v for v in d if v != 0]
    n_zeros, n = len(d) - len(nonzero), len(nonzero)
    ranks = _ranks([abs(v) for v in nonzero])
    v_stat = float(sum(r for r, v in zip(ranks, nonzero, strict=True) if v > 0))
    ties = len(set(ranks)) != len(ranks)
    use_exact = (n < 50) if exact is None else exact
    if use_exact and not ties and n_zeros == 0:
        return SignedRankTest(
            v_stat, _exact_p(v_stat, n, alternative), "exact", n, n_zeros, ties, None, alternative
        )
    p, z = _normal_p(v_stat, n, ranks, alternative, correct)
    return SignedRankTest(v_stat, p, "normal", n, n_zeros, ties, z, alternative)


def _exact_p(v: float, n: int, alternative: str) -> float:
    if alternative == "greater":
        return psignrank(v - 1, n, lower_tail=False)
    if alternative == "less":
        return psignrank(v, n)
    p = psignrank(v - 1, n, lower_tail=False) if v > n * (n + 1) / 4 else psignrank(v, n)
    return min(2 * p, 1.0)


def _normal_p(
    v: float, n: int, ranks: list[float], alternative: str, correct: bool
) -> tuple[float, float]:
    tie_sizes: dict[float, int] = {}
    for r in ranks:
        tie_sizes[r] = tie_sizes.get(r, 0) + 1
    z = v - n * (n + 1) / 4
    sigma = math.sqrt(
        n * (n + 1) * (2 * n + 1) / 24 - sum(t**3 - t for t in tie_sizes.values()) / 48
    )
    if correct:
        z -= {"two-sided": math.copysign(0.5, z) if z != 0 else 0.0, "greater": 0.5, "less": -0.5}[
            alternative
        ]
    if sigma == 0:
        return float("nan"), float("nan")
    z /= sigma
    if alternative == "less":
        return float(stats.norm.cdf(z)), z
    if alternative == "greater":
        return float(stats.norm.sf(z)), z
    return float(2 * min(stats.norm.cdf(z), stats.norm.sf(z))), z
