"""Equivalence testing: two one-sided tests (TOST) on a paired mean difference."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class TostResult:
    """Schuirmann's (1987) TOST of ``|mean(x - y)| < margin`` with a paired t over units."""

    method: str
    n: int  # pairs (here: raters)
    mean_difference: float  # mean of x - y
    sd_difference: float
    df: int
    margin: float  # equivalence bound, in the data's units; stated by the user
    t_lower: float  # test of H0: mean <= -margin
    p_lower: float
    t_upper: float  # test of H0: mean >= +margin
    p_upper: float
    p_value: float  # max(p_lower, p_upper)
    ci_low: float  # (1 - 2 alpha) t interval; inside (-margin, margin) iff equivalent
    ci_high: float
    alpha: float
    equivalent: bool


def tost_paired(
    x: Sequence[float], y: Sequence[float], margin: float, alpha: float = 0.05
) -> TostResult:
    """Paired-t TOST (Schuirmann 1987) on differences ``d = x - y``.

    ``t_lower = (mean(d) + margin) / (sd(d)/sqrt(n))`` tested upper-tailed and
    ``t_upper = (mean(d) - margin) / (sd(d)/sqrt(n))`` lower-tailed, each on ``n - 1`` df;
    equivalence is declared when both p-values are below ``alpha``, i.e. when the
    ``1 - 2 alpha`` confidence interval lies inside ``(-margin, margin)``.
    """
    d = np.asarray(x, dtype=np.float64) - np.asarray(y, dtype=np.float64)
    n = d.size
    if n < 2:
        raise ValueError("TOST needs at least 2 pairs")
    if margin <= 0:
        raise ValueError("the equivalence margin must be positive")
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    se, df = sd / math.sqrt(n), n - 1
    if se == 0:  # every difference equal: the interval is a point
        t_lo = t_hi = float("nan")
        p_lo = 0.0 if mean > -margin else 1.0
        p_hi = 0.0 if mean < margin else 1.0
        ci = (mean, mean)
    else:
        t_lo, t_hi = (mean + margin) / se, (mean - margin) / se
        p_lo, p_hi = float(stats.t.sf(t_lo, df)), float(stats.t.cdf(t_hi, df))
        q = float(stats.t.ppf(1 - alpha, df))
        ci = (mean - q * se, mean + q * se)
    p = max(p_lo, p_hi)
    return TostResult(
        method="paired t TOST over raters (Schuirmann 1987)",
        n=n,
        mean_difference=mean,
        sd_difference=sd,
        df=df,
        margin=margin,
        t_lower=t_lo,
        p_lower=p_lo,
        t_upper=t_hi,
        p_upper=p_hi,
        p_value=p,
        ci_low=ci[0],
        ci_high=ci[1],
        alpha=alpha,
        equivalent=bool(p < alpha),
    )
