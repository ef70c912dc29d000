"""The OR analysis against MRMCaov's printed output (Smith & Hillis): the Van Dyke data with
cases nested within treatment (the fully unpaired limit of the partially paired design), and
the crossed data with DeLong covariances.

Reference: ``docs/jss/MRMCaov.tex`` in the MRMCaov repository (brian-j-smith/MRMCaov, commit
f1c63dc4), the knitted output of ``summary(mrmc(empirical_auc(truth, rating), treatment,
reader, case3, data = VanDyke))`` ("Experimental design: cases nested within treatment",
jackknife) and of ``summary(mrmc(..., case, data = VanDyke, cov = DeLong))``. ``case3``
gives every treatment its own copy of each case (same ratings, different case ids), as below.
"""

from __future__ import annotations

import pytest
from test_mrmc_vandyke import close
from vandyke import vandyke_rows

from radsynth.stats.mrmc_analysis import MrmcOptions, analyse
from radsynth.stats.mrmc_design import build_data, design_name, parse_rows


@pytest.fixture(scope="module")
def nested():
    rows = [dict(r, case=f"{r['modality']}.{r['case']}") for r in vandyke_rows()]
    data, _ = build_data(parse_rows(rows))
    assert design_name(data) == "unpaired"
    return analyse(data)


def test_cases_nested_within_treatment(nested):
    """Printed: "reader 1.642585e-03 / treatment:reader 9.078969e-05 / Error 8.058382e-04 /
    Cov1 0.000000e+00 / Cov2 3.455973e-04 / Cov3 0.000000e+00"; "MS(T) 0.004796171
    MS(T:R) 0.0005510306 Cov2 0.0003455973 Cov3 0 Denominator 0.002279017 F 2.104491 df1 1
    df2 68.42325 p-value 0.1514363"; "1 - 2 -0.04380032 0.03019283 68.42325 -0.10404242
    0.01644178 -1.450686 0.1514363"."""
    vc, t = nested["variance_components"], nested["rrrc"]["test"]
    assert close(vc["var_r"], "0.001642585") and close(vc["var_tr"], "0.00009078969")
    assert close(vc["var_error"], "0.0008058382") and close(vc["cov2"], "0.0003455973")
    assert vc["cov1"] == 0.0 and vc["cov3"] == 0.0
    assert close(t["error_term"], "0.002279017") and close(t["statistic"], "2.104491")
    assert close(t["df2"], "68.42325") and close(t["p_value"], "0.1514363")
    (d,) = nested["rrrc"]["differences"]
    assert close(d["std_err"], "0.03019283") and close(d["ci_low"], "-0.10404242")
    assert close(d["ci_high"], "0.01644178") and close(d["statistic"], "-1.450686")


def test_cases_nested_single_treatment_cis(nested):
    """Printed: "1 0.8970370 0.003082629 0.0004861032 0.03320586 12.79430 0.8251827
    0.9688914" and "2 0.9408374 0.001304602 0.0002050913 0.02158730 12.75962 0.8941114
    0.9875634"."""
    c1, c2 = nested["rrrc"]["modality_cis"]
    cov2 = nested["or_covariances"]["cov2_by_modality"]
    assert close(cov2[0], "0.0004861032") and close(cov2[1], "0.0002050913")
    assert close(c1["std_err"], "0.03320586") and close(c1["df"], "12.79430")
    assert close(c1["ci_low"], "0.8251827") and close(c1["ci_high"], "0.9688914")
    assert close(c2["std_err"], "0.02158730") and close(c2["df"], "12.75962")
    assert close(c2["ci_low"], "0.8941114") and close(c2["ci_high"], "0.9875634")
    assert nested["dbm"] is None and "not crossed" in nested["dbm_note"]


def test_delong_crossed():
    """Printed (cov = DeLong): "reader 0.0015364254 / treatment:reader 0.0002045840 / Error
    0.0007921325 / Cov1 0.0003420090 / Cov2 0.0003395265 / Cov3 0.0002358497"; "F 4.484854
    df2 15.06611 p-value 0.05123303"; "1 - 2 -0.04380032 0.0206825 15.06611 -0.0878671960
    0.0002665519"."""
    data, _ = build_data(parse_rows(vandyke_rows()))
    a = analyse(data, MrmcOptions(covariance="delong"))
    vc, t = a["variance_components"], a["rrrc"]["test"]
    assert close(vc["var_r"], "0.0015364254") and close(vc["var_tr"], "0.0002045840")
    assert close(vc["var_error"], "0.0007921325") and close(vc["cov1"], "0.0003420090")
    assert close(vc["cov2"], "0.0003395265") and close(vc["cov3"], "0.0002358497")
    assert close(t["statistic"], "4.484854") and close(t["df2"], "15.06611")
    assert close(t["p_value"], "0.05123303")
    (d,) = a["rrrc"]["differences"]
    assert close(d["std_err"], "0.0206825") and close(d["ci_low"], "-0.0878671960")
    assert close(d["ci_high"], "0.0002665519")


def test_single_reader_intervals_are_cut_at_one():
    """Printed (fixed readers): "Single reader 95% CIs: ... 7 0.9731079 1 4 0.0173388332
    0.9391244 1.0000000" and "6 0.9217391 2 3 0.0297673065 0.8633963 0.9800820"."""
    data, _ = build_data(parse_rows(vandyke_rows()))
    rows = {(r["modality"], r["reader"]): r for r in analyse(data)["auc"]}
    r4 = rows[("0", "3")]  # treatment 1, reader 4
    assert close(r4["auc"], "0.9731079") and close(r4["std_err"], "0.0173388332")
    assert close(r4["ci_low"], "0.9391244") and r4["ci_high"] == 1.0
    r3 = rows[("1", "2")]  # treatment 2, reader 3
    assert close(r3["std_err"], "0.0297673065") and close(r3["ci_low"], "0.8633963")
    assert close(r3["ci_high"], "0.9800820")
