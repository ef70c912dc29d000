"""The random-readers, random-cases OR test under the Roe & Metz (1997) model: its size, its
interval's coverage of the closed-form true difference, and the planned power."""

from __future__ import annotations

import numpy as np
import pytest

from radsynth.stats import mrmc, mrmc_or
from radsynth.stats.mrmc_analysis import MrmcOptions, equivalence
from radsynth.stats.mrmc_power import (
    average_components,
    pilot_components,
    power_difference,
    power_equivalence,
)
from radsynth.stats.mrmc_sim import RM_MEDIUM, simulate, true_auc


def rrrc_of(data, covariance: str = "jackknife"):
    cs = mrmc.case_stats(data)
    cov = mrmc.jackknife_cov(data, cs) if covariance == "jackknife" else mrmc.delong_cov(data, cs)
    n_mod, n_rdr = cs.auc.shape
    oc = mrmc.or_covariances(cov, n_mod, n_rdr)
    return mrmc_or.rrrc(cs.auc, mrmc_or.auc_anova(cs.auc), oc, data.modalities, 0.95)


def rejection_and_coverage(n_studies, mu, nested, covariance="jackknife", seed0=0):
    truth = true_auc(RM_MEDIUM, mu[0]) - true_auc(RM_MEDIUM, mu[1])
    rejected = covered = 0
    for s in range(n_studies):
        res = rrrc_of(simulate(RM_MEDIUM, mu, 5, 40, 40, seed0 + s, nested=nested), covariance)
        rejected += res.test.p_value < 0.05
        (d,) = res.differences
        covered += d.ci_low <= truth <= d.ci_high
    return rejected / n_studies, covered / n_studies


def test_simulator_is_seeded_and_true_auc_closed_form():
    a = simulate(RM_MEDIUM, (1.5, 1.5), 4, 30, 30, seed=7, nested=True)
    b = simulate(RM_MEDIUM, (1.5, 1.5), 4, 30, 30, seed=7, nested=True)
    c = simulate(RM_MEDIUM, (1.5, 1.5), 4, 30, 30, seed=8, nested=True)
    assert np.array_equal(a.scores, b.scores) and not np.array_equal(a.scores, c.scores)
    assert a.shown.sum(axis=1).tolist() == [60, 60] and a.scores.shape == (2, 4, 90)
    # The mean AUC over 20 studies of 20 readers and 200 + 200 cases approaches
    # Phi(mu / sqrt(2 s2 + 2 v)); one study's mean AUC has SD of about 0.02 (shared cases).
    aucs = [
        mrmc.case_stats(simulate(RM_MEDIUM, (1.5,), 20, 200, 200, seed=s)).auc.mean()
        for s in range(20)
    ]
    assert np.mean(aucs) == pytest.approx(true_auc(RM_MEDIUM, 1.5), abs=0.015)


@pytest.mark.parametrize("nested", [False, True], ids=["crossed", "nested"])
def test_rrrc_size_200_studies(nested):
    """Null (mu 1.5 for both): rejection at 5% +- 4.5% over 200 studies."""
    size, coverage = rejection_and_coverage(200, (1.5, 1.5), nested)
    assert 0.005 <= size <= 0.095
    assert 0.905 <= coverage <= 0.995


@pytest.mark.parametrize("nested", [False, True], ids=["crossed", "nested"])
def test_rrrc_coverage_under_alternative_200_studies(nested):
    """mu 1.5 vs 2.0: the 95% CI covers Phi(1.5/s) - Phi(2.0/s) in 95% +- 4.5% of studies."""
    _, coverage = rejection_and_coverage(200, (1.5, 2.0), nested, seed0=10_000)
    assert 0.905 <= coverage <= 0.995


def test_rrrc_delong_nested_size_200_studies():
    size, _ = rejection_and_coverage(200, (1.5, 1.5), True, "delong", seed0=20_000)
    assert 0.005 <= size <= 0.095


@pytest.mark.slow
@pytest.mark.parametrize("nested", [False, True], ids=["crossed", "nested"])
def test_rrrc_size_and_coverage_2000_studies(nested):
    size, _ = rejection_and_coverage(2000, (1.5, 1.5), nested, seed0=100_000)
    assert 0.035 <= size <= 0.065
    _, coverage = rejection_and_coverage(2000, (1.5, 2.0), nested, seed0=200_000)
    assert 0.935 <= coverage <= 0.965


def test_planned_power_matches_simulated_power():
    """Plan from the mean components of 40 simulated pilots (nested design), then simulate 200
    studies of the planned size: the rejection rate is the planned power +- 0.1 (about 3
    binomial standard errors)."""
    mu = (1.5, 1.9)
    pilots = [
        pilot_components(d, mrmc.case_stats(d))
        for d in (simulate(RM_MEDIUM, mu, 5, 40, 40, 50_000 + s, nested=True) for s in range(40))
    ]
    pilot = average_components(pilots)
    effect = true_auc(RM_MEDIUM, mu[1]) - true_auc(RM_MEDIUM, mu[0])
    n_rdr, n_pos, n_neg = 6, 60, 40
    planned = power_difference(pilot, n_rdr, n_pos, n_neg, effect, 0.05)
    assert 0.3 < planned < 0.95  # a size where the check has teeth
    hits = sum(
        rrrc_of(simulate(RM_MEDIUM, mu, n_rdr, n_pos, n_neg, 60_000 + s, nested=True)).test.p_value
        < 0.05
        for s in range(200)
    )
    assert abs(hits / 200 - planned) < 0.1, (hits / 200, planned)


def test_planned_equivalence_power_matches_simulation():
    """Readers who cannot tell (mu 0, AUC 0.5), nested design: plan the TOST of AUC within
    0.5 +- 0.1 from 40 simulated pilots, then count how often 200 studies of that size show
    equivalence (90% RRRC interval inside 0.4-0.6): the planned power +- 0.1."""
    pilots = [
        pilot_components(d, mrmc.case_stats(d))
        for d in (simulate(RM_MEDIUM, (0.0,), 5, 40, 40, 70_000 + s) for s in range(40))
    ]
    pilot = average_components(pilots)
    n_rdr, n_pos, n_neg = 8, 80, 80
    planned = power_equivalence(pilot, n_rdr, n_pos, n_neg, 0.1, 0.05)
    assert 0.3 < planned < 0.95
    shown = 0
    for s in range(200):
        data = simulate(RM_MEDIUM, (0.0,), n_rdr, n_pos, n_neg, 80_000 + s)
        cs = mrmc.case_stats(data)
        oc = mrmc.or_covariances(mrmc.jackknife_cov(data, cs), 1, n_rdr)
        an = mrmc_or.auc_anova(cs.auc)
        (eq,) = equivalence(data, cs.auc, an.ms_r_by_modality, oc.cov2_by_modality, MrmcOptions())
        shown += eq.equivalent
    assert abs(shown / 200 - planned) < 0.1, (shown / 200, planned)
