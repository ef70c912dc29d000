"""Obuchowski-Rockette (1995) analysis of reader x modality AUCs, with Hillis (2007) degrees of
freedom, in the three generalisations OR-DBM MRMC prints (Hillis et al. 2005; Hillis 2007):

- random readers, random cases (RRRC): ``F = MS(T) / [MS(T*R) + R max(Cov2 - Cov3, 0)]`` on
  ``(M - 1, ddf_H)`` with ``ddf_H = [MS(T*R) + R max(Cov2 - Cov3, 0)]^2 /
  {MS(T*R)^2 / [(M - 1)(R - 1)]}``;
- fixed readers, random cases (FRRC): ``X2 = (M - 1) MS(T) / [Var - Cov1 + (R - 1)
  max(Cov2 - Cov3, 0)]`` on ``M - 1`` df, and per-reader differences with
  ``SE = sqrt(Var_mr + Var_m'r - 2 Cov_(mr, m'r))``;
- random readers, fixed cases (RRFC): ``F = MS(T) / MS(T*R)`` on ``(M - 1, (M - 1)(R - 1))``.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy import stats as st

from radsynth.stats.mrmc import OrCovariances, ratio


@dataclass(frozen=True)
class AucAnova:
    """Modality x reader ANOVA of the AUCs (no replication)."""

    ms_t: float  # mean square of modalities, df M - 1
    ms_r: float  # mean square of readers, df R - 1
    ms_tr: float  # modality x reader interaction, df (M - 1)(R - 1)
    ms_r_by_modality: tuple[float, ...]  # (M,) reader mean square within each modality


def auc_anova(auc: np.ndarray) -> AucAnova:
    """Mean squares of the (M, R) AUC table."""
    n_mod, n_rdr = auc.shape
    grand = auc.mean()
    by_m, by_r = auc.mean(axis=1), auc.mean(axis=0)
    resid = auc - by_m[:, None] - by_r[None, :] + grand
    ms_tr = float((resid**2).sum() / ((n_mod - 1) * (n_rdr - 1))) if n_mod > 1 else float("nan")
    return AucAnova(
        ms_t=float(n_rdr * ((by_m - grand) ** 2).sum() / (n_mod - 1)) if n_mod > 1 else np.nan,
        ms_r=float(n_mod * ((by_r - grand) ** 2).sum() / (n_rdr - 1)),
        ms_tr=ms_tr,
        ms_r_by_modality=tuple(float(v) for v in auc.var(axis=1, ddof=1)),
    )


@dataclass(frozen=True)
class Difference:
    """One modality difference ``first - second`` with its interval and test."""

    first: str  # modality name
    second: str  # modality name
    reader: str | None  # None for the reader-averaged difference
    estimate: float  # AUC difference
    std_err: float  # its standard error
    df: float | None  # t degrees of freedom; None for a z interval
    statistic: float  # t or z
    p_value: float  # two-sided
    ci_low: float  # conf_level interval
    ci_high: float


@dataclass(frozen=True)
class ModalityCi:
    """One modality's reader-averaged AUC with its interval."""

    modality: str
    auc: float  # mean AUC over readers
    std_err: float
    df: float | None  # None for a z interval
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class GlobalTest:
    """Test of equal modality AUCs."""

    statistic: float  # F (RRRC, RRFC) or chi-square (FRRC)
    df1: float  # numerator df (chi-square df for FRRC)
    df2: float | None  # denominator df; None for chi-square
    p_value: float
    error_term: float  # the denominator's mean square (F) or variance (chi-square)


@dataclass(frozen=True)
class OrAnalysis:
    """One generalisation (RRRC, FRRC or RRFC) of the OR analysis."""

    kind: str  # "random readers, random cases" | ...
    test: GlobalTest | None  # None with one modality
    differences: tuple[Difference, ...]  # every modality pair, reader-averaged
    per_reader: tuple[Difference, ...]  # FRRC only: every reader and modality pair
    modality_cis: tuple[ModalityCi, ...]


def _t_diff(first, second, est, se, df, conf, reader=None) -> Difference:
    """A difference with a t (df given) or z (df None) interval."""
    q = st.t.ppf(0.5 + conf / 2, df) if df is not None else st.norm.ppf(0.5 + conf / 2)
    stat = est / se if se > 0 else float("nan")
    tail = st.t.sf(abs(stat), df) if df is not None else st.norm.sf(abs(stat))
    return Difference(
        first, second, reader, est, se, df, stat, 2 * tail, est - q * se, est + q * se
    )


def _ci(name, auc, se, df, conf) -> ModalityCi:
    q = st.t.ppf(0.5 + conf / 2, df) if df is not None else st.norm.ppf(0.5 + conf / 2)
    # An AUC lies in [0, 1]; the interval is cut there (as MRMCaov prints it).
    return ModalityCi(name, auc, se, df, max(0.0, auc - q * se), min(1.0, auc + q * se))


def _pairs(names: tuple[str, ...], means: np.ndarray):
    for a, b in combinations(range(len(names)), 2):
        yield names[a], names[b], float(means[a] - means[b])


def single_modality_rrrc(
    mean_auc: float, ms_r: float, cov2: float, n_rdr: int, conf: float
) -> tuple[float, float]:
    """(std_err, ddf_H_single) of one modality's mean AUC, readers and cases random (Hillis
    2007): ``SE = sqrt([MS(R) + R max(Cov2, 0)] / R)``, ``df = [MS(R) + R max(Cov2, 0)]^2 /
    [MS(R)^2 / (R - 1)]``."""
    err = ms_r + n_rdr * max(cov2, 0.0)
    df = err**2 / (ms_r**2 / (n_rdr - 1)) if ms_r > 0 else float("inf")
    return float(np.sqrt(err / n_rdr)), float(df)


