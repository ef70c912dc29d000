"""Dorfman-Berbaum-Metz (1992) analysis of jackknife pseudovalues, as a cross-check of the
Obuchowski-Rockette analysis: with normalised jackknife pseudovalues and Hillis's ddf_H the
random-readers, random-cases F equals OR's (Hillis et al. 2005; Hillis 2007).

DBM needs a crossed modality x reader x case table of pseudovalues, so it is refused for a
design in which some case was not shown under every modality.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as st

from radsynth.errors import RadsynthError
from radsynth.stats.mrmc import CaseStats, MrmcData, pseudovalues, ratio


@dataclass(frozen=True)
class DbmResult:
    """Three-way ANOVA of pseudovalues, the RRRC test and DBM variance components."""

    ms_t: float  # modality mean square, df M - 1
    ms_r: float  # reader, df R - 1
    ms_c: float  # case, df C - 1
    ms_tr: float  # modality x reader
    ms_tc: float  # modality x case
    ms_rc: float  # reader x case
    ms_trc: float  # modality x reader x case (residual)
    f: float  # MS(T) / [MS(TR) + max(MS(TC) - MS(TRC), 0)]
    ddf: float  # Hillis (2007) ddf_H
    p_value: float
    var_r: float  # DBM variance components (ANOVA estimates; can be negative)
    var_c: float
    var_tr: float
    var_tc: float
    var_rc: float
    var_trc_error: float  # Var(T*R*C) + Var(error)


def _mean_squares(y: np.ndarray) -> dict[str, float]:
    """Mean squares of a (M, R, C) table without replication."""
    n_mod, n_rdr, n_case = y.shape
    g = y.mean()
    m_, r_, c_ = y.mean(axis=(1, 2)), y.mean(axis=(0, 2)), y.mean(axis=(0, 1))
    mr, mc, rc = y.mean(axis=2), y.mean(axis=1), y.mean(axis=0)
    e_mr = mr - m_[:, None] - r_[None, :] + g
    e_mc = mc - m_[:, None] - c_[None, :] + g
    e_rc = rc - r_[:, None] - c_[None, :] + g
    resid = (
        y
        - mr[:, :, None]
        - mc[:, None, :]
        - rc[None, :, :]
        + m_[:, None, None]
        + r_[None, :, None]
        + c_[None, None, :]
        - g
    )
    dm, dr, dc = n_mod - 1, n_rdr - 1, n_case - 1
    return {
        "t": n_rdr * n_case * ((m_ - g) ** 2).sum() / dm,
        "r": n_mod * n_case * ((r_ - g) ** 2).sum() / dr,
        "c": n_mod * n_rdr * ((c_ - g) ** 2).sum() / dc,
        "tr": n_case * (e_mr**2).sum() / (dm * dr),
        "tc": n_rdr * (e_mc**2).sum() / (dm * dc),
        "rc": n_mod * (e_rc**2).sum() / (dr * dc),
        "trc": (resid**2).sum() / (dm * dr * dc),
    }


def dbm(data: MrmcData, cs: CaseStats) -> DbmResult:
    """DBM analysis of normalised pseudovalues.

    Raises:
        RadsynthError: fewer than 2 modalities, or a design that is not fully crossed.
    """
    n_mod, n_rdr, n_case = data.scores.shape
    if not data.fully_crossed:
        raise RadsynthError(
            "DBM needs every case under every modality (a crossed pseudovalue table); "
            "this design is not crossed, use the OR analysis"
        )
    if n_mod < 2:
        raise RadsynthError("DBM compares modalities; one modality given")
    ms = _mean_squares(pseudovalues(data, cs))
    den = ms["tr"] + max(ms["tc"] - ms["trc"], 0.0)
    ddf = ratio(den**2, ms["tr"] ** 2 / ((n_mod - 1) * (n_rdr - 1)))
    f = ratio(ms["t"], den)
    return DbmResult(
        ms_t=ms["t"],
        ms_r=ms["r"],
        ms_c=ms["c"],
        ms_tr=ms["tr"],
        ms_tc=ms["tc"],
        ms_rc=ms["rc"],
        ms_trc=ms["trc"],
        f=f,
        ddf=ddf,
        p_value=float(st.f.sf(f, n_mod - 1, ddf)),
        var_r=(ms["r"] - ms["tr"] - ms["rc"] + ms["trc"]) / (n_mod * n_case),
        var_c=(ms["c"] - ms["tc"] - ms["rc"] + ms["trc"]) / (n_mod * n_rdr),
        var_tr=(ms["tr"] - ms["trc"]) / n_case,
        var_tc=(ms["tc"] - ms["trc"]) / n_rdr,
        var_rc=(ms["rc"] - ms["trc"]) / n_mod,
        var_trc_error=ms["trc"],
    )
