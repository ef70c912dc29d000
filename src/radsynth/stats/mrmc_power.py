"""Planning an MRMC study from a pilot's variance components.

- A difference between modalities: power of the random-readers, random-cases OR F test with
  ddf_H, from a noncentral F (Hillis, Obuchowski & Berbaum 2011, "Power estimation for
  multireader ROC methods: an updated and unified approach", Acad Radiol 18:129-142).
- Equivalence of one modality's AUC to 0.5 within +-margin: power of the two one-sided tests
  (the 1 - 2 alpha CI inside 0.5 +- margin), with the single-modality OR variance and
  ddf_H_single (Chen, Petrick & Sahiner 2012, "Hypothesis testing in noninferiority and
  equivalence MRMC ROC studies", Acad Radiol 19:1158-1165), central-t approximation.

The error variance and covariances are split into their truth-1 and truth-0 parts by DeLong's
decomposition (:func:`radsynth.stats.mrmc.delong_cov_parts`) and each part is scaled by its
own count: ``Var* = Var_1 n1 / n1* + Var_0 n0 / n0*`` (likewise Cov1-Cov3), so that real and
synthetic images are planned separately. ``n0`` counts truth-0 cases per modality.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

import numpy as np
from scipy import stats as st

from radsynth.stats.mrmc import CaseStats, MrmcData, OrCovariances, delong_cov_parts
from radsynth.stats.mrmc import or_covariances as _or_covariances
from radsynth.stats.mrmc_or import auc_anova, or_variance_components


@dataclass(frozen=True)
class PilotComponents:
    """What planning needs from a pilot study."""

    n_modalities: int
    n_pos: int  # truth-1 cases per modality in the pilot
    n_neg: int  # truth-0 cases per modality in the pilot
    var_r: float  # OR reader variance (with one modality: reader + modality x reader)
    var_tr: float  # OR modality x reader variance (0 with one modality)
    part1: OrCovariances  # truth-1 part of Var, Cov1, Cov2, Cov3
    part0: OrCovariances  # truth-0 part


def pilot_components(data: MrmcData, cs: CaseStats) -> PilotComponents:
    """Variance components of a pilot, with DeLong's truth-split error covariances."""
    n_mod, n_rdr = cs.auc.shape
    p1, p0 = delong_cov_parts(data, cs)
    oc1, oc0 = _or_covariances(p1, n_mod, n_rdr), _or_covariances(p0, n_mod, n_rdr)
    total = _or_covariances(p1 + p0, n_mod, n_rdr)
    vc = or_variance_components(auc_anova(cs.auc), total, n_mod)
    return PilotComponents(
        n_modalities=n_mod,
        n_pos=int((data.shown[0] & data.truth).sum()),
        n_neg=int((data.shown[0] & ~data.truth).sum()),
        var_r=vc.var_r,
        var_tr=0.0 if n_mod == 1 else vc.var_tr,
        part1=oc1,
        part0=oc0,
    )


def _zero(x: float) -> float:
    return 0.0 if math.isnan(x) else x


def scaled(p: PilotComponents, n_pos: int, n_neg: int) -> OrCovariances:
    """Var, Cov1, Cov2, Cov3 for ``n_pos`` truth-1 and ``n_neg`` truth-0 cases."""
    a, b = p.n_pos / n_pos, p.n_neg / n_neg

    def mix(x1: float, x0: float) -> float:
        return _zero(x1) * a + _zero(x0) * b

    return OrCovariances(
        var=mix(p.part1.var, p.part0.var),
        cov1=mix(p.part1.cov1, p.part0.cov1),
        cov2=mix(p.part1.cov2, p.part0.cov2),
        cov3=mix(p.part1.cov3, p.part0.cov3),
        var_by_modality=(),
        cov2_by_modality=(),
    )


def power_difference(
    p: PilotComponents, n_readers: int, n_pos: int, n_neg: int, effect: float, alpha: float
) -> float:
    """Power of the RRRC F test to detect an AUC difference ``effect`` between 2 modalities.

    ``D = Var(TR) + Var* - Cov1* + (R - 1) max(Cov2* - Cov3*, 0)``, noncentrality
    ``lambda = R effect^2 / (2 D)``, ``ddf = D^2 / {[Var(TR) + Var* - Cov1* - Cov2* +
    Cov3*]^2 / (R - 1)}`` (Hillis, Obuchowski & Berbaum 2011, eqs. for OR with ddf_H); a
    negative Var(TR) is taken as 0.
    """
    oc = scaled(p, n_pos, n_neg)
    var_tr = max(p.var_tr, 0.0)
    den = var_tr + oc.var - oc.cov1 + (n_readers - 1) * max(oc.cov2 - oc.cov3, 0.0)
    ms_tr = var_tr + oc.var - oc.cov1 - oc.cov2 + oc.cov3
    ddf = den**2 / (ms_tr**2 / (n_readers - 1)) if ms_tr > 0 else 1e9
    if not den > 0:  # a degenerate pilot (no variance): no power to speak of
        return float("nan")
    lam = n_readers * effect**2 / (2 * den)
    crit = st.f.ppf(1 - alpha, 1, ddf)
    return float(st.ncf.sf(crit, 1, ddf, lam))