def rrrc(
    auc: np.ndarray, an: AucAnova, oc: OrCovariances, names: tuple[str, ...], conf: float
) -> OrAnalysis:
    """Random readers and random cases (Obuchowski & Rockette 1995; ddf_H of Hillis 2007)."""
    n_mod, n_rdr = auc.shape
    means = auc.mean(axis=1)
    cis = []
    for m in range(n_mod):
        se, df = single_modality_rrrc(
            means[m], an.ms_r_by_modality[m], oc.cov2_by_modality[m], n_rdr, conf
        )
        cis.append(_ci(names[m], float(means[m]), se, df, conf))
    if n_mod < 2:
        return OrAnalysis("random readers, random cases", None, (), (), tuple(cis))
    err = an.ms_tr + n_rdr * max(oc.cov2 - oc.cov3, 0.0)
    ddf = err**2 / (an.ms_tr**2 / ((n_mod - 1) * (n_rdr - 1))) if an.ms_tr > 0 else float("inf")
    f = ratio(an.ms_t, err)
    test = GlobalTest(f, n_mod - 1, ddf, float(st.f.sf(f, n_mod - 1, ddf)), err)
    se = float(np.sqrt(2 / n_rdr * err))
    diffs = tuple(_t_diff(a, b, d, se, ddf, conf) for a, b, d in _pairs(names, means))
    return OrAnalysis("random readers, random cases", test, diffs, (), tuple(cis))


def frrc(
    auc: np.ndarray,
    an: AucAnova,
    oc: OrCovariances,
    cov: np.ndarray,
    names: tuple[str, ...],
    readers: tuple[str, ...],
    conf: float,
) -> OrAnalysis:
    """Fixed readers and random cases: chi-square test and z intervals (Hillis 2007)."""
    n_mod, n_rdr = auc.shape
    means = auc.mean(axis=1)
    cis = tuple(
        _ci(
            names[m],
            float(means[m]),
            float(
                np.sqrt(
                    (oc.var_by_modality[m] + (n_rdr - 1) * max(oc.cov2_by_modality[m], 0)) / n_rdr
                )
            ),
            None,
            conf,
        )
        for m in range(n_mod)
    )
    if n_mod < 2:
        return OrAnalysis("fixed readers, random cases", None, (), (), cis)
    err = oc.var - oc.cov1 + (n_rdr - 1) * max(oc.cov2 - oc.cov3, 0.0)
    x2 = ratio((n_mod - 1) * an.ms_t, err)
    test = GlobalTest(x2, n_mod - 1, None, float(st.chi2.sf(x2, n_mod - 1)), err)
    se = float(np.sqrt(2 / n_rdr * err))
    diffs = tuple(_t_diff(a, b, d, se, None, conf) for a, b, d in _pairs(names, means))
    per_reader = []
    for a, b in combinations(range(n_mod), 2):
        for r in range(n_rdr):
            i, j = a * n_rdr + r, b * n_rdr + r
            v = cov[i, i] + cov[j, j] - 2 * cov[i, j]
            d = float(auc[a, r] - auc[b, r])
            per_reader.append(
                _t_diff(names[a], names[b], d, float(np.sqrt(v)), None, conf, readers[r])
            )
    return OrAnalysis("fixed readers, random cases", test, diffs, tuple(per_reader), cis)


def rrfc(auc: np.ndarray, an: AucAnova, names: tuple[str, ...], conf: float) -> OrAnalysis:
    """Random readers and fixed cases: the modality x reader ANOVA of the AUCs."""
    n_mod, n_rdr = auc.shape
    means = auc.mean(axis=1)
    cis = tuple(
        _ci(
            names[m],
            float(means[m]),
            float(np.sqrt(an.ms_r_by_modality[m] / n_rdr)),
            n_rdr - 1,
            conf,
        )
        for m in range(n_mod)
    )
    if n_mod < 2:
        return OrAnalysis("random readers, fixed cases", None, (), (), cis)
    ddf = (n_mod - 1) * (n_rdr - 1)
    f = ratio(an.ms_t, an.ms_tr)
    test = GlobalTest(f, n_mod - 1, ddf, float(st.f.sf(f, n_mod - 1, ddf)), an.ms_tr)
    se = float(np.sqrt(2 / n_rdr * an.ms_tr))
    diffs = tuple(_t_diff(a, b, d, se, ddf, conf) for a, b, d in _pairs(names, means))
    return OrAnalysis("random readers, fixed cases", test, diffs, (), cis)


@dataclass(frozen=True)
class OrVarianceComponents:
    """OR variance components from the expected mean squares (Hillis et al. 2005); ANOVA
    estimates, which can be negative."""

    var_r: float  # reader variance
    var_tr: float  # modality x reader variance
    var_error: float
    cov1: float
    cov2: float
    cov3: float


def or_variance_components(an: AucAnova, oc: OrCovariances, n_mod: int) -> OrVarianceComponents:
    """``Var(T*R) = MS(T*R) - Var + Cov1 + Cov2 - Cov3``; ``Var(R) = [MS(R) - Var - (M - 1)
    Cov1 + Cov2 + (M - 1) Cov3 - Var(T*R)] / M``."""
    var_tr = an.ms_tr - oc.var + oc.cov1 + oc.cov2 - oc.cov3 if n_mod > 1 else float("nan")
    var_r = (
        an.ms_r - oc.var - (n_mod - 1) * oc.cov1 + oc.cov2 + (n_mod - 1) * oc.cov3 - var_tr
    ) / n_mod
    if n_mod == 1:  # one modality: Var(R) here means reader variance plus interaction
        var_r = an.ms_r - oc.var + oc.cov2
    return OrVarianceComponents(var_r, var_tr, oc.var, oc.cov1, oc.cov2, oc.cov3)
