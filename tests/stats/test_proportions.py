"""Accuracy intervals and the exact binomial test against R."""

from __future__ import annotations

import pytest

from radsynth.stats.proportions import accuracy, binom_test, clopper_pearson_ci, wilson_ci


def test_binom_test_matches_r() -> None:
    # R: binom.test(682, 925, p = 0.75) -> p-value = 0.3825, 95% CI 0.7076683 0.7654066
    res = binom_test(682, 925, p=0.75)
    assert res.p_value == pytest.approx(0.3825, abs=5e-5)
    assert res.ci_low == pytest.approx(0.7077, abs=5e-5)
    assert res.ci_high == pytest.approx(0.7654, abs=5e-5)
    assert res.estimate == pytest.approx(682 / 925)


def test_binom_two_sided_uses_r_tolerance() -> None:
    # R: binom.test(5, 10)$p.value == 1 (x == n p); binom.test(0, 10)$p.value == 2 * 0.5^10
    assert binom_test(5, 10).p_value == 1.0
    assert binom_test(0, 10).p_value == pytest.approx(2 * 0.5**10)
    # Symmetric p = 0.5: outcomes 2 and 8 have equal probability and must both count.
    # R: binom.test(2, 10)$p.value = 0.109375
    assert binom_test(2, 10).p_value == pytest.approx(0.109375, abs=1e-12)


def test_one_sided_binom() -> None:
    # R: binom.test(682, 925, p = 0.75, alternative = "greater")$p.value = pbinom(681, 925, .75,
    # lower.tail = FALSE); its CI upper bound is 1.
    res = binom_test(682, 925, p=0.75, alternative="greater")
    assert res.ci_high == 1.0
    assert res.p_value > 0.5


def test_wilson_matches_newcombe_1998() -> None:
    # Newcombe (1998) Stat Med 17:857, Table I, method 3 (Wilson score, no correction):
    # 81/263 -> 0.2553 to 0.3662; also R: prop.test(81, 263, correct = FALSE)$conf.int
    lo, hi = wilson_ci(81, 263)
    assert (round(lo, 4), round(hi, 4)) == (0.2553, 0.3662)


def test_edges_and_accuracy() -> None:
    assert clopper_pearson_ci(0, 20)[0] == 0.0
    assert clopper_pearson_ci(20, 20)[1] == 1.0
    acc = accuracy(116, 400)  # the study: 29.0% over 400 judgements
    assert acc.accuracy == pytest.approx(0.29)
    assert acc.wilson_low < 0.29 < acc.wilson_high
    assert acc.cp_low < acc.wilson_low  # exact interval is the wider here
    with pytest.raises(ValueError):
        accuracy(5, 0)


def test_wilson_is_exactly_0_and_1_at_the_edges_for_every_n() -> None:
    """A rater who finds 0 of n or n of n real images is an ordinary outcome; the interval must
    hold p-hat, with the exact 0 and 1 that R gives (the plots draw p-hat - low and high - p-hat).
    R 4.2.2: prop.test(0, n, correct = FALSE)$conf.int and prop.test(n, n, ...)$conf.int give
      n = 1:   0 0.79345068562276255 and 0.20654931437723750 1
      n = 10:  0 0.27753279986288915 and 0.72246720013711085 1
      n = 37:  0 0.094057825837202458 and 0.905942174162797542 1
      n = 500: 0 7.6243404615522377e-03 and 9.9237565953844786e-01 1"""
    r_values = {1: 0.79345068562276255, 10: 0.27753279986288915, 37: 0.094057825837202458,
                500: 7.6243404615522377e-03}  # fmt: skip
    for n in range(1, 501):
        lo, hi = wilson_ci(0, n)
        assert lo == 0.0 and 0.0 < hi < 1.0, (n, lo, hi)
        lo_n, hi_n = wilson_ci(n, n)
        assert hi_n == 1.0 and 0.0 < lo_n < 1.0, (n, lo_n, hi_n)
        assert lo_n == pytest.approx(1.0 - hi, rel=1e-12)  # symmetric
        if n in r_values:
            assert hi == pytest.approx(r_values[n], rel=1e-12)
            assert lo_n == pytest.approx(1.0 - r_values[n], rel=1e-12)


def test_wilson_holds_p_hat_at_other_levels() -> None:
    # R: prop.test(3, 10, correct = FALSE, conf.level = 0.9)$conf.int
    #    -> 0.12687658390319789 0.55830020413016479
    assert wilson_ci(3, 10, 0.9) == pytest.approx((0.12687658390319789, 0.55830020413016479))
    for n in range(1, 60):
        for x in range(n + 1):
            lo, hi = wilson_ci(x, n, 0.9)
            assert 0.0 <= lo <= x / n <= hi <= 1.0, (x, n, lo, hi)
