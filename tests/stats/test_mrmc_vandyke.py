"""The OR analysis against OR-DBM MRMC 2.51's printed output for the Van Dyke data set.

Reference: ``inst/IowaResults/VanDyke_trap_area_jackknife_anova.txt`` in the RJafroc
repository (dpc10ster/RJafroc, commit 56cce359), "OR-DBM MRMC 2.51 <beta> Build 20181028,
TRAPEZOIDAL AREA ANALYSIS, Covariance Estimation Method: Jackknifing", on VanDyke.lrc
(2 treatments, 5 readers, 114 cases (69 normal, 45 abnormal)). Every expected number below is
copied from that printout; each comparison is to the printed digits (half a unit of the last
printed place).
"""

from __future__ import annotations

import pytest
from vandyke import vandyke_rows

from radsynth.stats import mrmc, mrmc_or
from radsynth.stats.mrmc_analysis import reader_aucs
from radsynth.stats.mrmc_dbm import dbm
from radsynth.stats.mrmc_design import build_data, parse_rows


def close(value: float, printed: str) -> bool:
    """``value`` rounds to ``printed`` (within half a unit of its last place)."""
    places = len(printed.split(".")[1]) if "." in printed else 0
    return abs(value - float(printed)) <= 0.5 * 10.0**-places + 1e-12


@pytest.fixture(scope="module")
def vd():
    data, dropped = build_data(parse_rows(vandyke_rows()))
    assert dropped == {}
    cs = mrmc.case_stats(data)
    cov = mrmc.jackknife_cov(data, cs)
    oc = mrmc.or_covariances(cov, 2, 5)
    an = mrmc_or.auc_anova(cs.auc)
    return data, cs, cov, oc, an


# TREATMENT x READER AUC ESTIMATES (readers 1-5, treatments 1 and 2)
PRINTED_AUC = [
    ["0.91964573", "0.85877617", "0.90386473", "0.97310789", "0.82979066"],
    ["0.94782609", "0.90531401", "0.92173913", "0.99935588", "0.92995169"],
]


def test_reader_aucs(vd):
    _, cs, *_ = vd
    for m in range(2):
        for r in range(5):
            assert close(cs.auc[m, r], PRINTED_AUC[m][r]), (m, r, cs.auc[m, r])
    assert close(cs.auc[0].mean(), "0.89703704") and close(cs.auc[1].mean(), "0.94083736")


def test_or_covariances_and_anova(vd):
    *_, oc, an = vd
    # "Var(R) 0.00153500 / Var(T*R) 0.00020040 / COV1 0.00034661 / COV2 0.00034407 /
    #  COV3 0.00023903 / Var(Error) 0.00080229"; "T 0.00479617  R 0.00383620  T*R 0.00055103"
    assert close(oc.cov1, "0.00034661") and close(oc.cov2, "0.00034407")
    assert close(oc.cov3, "0.00023903") and close(oc.var, "0.00080229")
    assert close(an.ms_t, "0.00479617") and close(an.ms_r, "0.00383620")
    assert close(an.ms_tr, "0.00055103")
    vc = mrmc_or.or_variance_components(an, oc, 2)
    assert close(vc.var_r, "0.00153500") and close(vc.var_tr, "0.00020040")


def test_random_readers_random_cases(vd):
    data, cs, _, oc, an = vd
    res = mrmc_or.rrrc(cs.auc, an, oc, data.modalities, 0.95)
    # "Treatment 1 0.00479617 4.46 0.0517 / Error term 15.26 0.00107626"
    assert close(res.test.statistic, "4.46") and close(res.test.p_value, "0.0517")
    assert close(res.test.df2, "15.26") and close(res.test.error_term, "0.00107626")
    # "1 - 2  -0.04380  0.02075  15.26  -2.11  0.0517  (-0.08796 ,  0.00036)"
    (d,) = res.differences
    assert close(d.estimate, "-0.04380") and close(d.std_err, "0.02075")
    assert close(d.statistic, "-2.11") and close(d.ci_low, "-0.08796")
    assert close(d.ci_high, "0.00036")
    # "1 0.89703704 0.03317360 12.74 (0.82522360 , 0.96885048)"
    # "2 0.94083736 0.02156637 12.71 (0.89413783 , 0.98753689)"
    c1, c2 = res.modality_cis
    assert close(c1.std_err, "0.03317360") and close(c1.df, "12.74")
    assert close(c1.ci_low, "0.82522360") and close(c1.ci_high, "0.96885048")
    assert close(c2.std_err, "0.02156637") and close(c2.df, "12.71")
    assert close(c2.ci_low, "0.89413783") and close(c2.ci_high, "0.98753689")


