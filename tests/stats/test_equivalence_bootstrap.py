"""TOST on mean realism and the two-way (raters x items) bootstrap."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from radsynth.stats.bootstrap import two_way_bootstrap
from radsynth.stats.equivalence import tost_paired

REAL = [3.4, 3.2, 3.5, 3.1, 3.3, 3.6, 3.2, 3.3]
SYNTH = [3.3, 3.3, 3.4, 3.0, 3.2, 3.4, 3.3, 3.2]


def test_tost_is_two_one_sided_t_tests() -> None:
    res = tost_paired(REAL, SYNTH, margin=0.25)
    d = np.subtract(REAL, SYNTH)
    # R: t.test(x, y, paired = TRUE, mu = -0.25, alternative = "greater")$p.value and
    #    t.test(x, y, paired = TRUE, mu = 0.25, alternative = "less")$p.value; checked here
    #    against scipy's independent one-sample t test.
    lower = stats.ttest_1samp(d, -0.25, alternative="greater")
    upper = stats.ttest_1samp(d, 0.25, alternative="less")
    assert res.p_lower == pytest.approx(lower.pvalue) and res.t_lower == pytest.approx(
        lower.statistic
    )
    assert res.p_upper == pytest.approx(upper.pvalue)
    assert res.p_value == max(res.p_lower, res.p_upper)
    assert res.equivalent and -0.25 < res.ci_low < res.ci_high < 0.25
    assert "Schuirmann" in res.method


def test_tost_margin_decides() -> None:
    # The 90% CI must fall inside (-margin, margin); a tight margin cannot be met with 8 raters.
    res = tost_paired(REAL, SYNTH, margin=0.05)
    assert not res.equivalent and res.p_value > 0.05
    # Duality: equivalent at alpha iff the (1 - 2 alpha) CI lies within the margin.
    for margin in (0.05, 0.1, 0.15, 0.2, 0.3):
        r = tost_paired(REAL, SYNTH, margin=margin)
        assert r.equivalent == (-margin < r.ci_low and r.ci_high < margin)
    with pytest.raises(ValueError):
        tost_paired(REAL, SYNTH, margin=0)


def test_two_way_bootstrap_same_seed_same_interval() -> None:
    rng = np.random.default_rng(3)
    m = (rng.random((8, 50)) < 0.3).astype(float)
    m[0, :5] = np.nan  # unanswered cells are skipped, not counted wrong
    a = two_way_bootstrap(m, n_boot=300, seed=11)
    b = two_way_bootstrap(m, n_boot=300, seed=11)
    c = two_way_bootstrap(m, n_boot=300, seed=12)
    assert a == b and a != c
    assert a.low < a.estimate < a.high
    assert a.estimate == pytest.approx(np.nanmean(m))


def test_two_way_wider_than_items_only_when_raters_differ() -> None:
    # Raters who differ a lot (accuracy 0.1 .. 0.6) widen the interval beyond a naive one.
    rng = np.random.default_rng(0)
    skill = np.linspace(0.1, 0.6, 8)[:, None]
    m = (rng.random((8, 60)) < skill).astype(float)
    boot = two_way_bootstrap(m, n_boot=400, seed=0)
    p, n = m.mean(), m.size
    naive = 2 * 1.96 * np.sqrt(p * (1 - p) / n)
    assert boot.high - boot.low > 1.3 * naive
