"""DeLong AUROC variance, CI and paired test against R's pROC; the patient bootstrap."""

from __future__ import annotations

import numpy as np
import pytest

from radsynth.utility.auroc import auc_ci, bootstrap_ci, delong, delong_paired, midrank

# R 4.x, pROC (Debian r-cran-proc), options(digits=15):
#   y  <- c(0,0,0,0,0,0,1,1,1,1,1,1,1)
#   s1 <- c(0.1,0.4,0.35,0.8,0.2,0.5,0.9,0.6,0.55,0.3,0.7,0.85,0.5)
#   s2 <- c(0.2,0.3,0.6,0.4,0.1,0.7,0.8,0.5,0.45,0.35,0.9,0.6,0.4)
#   r1 <- roc(y, s1, direction="<", levels=c(0,1)); r2 <- roc(y, s2, direction="<", levels=c(0,1))
#   auc(r1)                      0.797619047619     auc(r2)  0.738095238095
#   var(r1, method="delong")     0.0189342403628118
#   var(r2, method="delong")     0.0240268329554044
#   cov(r1, r2, method="delong") 0.00689247921390779
#   ci.auc(r1, method="delong")  0.527924582242 - 1
#   ci.auc(r2, method="delong")  0.434289231917 - 1
#   roc.test(r1, r2, method="delong", paired=TRUE): Z = 0.348479301873435, p = 0.7274802555609
Y = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1])
S1 = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.5, 0.9, 0.6, 0.55, 0.3, 0.7, 0.85, 0.5])
S2 = np.array([0.2, 0.3, 0.6, 0.4, 0.1, 0.7, 0.8, 0.5, 0.45, 0.35, 0.9, 0.6, 0.4])


def test_delong_matches_proc() -> None:
    aucs, cov = delong(Y, np.stack([S1, S2]))
    assert aucs == pytest.approx([0.797619047619, 0.738095238095], rel=1e-10)
    assert cov[0, 0] == pytest.approx(0.0189342403628118, rel=1e-10)
    assert cov[1, 1] == pytest.approx(0.0240268329554044, rel=1e-10)
    assert cov[0, 1] == pytest.approx(0.00689247921390779, rel=1e-10)
    ci1, ci2 = auc_ci(Y, S1), auc_ci(Y, S2)
    assert (ci1.low, ci1.high) == (pytest.approx(0.527924582242, rel=1e-9), 1.0)
    assert (ci2.low, ci2.high) == (pytest.approx(0.434289231917, rel=1e-9), 1.0)
    test = delong_paired(Y, S1, S2)
    assert test.z == pytest.approx(0.348479301873435, rel=1e-9)
    assert test.p == pytest.approx(0.7274802555609, rel=1e-9)
    assert test.diff == pytest.approx(0.797619047619 - 0.738095238095, rel=1e-9)


def test_midrank_and_perfect_scores() -> None:
    assert midrank(np.array([3.0, 1.0, 3.0, 2.0])).tolist() == [3.5, 1.0, 3.5, 2.0]
    aucs, _ = delong(Y, Y * 2.0 + 1)
    assert aucs[0] == 1.0
    same = delong_paired(Y, S1, S1 * 3)
    assert same.diff == 0.0 and same.p == 1.0


def test_patient_bootstrap_is_seeded_and_covers() -> None:
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 60)
    s = y + rng.normal(0, 1.0, 120)
    patients = [f"p{i // 3}" for i in range(120)]  # three images per patient
    low, high = bootstrap_ci(y, s, patients, n_boot=500, seed=1)
    assert (low, high) == bootstrap_ci(y, s, patients, n_boot=500, seed=1)
    a = auc_ci(y, s)
    assert low < a.auc < high and low > 0.5
