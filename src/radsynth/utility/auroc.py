"""AUROC with DeLong's variance and paired test, and a patient-level bootstrap CI.

DeLong, DeLong & Clarke-Pearson (1988), "Comparing the areas under two or more correlated
receiver operating characteristic curves: a nonparametric approach", Biometrics 44:837-845,
computed with the fast midrank algorithm of Sun & Xu (2014), IEEE Signal Processing Letters
21(11):1389-1393. The AUROC is the Mann-Whitney statistic (ties count one half); its variance
comes from the structural components V10 (per positive) and V01 (per negative):

    S10 = cov(V10) / m,  S01 = cov(V01) / n,  S = S10 + S01   (m positives, n negatives)

For two scores on the same images, z = (A1 - A2) / sqrt(S11 + S22 - 2 S12), two-sided normal p
(pROC's ``roc.test(method="delong", paired=TRUE)``). CIs are A +- 1.96 sqrt(S), clipped to
[0, 1] as pROC's ``ci.auc(method="delong")`` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

Z95 = float(stats.norm.ppf(0.975))


def midrank(x: np.ndarray) -> np.ndarray:
    """1-based ranks of ``x`` with ties given their mean rank (Sun & Xu 2014, Algorithm 1)."""
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    n = len(x)
    ranks = np.empty(n, dtype=np.float64)
    i = 0
    while i < n:
        j = i
        while j < n and sorted_x[j] == sorted_x[i]:
            j += 1
        ranks[i:j] = 0.5 * (i + j - 1) + 1
        i = j
    out = np.empty(n, dtype=np.float64)
    out[order] = ranks
    return out


def _check(labels: np.ndarray, scores: np.ndarray) -> None:
    if scores.shape[-1] != len(labels):
        raise ValueError("scores and labels differ in length")
    if not set(np.unique(labels)) <= {0, 1} or labels.min() == labels.max():
        raise ValueError("labels must be 0/1 with both classes present")


def delong(labels: Sequence[int], scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUROCs and their DeLong covariance for K score vectors on the same images.

    Args:
        labels: (N,) 0/1 ground truth (1 = positive).
        scores: (N,) or (K, N) scores, higher = more positive.

    Returns:
        ``aucs`` (K,) and ``cov`` (K, K).
    """
    y = np.asarray(labels).astype(int)
    s = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    _check(y, s)
    pos, neg = s[:, y == 1], s[:, y == 0]
    m, n = pos.shape[1], neg.shape[1]
    tx = np.stack([midrank(r) for r in pos])  # ranks within positives
    ty = np.stack([midrank(r) for r in neg])  # ranks within negatives
    tz = np.stack([midrank(r) for r in np.concatenate([pos, neg], axis=1)])  # over all
    aucs = (tz[:, :m].sum(1) / m - (m + 1) / 2) / n
    v10 = (tz[:, :m] - tx) / n  # (K, m)
    v01 = 1.0 - (tz[:, m:] - ty) / m  # (K, n)
    cov = np.atleast_2d(np.cov(v10)) / m + np.atleast_2d(np.cov(v01)) / n
    return aucs, cov


@dataclass(frozen=True)
class AucCI:
    """An AUROC with its DeLong standard error and 95% CI."""

    auc: float
    se: float
    low: float
    high: float


def auc_ci(labels: Sequence[int], scores: np.ndarray) -> AucCI:
    """AUROC with a DeLong 95% CI, clipped to [0, 1] (pROC ``ci.auc(method="delong")``)."""
    aucs, cov = delong(labels, scores)
    a, se = float(aucs[0]), float(np.sqrt(cov[0, 0]))
    return AucCI(a, se, max(0.0, a - Z95 * se), min(1.0, a + Z95 * se))


@dataclass(frozen=True)
class PairedTest:
    """DeLong's test of two correlated AUROCs: A1 - A2 with its 95% CI, z and p."""

    diff: float
    low: float
    high: float
    z: float
    p: float


def delong_paired(labels: Sequence[int], scores_a: np.ndarray, scores_b: np.ndarray) -> PairedTest:
    """DeLong's test for two scores on the same images (pROC ``roc.test(method="delong")``)."""
    aucs, cov = delong(labels, np.stack([scores_a, scores_b]))
    diff = float(aucs[0] - aucs[1])
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    if var <= 0:  # identical rankings: no difference to test
        return PairedTest(diff, diff, diff, 0.0, 1.0)
    se = np.sqrt(var)
    z = diff / se
    return PairedTest(
        diff, diff - Z95 * se, diff + Z95 * se, float(z), float(2 * stats.norm.sf(abs(z)))
    )


def auc_fast(labels: np.ndarray, scores: np.ndarray) -> float:
    """The Mann-Whitney AUROC alone (ties count one half)."""
    m = int(labels.sum())
    n = len(labels) - m
    ranks = midrank(np.asarray(scores, dtype=np.float64))
    return float((ranks[labels == 1].sum() - m * (m + 1) / 2) / (m * n))


def bootstrap_ci(
    labels: Sequence[int],
    scores: np.ndarray,
    patients: Sequence[str],
    n_boot: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile 95% CI of the AUROC, resampling patients (all of a patient's images
    together), so images of one patient do not count as independent evidence.

    Resamples that miss a class are drawn again (they have no AUROC).
    """
    y = np.asarray(labels).astype(int)
    s = np.asarray(scores, dtype=np.float64)
    keys = sorted(set(patients))
    members = {k: [] for k in keys}
    for i, p in enumerate(patients):
        members[p].append(i)
    groups = [np.asarray(members[k]) for k in keys]
    rng = np.random.default_rng(seed)
    values = []
    while len(values) < n_boot:
        pick = rng.integers(0, len(groups), len(groups))
        idx = np.concatenate([groups[g] for g in pick])
        if y[idx].min() == y[idx].max():
            continue
        values.append(auc_fast(y[idx], s[idx]))
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)
