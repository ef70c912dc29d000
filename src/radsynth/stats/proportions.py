"""Proportions: accuracy with Wilson and Clopper-Pearson intervals, and R's exact binomial test."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

Alternative = Literal["two-sided", "less", "greater"]

#: R's binom.test counts outcomes as "as extreme" when their probability is <= d * (1 + 1e-7).
_R_RELATIVE_ERROR = 1 + 1e-7


@dataclass(frozen=True)
class Accuracy:
    """A proportion of correct answers with two confidence intervals at ``conf_level``."""

    correct: int  # number of correct answers
    n: int  # number of answers
    accuracy: float  # correct / n
    wilson_low: float  # Wilson score interval (Wilson 1927)
    wilson_high: float
    cp_low: float  # Clopper-Pearson exact interval (Clopper & Pearson 1934)
    cp_high: float
    conf_level: float


@dataclass(frozen=True)
class BinomTest:
    """An exact binomial test, field for field like R's ``binom.test``."""

    successes: int
    n: int
    null_p: float  # hypothesised probability of success (here: chance)
    estimate: float
    p_value: float
    ci_low: float  # Clopper-Pearson interval, as R reports it
    ci_high: float
    conf_level: float
    alternative: str
    method: str


def wilson_ci(x: int, n: int, conf_level: float = 0.95) -> tuple[float, float]:
    """Wilson (1927) score interval without continuity correction.

    ``(p + z^2/2n -+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)``, computed as R's
    ``prop.test(x, n, correct = FALSE)$conf.int`` does: the lower bound is exactly 0 at x = 0 and
    the upper exactly 1 at x = n (in floating point, centre - half would give ~1e-17 and
    1 - 1e-16 there). Always low <= x / n <= high.
    """
    _check_counts(x, n)
    z = float(stats.norm.ppf(1 - (1 - conf_level) / 2))
    p = x / n
    z22n = z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z22n / (2 * n))
    low = 0.0 if x == 0 else (p + z22n - half) / (1 + 2 * z22n)
    high = 1.0 if x == n else (p + z22n + half) / (1 + 2 * z22n)
    return min(max(low, 0.0), p), max(min(high, 1.0), p)


def clopper_pearson_ci(
    x: int, n: int, conf_level: float = 0.95, alternative: Alternative = "two-sided"
) -> tuple[float, float]:
    """Clopper & Pearson (1934) exact interval from beta quantiles, as in R's ``binom.test``."""
    _check_counts(x, n)
    if alternative == "two-sided":
        a = (1 - conf_level) / 2
        lo = 0.0 if x == 0 else float(stats.beta.ppf(a, x, n - x + 1))
        hi = 1.0 if x == n else float(stats.beta.ppf(1 - a, x + 1, n - x))
        return lo, hi
    a = 1 - conf_level
    if alternative == "greater":
        return (0.0 if x == 0 else float(stats.beta.ppf(a, x, n - x + 1))), 1.0
    return 0.0, (1.0 if x == n else float(stats.beta.ppf(1 - a, x + 1, n - x)))


def binom_test(
    x: int,
    n: int,
    p: float = 0.5,
    alternative: Alternative = "two-sided",
    conf_level: float = 0.95,
) -> BinomTest:
    """Exact binomial test of ``x`` successes in ``n`` trials against probability ``p``.

    The two-sided p-value follows R's ``binom.test``: it sums the probabilities of all outcomes
    no more likely than the observed one, with R's relative tolerance ``d * (1 + 1e-7)``.
    """
    _check_counts(x, n)
    if not 0 <= p <= 1:
        raise ValueError("p must lie in [0, 1]")
    if alternative == "less":
        pval = stats.binom.cdf(x, n, p)
    elif alternative == "greater":
        pval = stats.binom.sf(x - 1, n, p)
    elif p == 0:
        pval = float(x == 0)
    elif p == 1:
        pval = float(x == n)
    else:
        d = stats.binom.pmf(x, n, p)
        m = n * p
        if x == m:
            pval = 1.0
        elif x < m:
            i = np.arange(math.ceil(m), n + 1)
            y = int(np.sum(stats.binom.pmf(i, n, p) <= d * _R_RELATIVE_ERROR))
            pval = stats.binom.cdf(x, n, p) + stats.binom.sf(n - y, n, p)
        else:
            i = np.arange(0, math.floor(m) + 1)
            y = int(np.sum(stats.binom.pmf(i, n, p) <= d * _R_RELATIVE_ERROR))
            pval = stats.binom.cdf(y - 1, n, p) + stats.binom.sf(x - 1, n, p)
    lo, hi = clopper_pearson_ci(x, n, conf_level, alternative)
    return BinomTest(
        successes=x,
        n=n,
        null_p=p,
        estimate=x / n,
        p_value=float(min(1.0, pval)),
        ci_low=lo,
        ci_high=hi,
        conf_level=conf_level,
        alternative=alternative,
        method="Exact binomial test (R binom.test); Clopper-Pearson interval",
    )


def accuracy(correct: int, n: int, conf_level: float = 0.95) -> Accuracy:
    """Accuracy ``correct / n`` with Wilson and Clopper-Pearson intervals."""
    w_lo, w_hi = wilson_ci(correct, n, conf_level)
    c_lo, c_hi = clopper_pearson_ci(correct, n, conf_level)
    return Accuracy(correct, n, correct / n, w_lo, w_hi, c_lo, c_hi, conf_level)


def _check_counts(x: int, n: int) -> None:
    if n < 1 or not 0 <= x <= n:
        raise ValueError(f"need 0 <= x <= n and n >= 1, got x={x}, n={n}")
