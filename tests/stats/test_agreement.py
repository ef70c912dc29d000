"""Fleiss' and Randolph's kappa against R irr and published tables."""

from __future__ import annotations

import numpy as np
import pytest

from radsynth.stats.agreement import bootstrap_kappa, count_table, fleiss_kappa, randolph_kappa

# Fleiss (1971), Psychological Bulletin 76:378, Table 1 as shipped in R irr::diagnoses: 30
# patients, 6 psychiatrists each; 1 Depression, 2 Personality disorder, 3 Schizophrenia,
# 4 Neurosis, 5 Other. One string of 6 diagnoses per patient.
DIAGNOSES_TEXT = """
444444 222555 233335 555555 222444 113333 333355 113334 114444 555555
144444 124444 222333 144444 224445 333335 111455 111112 224444 133555
555555 244444 224555 114444 144445 222224 111155 224444 133333 555555
"""
DIAGNOSES = DIAGNOSES_TEXT.split()


def test_fleiss_kappa_matches_irr_diagnoses() -> None:
    ratings = [list(row) for row in DIAGNOSES]
    table = count_table(ratings, categories="12345")
    res = fleiss_kappa(table)
    # R: irr::kappam.fleiss(diagnoses) -> Kappa = 0.43, z = 17.7, p-value = 0;
    #    print(kappam.fleiss(diagnoses)$value, digits = 7) = 0.4302445, $statistic = 17.65183
    assert res.kappa == pytest.approx(0.4302445, abs=5e-8)
    assert res.z == pytest.approx(17.65183, abs=5e-6)
    assert res.p_value < 1e-60
    assert (res.n_items, res.n_raters, res.n_categories) == (30, 6, 5)


def test_fleiss_kappa_wikipedia_table() -> None:
    # Wikipedia "Fleiss' kappa" worked example: 10 subjects, 14 raters, 5 categories.
    # R: irr::kappam.fleiss on the expanded ratings -> Kappa = 0.2099307 (Wikipedia: 0.210)
    table = np.array([
        [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
    ])  # fmt: skip
    res = fleiss_kappa(table)
    assert res.kappa == pytest.approx(0.2099307, abs=5e-8)
    assert res.p_observed == pytest.approx(0.378, abs=5e-4)  # Wikipedia: P-bar = 0.378
    assert res.p_expected == pytest.approx(0.213, abs=5e-4)  # Wikipedia: P_e = 0.213


def test_unchosen_category_keeps_k_fixed() -> None:
    # Four identities (real + 3 synthetic sets); nobody ever picked "s3".
    cats = ["real", "s1", "s2", "s3"]
    picks = [["real", "real", "s1"], ["s1", "s1", "s1"], ["s2", "real", "s2"], ["real"] * 3]
    table = count_table(picks, cats)
    assert table.shape == (4, 4) and table[:, 3].sum() == 0
    three = count_table(picks, cats[:3])
    # Fleiss' kappa is unchanged by an empty column (p_j = 0) ...
    assert fleiss_kappa(table).kappa == pytest.approx(fleiss_kappa(three).kappa)
    assert fleiss_kappa(table).n_categories == 4
    # ... but Randolph's free-marginal kappa uses chance 1/k with k = 4, not 3.
    p_bar = (1 / 3 + 1 + 1 / 3 + 1) / 4
    assert randolph_kappa(table) == pytest.approx((p_bar - 1 / 4) / (1 - 1 / 4))
    assert randolph_kappa(three) == pytest.approx((p_bar - 1 / 3) / (1 - 1 / 3))


def test_randolph_hand_value() -> None:
    # Perfect agreement gives 1; Randolph (2005): kappa_free = (P_o - 1/k) / (1 - 1/k).
    assert randolph_kappa(np.array([[3, 0], [0, 3]])) == 1.0
    assert randolph_kappa(np.array([[2, 1], [1, 2]])) == pytest.approx((1 / 3 - 1 / 2) / (1 / 2))


def test_bad_tables() -> None:
    with pytest.raises(ValueError, match="same number"):
        count_table([["a", "b"], ["a"]], ["a", "b"])
    with pytest.raises(ValueError, match="not one of"):
        count_table([["a", "z"]], ["a", "b"])


def test_bootstrap_kappa_is_seeded() -> None:
    table = count_table([list(row) for row in DIAGNOSES], "12345")
    a = bootstrap_kappa(table, n_boot=200, seed=7)
    b = bootstrap_kappa(table, n_boot=200, seed=7)
    c = bootstrap_kappa(table, n_boot=200, seed=8)
    assert a == b
    assert a != c
    assert a.fleiss_low < 0.4302445 < a.fleiss_high
