"""Roe & Metz (1997) simulation of MRMC rating studies, used to check the OR analysis and the
planning of :mod:`radsynth.stats.mrmc_power`.

A reader r's decision variable for case k under modality t is

``X_trk = mu_t [k is truth 1] + R_r + TR_tr + C_k + TC_tk + RC_rk + E_trk``

with every random effect normal, mean 0, and the reader effects ``R_r`` and ``TR_tr`` drawn
separately for truth-0 and truth-1 cases (so readers differ in accuracy, not only in their
rating scale). With the case-related variances summing to ``s2`` and the reader ones to
``v``, the expected AUC of modality t over readers and cases is
``Phi(mu_t / sqrt(2 s2 + 2 v))`` (:func:`true_auc`).

Nested-cases variant: the truth-1 cases are shared by every modality and each modality has its
own truth-0 cases, as in a reader study of synthetic images (real images shared; each
generator's images its own).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as st

from radsynth.stats.mrmc import MrmcData


@dataclass(frozen=True)
class RoeMetzConfig:
    """Variance components of the Roe & Metz model (here the case-related ones sum to 1)."""

    var_c: float = 0.3  # case
    var_tc: float = 0.3  # modality x case
    var_rc: float = 0.2  # reader x case
    var_e: float = 0.2  # modality x reader x case + within-reader error
    var_r: float = 0.011  # reader (per truth state)
    var_tr: float = 0.011  # modality x reader (per truth state)

    @property
    def case_variance(self) -> float:
        """Variance of one case's decision variable from case-related effects."""
        return self.var_c + self.var_tc + self.var_rc + self.var_e


#: Named configuration used by the tests: case structure (0.3, 0.3, 0.2, 0.2), reader and
#: modality x reader variances 0.011, used with separation mu = 1.5, which gives a reader
#: without reader variance an AUC of Phi(1.5 / sqrt 2) = 0.856. These values are chosen here in
#: the spirit of Roe & Metz's configurations, not copied from their table.
RM_MEDIUM = RoeMetzConfig()


def true_auc(cfg: RoeMetzConfig, mu: float) -> float:
    """Expected trapezoidal AUC over readers and cases: ``Phi(mu / sqrt(2 s2 + 2 v))``."""
    v = cfg.var_r + cfg.var_tr
    return float(st.norm.cdf(mu / np.sqrt(2 * cfg.case_variance + 2 * v)))


def simulate(
    cfg: RoeMetzConfig,
    mu: tuple[float, ...],
    n_readers: int,
    n_pos: int,
    n_neg: int,
    seed: int,
    *,
    nested: bool = False,
) -> MrmcData:
    """One simulated study; the same arguments and seed give the same study.

    Args:
        mu: separation of each modality (its length is the number of modalities M).
        n_pos: truth-1 cases (shared by every modality).
        n_neg: truth-0 cases; shared when crossed, per modality when ``nested``.
    """
    rng = np.random.default_rng(seed)
    n_mod = len(mu)
    groups = n_mod if nested else 1
    n_case = n_pos + groups * n_neg
    truth = np.zeros(n_case, dtype=bool)
    truth[:n_pos] = True
    sd = {k: np.sqrt(v) for k, v in vars(cfg).items()}
    # Reader effects, one draw per truth state: (2, R) and (2, M, R).
    r_eff = rng.normal(0, sd["var_r"], (2, n_readers))
    tr_eff = rng.normal(0, sd["var_tr"], (2, n_mod, n_readers))
    c_eff = rng.normal(0, sd["var_c"], n_case)
    tc_eff = rng.normal(0, sd["var_tc"], (n_mod, n_case))
    rc_eff = rng.normal(0, sd["var_rc"], (n_readers, n_case))
    err = rng.normal(0, sd["var_e"], (n_mod, n_readers, n_case))
    state = truth.astype(int)  # (C,) index of each case's truth state
    scores = (
        np.asarray(mu)[:, None, None] * truth[None, None, :]
        + r_eff[state].T[None, :, :]
        + np.transpose(tr_eff[state], (1, 2, 0))
        + c_eff[None, None, :]
        + tc_eff[:, None, :]
        + rc_eff[None, :, :]
        + err
    )
    shown = np.ones((n_mod, n_case), dtype=bool)
    if nested:
        shown[:, n_pos:] = False
        for m in range(n_mod):
            shown[m, n_pos + m * n_neg : n_pos + (m + 1) * n_neg] = True
    return MrmcData(
        scores=scores,
        truth=truth,
        shown=shown,
        modalities=tuple(f"m{m}" for m in range(n_mod)),
        readers=tuple(f"r{r}" for r in range(n_readers)),
        cases=tuple(f"c{k}" for k in range(n_case)),
    )