def test_fixed_readers_random_cases(vd):
    data, cs, cov, oc, an = vd
    res = mrmc_or.frrc(cs.auc, an, oc, cov, data.modalities, data.readers, 0.95)
    # "X2 value 5.47595  DF 1  Pr > X2 0.0193"
    assert close(res.test.statistic, "5.47595") and close(res.test.p_value, "0.0193")
    # "1 - 2 -0.04380 0.01872 -2.34 0.0193 (-0.08049 , -0.00711)"
    (d,) = res.differences
    assert close(d.std_err, "0.01872") and close(d.ci_low, "-0.08049")
    assert close(d.ci_high, "-0.00711")
    # part d): reader, difference, StdErr, z, Pr>|z|, 95% CI
    printed = [
        ("-0.02818", "0.02551", "-1.10", "0.2693", "-0.07818", "0.02182"),
        ("-0.04654", "0.02630", "-1.77", "0.0768", "-0.09809", "0.00501"),
        ("-0.01787", "0.03121", "-0.57", "0.5668", "-0.07904", "0.04330"),
        ("-0.02625", "0.01729", "-1.52", "0.1290", "-0.06014", "0.00764"),
        ("-0.10016", "0.04406", "-2.27", "0.0230", "-0.18651", "-0.01381"),
    ]
    for got, want in zip(res.per_reader, printed, strict=True):
        values = (got.estimate, got.std_err, got.statistic, got.p_value, got.ci_low, got.ci_high)
        assert all(close(v, w) for v, w in zip(values, want, strict=True)), (got, want)
    # part c): "1 0.89703704 0.02428971 (0.84943008 , 0.94464399)"
    assert close(res.modality_cis[0].std_err, "0.02428971")
    assert close(res.modality_cis[1].ci_low, "0.90795637")


def test_random_readers_fixed_cases(vd):
    data, cs, _, _, an = vd
    res = mrmc_or.rrfc(cs.auc, an, data.modalities, 0.95)
    # "Treatment 1 0.00479617 8.70 0.0420 / T*R 4 0.00055103"
    assert close(res.test.statistic, "8.70") and close(res.test.p_value, "0.0420")
    assert res.test.df2 == 4
    # "1 - 2 -0.04380 0.01485 4 -2.95 0.0420 (-0.08502 , -0.00258)"
    (d,) = res.differences
    assert close(d.std_err, "0.01485") and close(d.ci_low, "-0.08502")
    assert close(d.ci_high, "-0.00258")
    # "1 0.89703704 0.00308263 0.02482994 4 (0.82809808 , 0.96597599)"
    assert close(res.modality_cis[0].std_err, "0.02482994")
    assert close(res.modality_cis[0].ci_high, "0.96597599")


def test_dbm_cross_check(vd):
    """DBM with normalised pseudovalues gives OR's F and ddf_H (Hillis et al. 2005), and the
    printed DBM components: "Var(C) 0.02724923  Var(T*C) 0.01197530  Var(R*C) 0.01226473
    Var(T*R*C) + Var(Error) 0.03997160"."""
    data, cs, *_ = vd
    res = dbm(data, cs)
    assert close(res.f, "4.46") and close(res.ddf, "15.26") and close(res.p_value, "0.0517")
    assert close(res.var_r, "0.00153500") and close(res.var_c, "0.02724923")
    assert close(res.var_tr, "0.00020040") and close(res.var_tc, "0.01197530")
    assert close(res.var_rc, "0.01226473") and close(res.var_trc_error, "0.03997160")
    # JAFROC 4.2.1 (inst/JAFROC/VanDykeROC.txt, same repository) prints the pseudovalue mean
    # squares "T 0.54676316 ... TR 0.06281753 ... TC 0.09984813 ... TRC 0.03997167".
    assert res.ms_t == pytest.approx(0.54676316, rel=1e-6)
    assert res.ms_tr == pytest.approx(0.06281753, rel=1e-6)
    assert res.ms_tc == pytest.approx(0.09984813, rel=1e-6)
    assert res.ms_trc == pytest.approx(0.03997167, rel=3e-6)


def test_per_reader_intervals(vd):
    """One reader, cases random: OR-DBM MRMC 2.51 on reader 1 alone
    (``inst/Iowa/VanDyke1R.txt``, same repository, commit 36646d99), Analysis 2 c):
    "1 0.91964573 0.03012552 (0.86060081 , 0.97869066)" and
    "2 0.94782609 0.02214169 (0.90442917 , 0.99122300)"."""
    data, cs, cov, *_ = vd
    rows = {(r["modality"], r["reader"]): r for r in reader_aucs(data, cs.auc, cov, 0.95)}
    first, second = rows[("0", "0")], rows[("1", "0")]
    assert close(first["std_err"], "0.03012552") and close(first["ci_low"], "0.86060081")
    assert close(first["ci_high"], "0.97869066") and close(second["std_err"], "0.02214169")
    assert close(second["ci_low"], "0.90442917") and close(second["ci_high"], "0.99122300")
