"""Partially paired designs: DeLong by hand, the fully unpaired limit against an independent
brute-force computation, the crossed limit, and DBM's refusal."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from radsynth.errors import RadsynthError
from radsynth.stats import mrmc, mrmc_or
from radsynth.stats.mrmc_dbm import dbm
from radsynth.stats.mrmc_design import Rating, build_data, design_name
from radsynth.stats.mrmc_sim import RM_MEDIUM, simulate


def mixed_example():
    """One reader; real cases p1-p3 (truth 1) shown under A and B; synthetic a1, a2 only
    under A and b1, b2 only under B."""
    scores = {
        "A": {"p1": 4, "p2": 3, "p3": 2, "a1": 1, "a2": 3},
        "B": {"p1": 4, "p2": 2, "p3": 3, "b1": 2, "b2": 4},
    }
    ratings = [
        Rating(reader, m, c, c.startswith("p"), float(v + (reader == "y")))
        for reader in ("x", "y")
        for m, cases in scores.items()
        for c, v in cases.items()
    ]
    return build_data(ratings)[0]


def test_delong_mixed_design_by_hand():
    """Hand computation (reader x; reader y is x + 1, the same ranks):
    A: V10(p1, p2, p3) = (1, 3/4, 1/2), V01(a1, a2) = (1, 1/2), AUC 3/4;
    B: V10 = (3/4, 1/4, 1/2), V01(b1, b2) = (5/6, 1/6), AUC 1/2.
    Var A = S10/3 + S01/2 = (1/16)/3 + (1/8)/2 = 1/12;
    Var B = (1/16)/3 + (2/9)/2 = 19/144;
    Cov(A, B) = shared real cases only: [(1/4)(1/4) + 0 + 0]/2 / 3 = 1/96; the synthetic
    cases are not shared, so their part is exactly 0."""
    data = mixed_example()
    assert design_name(data) == "partially paired"
    cs = mrmc.case_stats(data)
    assert cs.auc[:, 0].tolist() == [0.75, 0.5]
    part1, part0 = mrmc.delong_cov_parts(data, cs)
    cov = part1 + part0
    a, b = 0, 2  # rows (A, x) and (B, x)
    assert cov[a, a] == pytest.approx(float(Fraction(1, 12)), rel=1e-12)
    assert cov[b, b] == pytest.approx(float(Fraction(19, 144)), rel=1e-12)
    assert cov[a, b] == pytest.approx(float(Fraction(1, 96)), rel=1e-12)
    assert part0[a, b] == 0.0 and part0[a, a] == pytest.approx(1 / 16)


def test_dbm_refused_where_not_crossed():
    data = mixed_example()
    with pytest.raises(RadsynthError, match="not crossed"):
        dbm(data, mrmc.case_stats(data))


def _auc(pos, neg):
    return np.mean([[1.0 if x > y else 0.5 if x == y else 0.0 for y in neg] for x in pos])


def _brute_jackknife_cov(scores, truth):
    """Jackknife covariance across readers of one modality by recomputing each AUC with each
    case removed, with loops (no shortcut); (R, R)."""
    n_rdr, n_case = scores.shape
    jack = np.empty((n_rdr, n_case))
    for r in range(n_rdr):
        for k in range(n_case):
            keep = np.arange(n_case) != k
            s, t = scores[r, keep], truth[keep]
            jack[r, k] = _auc(s[t], s[~t])
    dev = jack - jack.mean(axis=1, keepdims=True)
    return (n_case - 1) / n_case * dev @ dev.T


def test_fully_unpaired_limit_matches_brute_force():
    """Each modality its own cases (truth 1 and 0): the jackknife over the union of 2n cases
    is each modality's own brute-force jackknife rescaled from (n - 1)/n to (2n - 1)/(2n), with
    Cov1 = Cov3 = 0, and the OR F test built by hand from those (Obuchowski & Rockette 1995
    with Cov1 = Cov3 = 0) must match. (test_mrmc_mrmcaov checks the same limit against
    MRMCaov's printed output.)"""
    full = simulate(RM_MEDIUM, (1.2, 1.6), 4, 12, 10, seed=3)
    n_case = full.scores.shape[2]
    # Give modality 1 its own copies of every case: same scores, disjoint case names.
    scores = np.concatenate([full.scores, full.scores], axis=2)
    shown = np.zeros((2, 2 * n_case), dtype=bool)
    shown[0, :n_case] = shown[1, n_case:] = True
    data = mrmc.MrmcData(
        scores,
        np.concatenate([full.truth, full.truth]),
        shown,
        full.modalities,
        full.readers,
        tuple(f"c{k}" for k in range(2 * n_case)),
    )
    assert design_name(data) == "unpaired"
    cs = mrmc.case_stats(data)
    cov = mrmc.jackknife_cov(data, cs)
    rescale = ((2 * n_case - 1) / (2 * n_case)) / ((n_case - 1) / n_case)
    blocks = [rescale * _brute_jackknife_cov(full.scores[m], full.truth) for m in range(2)]
    np.testing.assert_allclose(cov[:4, :4], blocks[0], rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(cov[4:, 4:], blocks[1], rtol=1e-10, atol=1e-15)
    assert np.all(cov[:4, 4:] == 0)
    # OR RRRC by hand: Cov2 = mean off-diagonal within modality, Cov3 = 0.
    auc = np.array(
        [
            [_auc(full.scores[m, r][full.truth], full.scores[m, r][~full.truth]) for r in range(4)]
            for m in range(2)
        ]
    )
    cov2 = np.mean([b[~np.eye(4, dtype=bool)].mean() for b in blocks])
    ms_t = 4 * ((auc.mean(axis=1) - auc.mean()) ** 2).sum()
    resid = auc - auc.mean(axis=1, keepdims=True) - auc.mean(axis=0) + auc.mean()
    ms_tr = (resid**2).sum() / 3
    den = ms_tr + 4 * max(cov2, 0)
    oc = mrmc.or_covariances(cov, 2, 4)
    res = mrmc_or.rrrc(cs.auc, mrmc_or.auc_anova(cs.auc), oc, data.modalities, 0.95)
    assert oc.cov1 == 0 and oc.cov3 == 0
    assert res.test.statistic == pytest.approx(ms_t / den, rel=1e-10)
    assert res.test.df2 == pytest.approx(den**2 / (ms_tr**2 / 3), rel=1e-10)


def test_crossed_limit_equals_crossed_analysis():
    """Every case under both modalities: the general code is the crossed jackknife, whose
    Van Dyke values test_mrmc_vandyke checks against OR-DBM MRMC."""
    data = simulate(RM_MEDIUM, (1.5, 1.5), 3, 10, 12, seed=5)
    assert design_name(data) == "crossed"
    cs = mrmc.case_stats(data)
    dev = cs.jack.reshape(6, -1) - cs.jack.reshape(6, -1).mean(axis=1, keepdims=True)
    n = dev.shape[1]
    np.testing.assert_allclose(mrmc.jackknife_cov(data, cs), (n - 1) / n * dev @ dev.T)


def test_nested_delong_has_no_synthetic_covariance_across_modalities():
    data = simulate(RM_MEDIUM, (1.5, 1.5), 3, 20, 15, seed=9, nested=True)
    assert design_name(data) == "partially paired"
    _, part0 = mrmc.delong_cov_parts(data, mrmc.case_stats(data))
    assert np.all(part0[:3, 3:] == 0) and np.all(part0[:3, :3] != 0)