def power_equivalence(
    p: PilotComponents,
    n_readers: int,
    n_pos: int,
    n_neg: int,
    margin: float,
    alpha: float,
    true_auc: float = 0.5,
) -> float:
    """Power of showing ``|AUC - 0.5| < margin`` by two one-sided t tests at ``alpha``.

    ``Var(mean AUC) = (Var(R') + Var* - Cov2*) / R + Cov2*`` with ``Var(R')`` the reader
    variance within a modality; df = ddf_H_single; power ~ ``T((margin - d)/SE - t) +
    T((margin + d)/SE - t) - 1`` with d = true_auc - 0.5 (Chen, Petrick & Sahiner 2012).
    """
    oc = scaled(p, n_pos, n_neg)
    var_r = max(p.var_r + p.var_tr, 0.0)
    ms_r = var_r + oc.var - oc.cov2
    err = ms_r + n_readers * max(oc.cov2, 0.0)
    if not err > 0:  # a degenerate pilot (no variance): no power to speak of
        return float("nan")
    se = math.sqrt(err / n_readers)
    df = err**2 / (ms_r**2 / (n_readers - 1)) if ms_r > 0 else 1e9
    t = st.t.ppf(1 - alpha, df)
    d = true_auc - 0.5
    power = st.t.cdf((margin - d) / se - t, df) + st.t.cdf((margin + d) / se - t, df) - 1
    return float(max(power, 0.0))


@dataclass(frozen=True)
class PlanRow:
    """Smallest case counts reaching the target power with ``n_readers`` readers."""

    goal: str  # "difference" or "equivalence"
    n_readers: int
    n_pos: int | None  # truth-1 (real) cases; None when out of reach
    n_neg: int | None  # truth-0 (synthetic) cases per modality
    power: float | None  # power at these counts


def smallest_cases(
    power_at: Callable[[int, int], float], ratio: float, target: float, max_pos: int = 100_000
) -> tuple[int, int, float] | None:
    """Smallest (n_pos, n_neg = ceil(ratio n_pos), power) whose power reaches ``target``, by
    bisection (power rises with cases); None when even ``max_pos`` falls short."""

    def neg(n: int) -> int:
        return max(2, math.ceil(ratio * n))

    if not power_at(max_pos, neg(max_pos)) >= target:  # also NaN: a degenerate pilot
        return None
    lo, hi = 1, max_pos  # power_at(hi) >= target; lo is below every count tried
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if mid >= 2 and power_at(mid, neg(mid)) >= target else (mid, hi)
    return hi, neg(hi), power_at(hi, neg(hi))


def plan(
    p: PilotComponents,
    goal: str,
    readers: tuple[int, ...],
    target: float,
    alpha: float,
    effect: float,
    margin: float,
    true_auc: float = 0.5,
) -> tuple[PlanRow, ...]:
    """Planning table: for each reader count, the cases for ``target`` power."""
    ratio = p.n_neg / p.n_pos
    rows = []
    for n_rdr in readers:
        power_at = (
            partial(power_difference, p, n_rdr, effect=effect, alpha=alpha)
            if goal == "difference"
            else partial(power_equivalence, p, n_rdr, margin=margin, alpha=alpha, true_auc=true_auc)
        )
        found = smallest_cases(power_at, ratio, target)
        rows.append(PlanRow(goal, n_rdr, *(found or (None, None, None))))
    return tuple(rows)


def _nan_mean(values: list[float]) -> float:
    """Mean of the defined values; NaN when none is (e.g. Cov1 with one modality)."""
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else float("nan")


def average_components(items: list[PilotComponents]) -> PilotComponents:
    """Mean of several pilots' components (same design), e.g. simulated pilots."""

    def mean_oc(ocs: list[OrCovariances]) -> OrCovariances:
        keys = ("var", "cov1", "cov2", "cov3")
        vals = {k: _nan_mean([getattr(o, k) for o in ocs]) for k in keys}
        return replace(ocs[0], **vals)

    return replace(
        items[0],
        var_r=float(np.mean([i.var_r for i in items])),
        var_tr=float(np.mean([i.var_tr for i in items])),
        part1=mean_oc([i.part1 for i in items]),
        part0=mean_oc([i.part0 for i in items]),
    )
