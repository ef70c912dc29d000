"""The whole MRMC analysis of one data set: AUCs, OR in its three generalisations, variance
components, DBM cross-check, equivalence of each modality's AUC to 0.5, and a planning table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats as st

from radsynth.errors import RadsynthError
from radsynth.stats._records import record_dict
from radsynth.stats.mrmc import (
    MrmcData,
    case_stats,
    delong_cov,
    jackknife_cov,
    or_covariances,
)
from radsynth.stats.mrmc_dbm import dbm
from radsynth.stats.mrmc_design import design_name
from radsynth.stats.mrmc_or import (
    auc_anova,
    frrc,
    or_variance_components,
    rrfc,
    rrrc,
    single_modality_rrrc,
)
from radsynth.stats.mrmc_power import pilot_components, plan

Covariance = Literal["jackknife", "delong"]

JACKKNIFE_CONVENTION = (
    "each of the C cases of the union of all modalities' cases left out in turn; an AUC that "
    "did not use the case keeps its full value; cov = (C - 1)/C * sum over all C leave-outs "
    "(MRMCaov's convention; the usual OR jackknife when crossed)"
)


@dataclass(frozen=True)
class Equivalence:
    """Is a modality's reader-averaged AUC within 0.5 +- margin (readers cannot tell)?"""

    modality: str
    auc: float
    ci_level: float  # 1 - 2 alpha
    ci_low: float  # RRRC single-modality interval at ci_level
    ci_high: float
    margin: float  # stated equivalence margin on the AUC
    equivalent: bool  # the whole interval lies inside (0.5 - margin, 0.5 + margin)


@dataclass(frozen=True)
class MrmcOptions:
    """Analysis options (the stage's config carries them)."""

    covariance: Covariance = "jackknife"  # error covariance estimator
    conf_level: float = 0.95  # confidence level of the OR intervals
    margin: float = 0.1  # equivalence margin on the AUC around 0.5
    alpha: float = 0.05  # one-sided level of each TOST test (CI level 1 - 2 alpha)
    compare: bool = True  # compare modalities (refuse one modality)
    planning_power: float = 0.8  # target power of the planning table
    planning_difference: float = 0.05  # AUC difference to detect between modalities
    planning_readers: tuple[int, ...] = (3, 5, 8, 10, 15, 20)  # reader counts to plan for


def reader_aucs(
    data: MrmcData, auc: np.ndarray, cov: np.ndarray, conf: float
) -> list[dict[str, Any]]:
    """Each reader x modality AUC with its z interval from its own (jackknife or DeLong)
    variance: cases random, this reader fixed; cut to [0, 1] (as MRMCaov prints it)."""
    z = st.norm.ppf(0.5 + conf / 2)
    se = np.sqrt(np.clip(np.diag(cov), 0, None)).reshape(auc.shape)
    return [
        {
            "modality": m,
            "reader": r,
            "auc": float(auc[i, j]),
            "std_err": float(se[i, j]),
            "ci_low": max(0.0, float(auc[i, j] - z * se[i, j])),
            "ci_high": min(1.0, float(auc[i, j] + z * se[i, j])),
        }
        for i, m in enumerate(data.modalities)
        for j, r in enumerate(data.readers)
    ]


def equivalence(
    data: MrmcData,
    auc: np.ndarray,
    ms_r_by_modality: tuple[float, ...],
    cov2_by_modality: tuple[float, ...],
    opts: MrmcOptions,
) -> tuple[Equivalence, ...]:
    """TOST of each modality's mean AUC against 0.5 +- margin (the 1 - 2 alpha RRRC CI)."""
    n_rdr = auc.shape[1]
    level = 1 - 2 * opts.alpha
    out = []
    for m, name in enumerate(data.modalities):
        mean = float(auc[m].mean())
        se, df = single_modality_rrrc(mean, ms_r_by_modality[m], cov2_by_modality[m], n_rdr, level)
        q = st.t.ppf(1 - opts.alpha, df)
        lo, hi = mean - q * se, mean + q * se
        inside = 0.5 - opts.margin < lo and hi < 0.5 + opts.margin
        out.append(Equivalence(name, mean, level, lo, hi, opts.margin, bool(inside)))
    return tuple(out)


def analyse(data: MrmcData, opts: MrmcOptions = MrmcOptions()) -> dict[str, Any]:
    """Run the analysis; returns a JSON-ready dict (the ``analysis`` part of mrmc.json)."""
    n_mod, n_rdr = len(data.modalities), len(data.readers)
    if opts.compare and n_mod < 2:
        raise RadsynthError("one modality only; a comparison needs 2 or more")
    cs = case_stats(data)
    cov = jackknife_cov(data, cs) if opts.covariance == "jackknife" else delong_cov(data, cs)
    oc = or_covariances(cov, n_mod, n_rdr)
    an = auc_anova(cs.auc)
    conf = opts.conf_level
    out: dict[str, Any] = {
        "design": design_name(data),
        "covariance": opts.covariance,
        "conf_level": conf,
        "jackknife_convention": JACKKNIFE_CONVENTION,
        "modalities": list(data.modalities),
        "readers": list(data.readers),
        "cases": {
            m: {"truth_1": int((s & data.truth).sum()), "truth_0": int((s & ~data.truth).sum())}
            for m, s in zip(data.modalities, data.shown, strict=True)
        },
        "auc": reader_aucs(data, cs.auc, cov, conf),
        "or_covariances": record_dict(oc),
        "auc_anova": record_dict(an),
        "variance_components": record_dict(or_variance_components(an, oc, n_mod)),
        "rrrc": record_dict(rrrc(cs.auc, an, oc, data.modalities, conf)),
        "frrc": record_dict(frrc(cs.auc, an, oc, cov, data.modalities, data.readers, conf)),
        "rrfc": record_dict(rrfc(cs.auc, an, data.modalities, conf)),
    }
    out["dbm"], out["dbm_note"] = None, ""
    if n_mod < 2:
        out["dbm_note"] = "DBM not run: one modality"
    elif not data.fully_crossed:
        out["dbm_note"] = (
            "DBM refused: the design is not crossed (some case not under every modality)"
        )
    else:
        out["dbm"] = record_dict(dbm(data, cs))
    out["equivalence"] = [
        record_dict(e)
        for e in equivalence(data, cs.auc, an.ms_r_by_modality, oc.cov2_by_modality, opts)
    ]
    out["planning"] = _planning(data, cs, opts)
    return out


def _planning(data, cs, opts: MrmcOptions) -> dict[str, Any]:
    pilot = pilot_components(data, cs)
    rows = []
    if len(data.modalities) >= 2:
        rows += plan(
            pilot,
            "difference",
            opts.planning_readers,
            opts.planning_power,
            0.05,
            opts.planning_difference,
            opts.margin,
        )
    rows += plan(
        pilot,
        "equivalence",
        opts.planning_readers,
        opts.planning_power,
        opts.alpha,
        opts.planning_difference,
        opts.margin,
    )
    return {
        "target_power": opts.planning_power,
        "difference": opts.planning_difference,
        "difference_alpha": 0.05,
        "margin": opts.margin,
        "equivalence_alpha": opts.alpha,
        "equivalence_true_auc": 0.5,
        "pilot": record_dict(pilot),
        "rows": [record_dict(r) for r in rows],
    }
