"""Multi-reader multi-case ROC: the trapezoidal AUC of every reader x modality, its jackknife and
DeLong covariances, and the Obuchowski-Rockette error covariances built from them.

Shapes: ``M`` modalities, ``R`` readers, ``C`` cases. ``scores`` is ``(M, R, C)``; ``shown`` is
``(M, C)`` and says which cases a modality showed (every case in a fully crossed study; in the
partially paired study of :mod:`radsynth.stats.mrmc_design` the truth-1 cases are shared and
each modality's truth-0 cases are its own). A covariance matrix is ``(M*R, M*R)``, row
``m * R + r``.

Jackknife convention (any design; that of MRMCaov, Smith & Hillis): each of the ``C`` cases of
the union of all modalities' cases is left out in turn, and an AUC that did not use the case
keeps its full value; ``cov_ij = (C - 1) / C * sum_k (A_i(-k) - mean_i)(A_j(-k) - mean_j)`` over
all ``C`` leave-outs. For the trapezoidal AUC the leave-outs of a modality's own cases average
to its AUC exactly, so only cases shown to both AUCs contribute: fully crossed this is the
jackknife of Obuchowski & Rockette (1995) and OR-DBM MRMC, and two modalities that share no
case have covariance exactly 0. Matched to the printed digits of OR-DBM MRMC (crossed) and of
MRMCaov's "cases nested within treatment" analysis (unpaired) in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MrmcData:
    """Ratings arranged for MRMC analysis."""

    scores: np.ndarray  # (M, R, C) float ratings; any value where shown[m, c] is False
    truth: np.ndarray  # (C,) bool: True for the cases the rating should rank high
    shown: np.ndarray  # (M, C) bool: modality m showed case c
    modalities: tuple[str, ...]  # M names
    readers: tuple[str, ...]  # R names
    cases: tuple[str, ...]  # C names

    @property
    def fully_crossed(self) -> bool:
        """Every modality showed every case (DBM's pseudovalue matrix is then crossed)."""
        return bool(self.shown.all())


@dataclass(frozen=True)
class CaseStats:
    """Per-case pieces of the trapezoidal AUC (DeLong et al. 1988 structural components)."""

    auc: np.ndarray  # (M, R) trapezoidal AUC
    jack: np.ndarray  # (M, R, C) AUC with case c left out; = auc where c is not shown
    v10: np.ndarray  # (M, R, C) V10 of truth-1 cases (mean kernel over truth-0); 0 elsewhere
    v01: np.ndarray  # (M, R, C) V01 of truth-0 cases (mean kernel over truth-1); 0 elsewhere


def ratio(num: float, den: float) -> float:
    """``num / den``, NaN when ``den`` is 0 (a degenerate study: e.g. every rating tied, so
    every AUC is 0.5 and every mean square 0); JSON writes NaN as null."""
    return float(num) / float(den) if den != 0 else float("nan")


def _kernel(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """Mann-Whitney kernel psi(x, y) = 1 if x > y, 1/2 if tied, 0 below; (R, n1, n0)."""
    x, y = pos[:, :, None], neg[:, None, :]
    return (x > y) + 0.5 * (x == y)


def case_stats(data: MrmcData) -> CaseStats:
    """Trapezoidal AUC (= Mann-Whitney U / (n1 n0)), leave-one-case-out AUCs and V10/V01.

    Leaving out truth-1 case i: (S - row_i) / ((n1 - 1) n0); truth-0 case j: (S - col_j) /
    (n1 (n0 - 1)), with S the kernel sum; no AUC is recomputed (vectorised jackknife).
    """
    n_mod, n_rdr, n_case = data.scores.shape
    auc = np.empty((n_mod, n_rdr))
    jack = np.empty((n_mod, n_rdr, n_case))
    v10 = np.zeros((n_mod, n_rdr, n_case))
    v01 = np.zeros((n_mod, n_rdr, n_case))
    for m in range(n_mod):
        pos = np.flatnonzero(data.shown[m] & data.truth)
        neg = np.flatnonzero(data.shown[m] & ~data.truth)
        n1, n0 = len(pos), len(neg)
        psi = _kernel(data.scores[m][:, pos], data.scores[m][:, neg])  # (R, n1, n0)
        total = psi.sum(axis=(1, 2))  # (R,)
        rows, cols = psi.sum(axis=2), psi.sum(axis=1)  # (R, n1), (R, n0)
        auc[m] = total / (n1 * n0)
        jack[m] = auc[m][:, None]
        jack[m][:, pos] = (total[:, None] - rows) / ((n1 - 1) * n0)
        jack[m][:, neg] = (total[:, None] - cols) / (n1 * (n0 - 1))
        v10[m][:, pos] = rows / n0
        v01[m][:, neg] = cols / n1
    return CaseStats(auc=auc, jack=jack, v10=v10, v01=v01)


def _shown_rows(data: MrmcData) -> np.ndarray:
    """(M*R, C) bool: row i = m*R + r showed case c."""
    n_rdr = len(data.readers)
    return np.repeat(data.shown, n_rdr, axis=0)


def jackknife_cov(data: MrmcData, cs: CaseStats) -> np.ndarray:
    """Jackknife covariance of the M*R AUCs, (M*R, M*R); convention in the module docstring."""
    n_case = cs.jack.shape[-1]
    # Centred at the AUC, which the leave-outs average to exactly (see the module docstring):
    # a case an AUC did not use then contributes an exact 0, not rounding noise.
    dev = cs.jack.reshape(-1, n_case) - cs.auc.reshape(-1, 1)
    return (n_case - 1) / n_case * (dev @ dev.T)


def delong_cov_parts(data: MrmcData, cs: CaseStats) -> tuple[np.ndarray, np.ndarray]:
    """DeLong, DeLong & Clarke-Pearson (1988) covariance, split into its truth-1 and truth-0
    parts (each (M*R, M*R)); the covariance is their sum.

    With ``A - theta ~ mean_i (V10_i - theta) + mean_j (V01_j - theta)`` (Hoeffding), two AUCs
    share only the cases both showed: part10_ij = n_s / (n1_i n1_j) * s_ij, with s_ij the
    sample covariance (divisor n_s - 1) of V10 over the n_s shared truth-1 cases, centred at
    each AUC; likewise for truth 0. Fully crossed this is DeLong's S10/n1 + S01/n0; for shared
    truth-1 and nested truth-0 cases the truth-0 part across modalities is exactly 0.
    """
    shown = _shown_rows(data)
    auc = cs.auc.reshape(-1)
    parts = []
    for v, cls in ((cs.v10, data.truth), (cs.v01, ~data.truth)):
        member = shown & cls[None, :]
        dev = np.where(member, v.reshape(member.shape) - auc[:, None], 0.0)
        n = member.sum(axis=1).astype(float)
        n_shared = member.astype(float) @ member.T.astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(n_shared > 1, n_shared / (n_shared - 1) / np.outer(n, n), 0.0)
        parts.append(scale * (dev @ dev.T))
    return parts[0], parts[1]


def delong_cov(data: MrmcData, cs: CaseStats) -> np.ndarray:
    """DeLong covariance of the M*R AUCs, (M*R, M*R)."""
    part10, part01 = delong_cov_parts(data, cs)
    return part10 + part01


@dataclass(frozen=True)
class OrCovariances:
    """Obuchowski-Rockette error variance and covariances, averaged over the matching pairs."""

    var: float  # Var(error): mean variance of one reader x modality AUC
    cov1: float  # same reader, different modalities
    cov2: float  # different readers, same modality
    cov3: float  # different readers, different modalities
    var_by_modality: tuple[float, ...]  # (M,) Var(error) within each modality
    cov2_by_modality: tuple[float, ...]  # (M,) Cov2 within each modality


def _mean_where(cov: np.ndarray, mask: np.ndarray) -> float:
    return float(cov[mask].mean()) if mask.any() else float("nan")


def or_covariances(cov: np.ndarray, n_mod: int, n_rdr: int) -> OrCovariances:
    """Average a (M*R, M*R) covariance into Var, Cov1, Cov2, Cov3 (Obuchowski & Rockette 1995)."""
    mod = np.repeat(np.arange(n_mod), n_rdr)
    rdr = np.tile(np.arange(n_rdr), n_mod)
    same_m, same_r = mod[:, None] == mod[None, :], rdr[:, None] == rdr[None, :]
    diag = same_m & same_r
    var_m, cov2_m = [], []
    for m in range(n_mod):
        inside = (mod[:, None] == m) & (mod[None, :] == m)
        var_m.append(_mean_where(cov, inside & diag))
        cov2_m.append(_mean_where(cov, inside & ~same_r))
    return OrCovariances(
        var=_mean_where(cov, diag),
        cov1=_mean_where(cov, ~same_m & same_r),
        cov2=_mean_where(cov, same_m & ~same_r),
        cov3=_mean_where(cov, ~same_m & ~same_r),
        var_by_modality=tuple(var_m),
        cov2_by_modality=tuple(cov2_m),
    )


def pseudovalues(data: MrmcData, cs: CaseStats) -> np.ndarray:
    """Normalised jackknife pseudovalues (Hillis et al. 2005), (M, R, C).

    ``Y_mrk = C auc_mr - (C - 1) auc_mr(-k)``, shifted so that their mean over cases is the AUC
    (the trapezoidal AUC's raw pseudovalues average to it only approximately).
    """
    n_case = data.scores.shape[-1]
    raw = n_case * cs.auc[:, :, None] - (n_case - 1) * cs.jack
    return raw + (cs.auc - raw.mean(axis=2))[:, :, None]
