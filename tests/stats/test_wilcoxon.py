"""Wilcoxon signed-rank test against R's wilcox.test, branch by branch."""

from __future__ import annotations

from fractions import Fraction

import pytest
from scipy import stats

from radsynth.stats.multiplicity import holm
from radsynth.stats.wilcoxon import psignrank, signed_rank_test

# R ?wilcox.test: Hollander & Wolfe (1973) p. 29, depression scale before (x) / after (y).
X = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30]
Y = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29]


def test_depression_exact_greater() -> None:
    # R: wilcox.test(x, y, paired = TRUE, alternative = "greater") -> V = 40, p-value = 0.01953
    res = signed_rank_test(X, Y, alternative="greater")
    assert res.V == 40
    assert res.p_value == pytest.approx(0.01953, abs=5e-6)
    assert res.branch == "exact" and res.z is None


def test_depression_exact_two_sided() -> None:
    # R: wilcox.test(x, y, paired = TRUE) -> V = 40, p-value = 0.03906
    res = signed_rank_test(X, Y)
    assert res.p_value == pytest.approx(0.03906, abs=5e-6)
    assert res.branch == "exact"


def test_zero_forces_normal_approximation() -> None:
    # R: wilcox.test(0:4) -> V = 10, p-value = 0.1003 (warning: cannot compute exact p-value
    # with zeroes); the zero is dropped, n = 4.
    res = signed_rank_test([0, 1, 2, 3, 4])
    assert res.V == 10 and res.n == 4 and res.n_zeros == 1
    assert res.branch == "normal"
    assert res.p_value == pytest.approx(0.1003, abs=5e-5)


def test_ties_force_normal_approximation() -> None:
    # R: wilcox.test(c(1, 1:4)) -> V = 15, p-value = 0.05791 (cannot compute exact with ties)
    res = signed_rank_test([1, 1, 2, 3, 4])
    assert res.V == 15 and res.ties
    assert res.branch == "normal"
    assert res.p_value == pytest.approx(0.05791, abs=5e-6)


def test_psignrank_matches_r() -> None:
    # R: psignrank(5, 10) = 0.009765625; psignrank(27, 10) = 0.5
    assert psignrank(5, 10) == pytest.approx(0.009765625)
    assert psignrank(27, 10) == pytest.approx(0.5)
    assert psignrank(55, 10) == 1.0 and psignrank(-1, 10) == 0.0


def test_large_n_uses_normal_branch() -> None:
    # n >= 50: R switches to the normal approximation even without ties (exact = NULL).
    x = [(-1) ** i * (i + 1) for i in range(60)]
    res = signed_rank_test(x)
    assert res.branch == "normal"
    ref = stats.wilcoxon(x, method="approx", correction=True)  # independent implementation
    assert res.p_value == pytest.approx(ref.pvalue, rel=1e-9)


def test_fractions_tie_exactly() -> None:
    # 0.1 + 0.2 != 0.3 in floats; rational rating means tie exactly, as they should.
    floats = [0.1 + 0.2, 0.3, 0.5]
    assert not signed_rank_test(floats).ties
    exact = [Fraction(1, 10) + Fraction(2, 10), Fraction(3, 10), Fraction(1, 2)]
    assert signed_rank_test(exact).ties


def test_all_zero_differences_give_nan_like_r() -> None:
    # R: wilcox.test(c(2, 2), c(2, 2), paired = TRUE)$p.value is NaN (no non-zero differences)
    res = signed_rank_test([2, 2], [2, 2])
    assert res.n == 0 and res.p_value != res.p_value


def test_holm_matches_r() -> None:
    # R: p.adjust(c(0.128, 0.236, 1.0), "holm") -> 0.384 0.472 1.000
    assert holm([0.128, 0.236, 1.0]) == pytest.approx((0.384, 0.472, 1.0))
    # R: p.adjust(c(0.01, 0.04, 0.03, 0.005), "holm") -> 0.03 0.06 0.06 0.02
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx((0.03, 0.06, 0.06, 0.02))
    # Holm, not Holm-Sidak: 1 - (1 - 0.128)^3 = 0.337 would be Sidak's step.
    assert holm([0.128, 0.5, 0.9])[0] == pytest.approx(0.384)
    # R: p.adjust(c(0.02, NA, 0.04), "holm") -> 0.04 NA 0.04 (NA not counted)
    out = holm([0.02, float("nan"), 0.04])
    assert out[0] == pytest.approx(0.04) and out[1] != out[1] and out[2] == pytest.approx(0.04)


def test_study_figures_reproduce_from_unrounded_p() -> None:
    """The study reported p = 0.128, 0.236, 1.000 and, after Holm, 0.383, 0.471, 1.000: Holm
    on the rounded p's gives 0.384, 0.472, so the paper adjusted unrounded p's. Eight raters'
    real-minus-checkpoint mean differences (in 1/50 rating points, 50 ratings per group) with
    these tie patterns give p-values consistent with both reported rows (not the study's data)."""
    diffs = {
        "ckpt-a": [-7, -6, -5, -4, -3, -2, 0, 5],
        "ckpt-b": [-3, -2, -2, -2, 0, 0, 1, 2],
        "ckpt-c": [1, -1, 0, 0, 0, 0, 0, 0],
    }
    tests = {k: signed_rank_test([Fraction(v, 50) for v in d]) for k, d in diffs.items()}
    assert all(t.branch == "normal" for t in tests.values())  # ties and zeros
    p = [tests[k].p_value for k in diffs]
    assert [round(v, 3) for v in p] == [0.128, 0.236, 1.0]
    assert [round(v, 3) for v in holm(p)] == [0.383, 0.471, 1.0]
    assert [round(v, 3) for v in holm([round(v, 3) for v in p])] == [0.384, 0.472, 1.0]
