"""Post-hoc EMA: power-function averages during training, any EMA length chosen afterwards.

Karras, Aittala, Lehtinen, Hellsten, Aila and Laine (2024), "Analyzing and Improving the
Training Dynamics of Diffusion Models" (EDM2), Section 3 and Appendix C.1-C.2.

The **power-function averaging profile** of exponent gamma, at training step t, weighs the
weights theta(tau) of step tau by (EDM2 Eq. 2)::

    p_t(tau) = (gamma + 1) * tau**gamma / t**(gamma + 1)     for 0 < tau <= t, else 0.

Its width relative to the training length, the **relative standard deviation** sigma_rel, is
the standard deviation of p_t divided by t (EDM2 Eq. 3)::

    sigma_rel = (gamma + 1)**0.5 * (gamma + 2)**-1 * (gamma + 3)**-0.5.

Squaring and clearing denominators gives a cubic in gamma (EDM2 Appendix C.1),
``gamma**3 + 7 gamma**2 + (16 - s) gamma + (12 - s) = 0`` with ``s = sigma_rel**-2``, whose
largest real root is the gamma of a given sigma_rel (sigma_rel < sqrt(1/12) ~ 0.289, the width
of gamma = 0, the uniform average).

The average is kept with one update per step (EDM2 Eq. 4)::

    theta_hat(t) = beta(t) * theta_hat(t - 1) + (1 - beta(t)) * theta(t),
    beta(t) = (1 - 1/t)**(gamma + 1),

whose weights telescope to exactly ``(tau**(gamma+1) - (tau-1)**(gamma+1)) / t**(gamma+1)``: the
integral of p_t over (tau - 1, tau]. The discrete average is therefore exactly the continuous
profile applied to the piecewise-constant weight trajectory, and inner products of the
continuous profiles are exact for it.

**Reconstruction** (EDM2 Appendix C.2): given snapshots theta_hat_i of profiles (t_i, gamma_i),
the average of a target profile (t_r, gamma_r) is approximated by sum_i x_i theta_hat_i, where
x minimises the L2 distance between sum_i x_i p_i and p_r: the normal equations ``A x = b``
with ``A_ij = <p_i, p_j>`` and ``b_i = <p_i, p_r>``. The inner product of two truncated power
functions has the closed form (m = min(t_i, t_j))::

    <p_i, p_j> = (gamma_i + 1)(gamma_j + 1) / (gamma_i + gamma_j + 1)
                 * (m / t_i)**(gamma_i + 1) * (m / t_j)**(gamma_j + 1) / m.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

#: The widest power-function profile: gamma = 0, the uniform average over the run (1/sqrt(12)).
SIGMA_REL_MAX = math.sqrt(1.0 / 12.0)


def sigma_rel_of_gamma(gamma: float) -> float:
    """The relative standard deviation of the power-function profile of exponent ``gamma``
    (EDM2 Eq. 3)."""
    return math.sqrt(gamma + 1) / ((gamma + 2) * math.sqrt(gamma + 3))


def gamma_of_sigma_rel(sigma_rel: float) -> float:
    """The exponent gamma >= 0 whose profile has relative standard deviation ``sigma_rel``:
    the largest real root of ``g**3 + 7 g**2 + (16 - s) g + (12 - s)``, ``s = sigma_rel**-2``
    (EDM2 Eq. 3 squared; Appendix C.1).

    Raises:
        ValueError: ``sigma_rel`` outside (0, :data:`SIGMA_REL_MAX`].
    """
    if not 0.0 < sigma_rel <= SIGMA_REL_MAX:
        raise ValueError(f"sigma_rel must be in (0, {SIGMA_REL_MAX:.4f}], got {sigma_rel}")
    s = sigma_rel**-2
    roots = np.roots([1.0, 7.0, 16.0 - s, 12.0 - s])
    return max(0.0, float(roots[np.abs(roots.imag) < 1e-9].real.max()))


def beta_at(step: int, gamma: float) -> float:
    """The per-step decay (1 - 1/t)**(gamma + 1) at training step t >= 1 (EDM2 Eq. 4)."""
    return (1.0 - 1.0 / step) ** (gamma + 1.0)


def profile_inner_product(t_i: float, gamma_i: float, t_j: float, gamma_j: float) -> float:
    """<p_i, p_j>: the integral over tau of two truncated power-function profiles (module doc;
    written with ratios m/t <= 1 so that large exponents do not overflow)."""
    m = min(t_i, t_j)
    scale = (gamma_i + 1) * (gamma_j + 1) / (gamma_i + gamma_j + 1)
    return scale * (m / t_i) ** (gamma_i + 1) * (m / t_j) ** (gamma_j + 1) / m


@dataclass(frozen=True)
class Profile:
    """One power-function averaging profile: the average of the steps 1..step with exponent
    gamma."""

    step: int  # training step t the average ends at (optimizer steps done)
    gamma: float  # exponent of the profile

    @property
    def sigma_rel(self) -> float:
        return sigma_rel_of_gamma(self.gamma)


@dataclass(frozen=True)
class Fit:
    """The least-squares combination of source profiles that best matches a target profile."""

    coefficients: tuple[float, ...]  # x_i, one per source profile, in the sources' order
    relative_error: float  # ||sum x_i p_i - p_r|| / ||p_r||, L2 over tau (0: exact)


def solve_coefficients(sources: Sequence[Profile], target: Profile) -> Fit:
    """The x minimising ||sum_i x_i p_i - p_r||_2 (EDM2 Appendix C.2), in float64.

    Solved with a least-squares solver rather than a plain inverse: ``A`` is a Gram matrix of
    overlapping profiles and may be near-singular; the minimum-norm solution is returned then.

    Raises:
        ValueError: no source profile.
    """
    if not sources:
        raise ValueError("no source profiles to reconstruct from")
    a = np.array(
        [
            [profile_inner_product(p.step, p.gamma, q.step, q.gamma) for q in sources]
            for p in sources
        ]
    )
    b = np.array(
        [profile_inner_product(p.step, p.gamma, target.step, target.gamma) for p in sources]
    )
    x = np.linalg.lstsq(a, b, rcond=None)[0]
    rr = profile_inner_product(target.step, target.gamma, target.step, target.gamma)
    residual = max(rr - 2.0 * float(x @ b) + float(x @ a @ x), 0.0)
    return Fit(tuple(float(v) for v in x), math.sqrt(residual / rr))


class PostHocEMA:
    """The power-function averages of a model's parameters, one per tracked sigma_rel.

    Args:
        model: the online network; its parameters are averaged (buffers are not).
        sigma_rels: the tracked relative standard deviations (EDM2 uses 0.05 and 0.10).

    The averages live on the model's device in float32 and hold 4 bytes per parameter each.
    """

    def __init__(self, model: torch.nn.Module, sigma_rels: Sequence[float]) -> None:
        self.sigma_rels = tuple(float(s) for s in sigma_rels)
        self.gammas = tuple(gamma_of_sigma_rel(s) for s in self.sigma_rels)
        named = [(n, p) for n, p in model.named_parameters()]
        self.names = [n for n, _ in named]
        self.averages = [
            [p.detach().to(torch.float32, copy=True) for _, p in named] for _ in self.sigma_rels
        ]

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        """Fold the weights after optimizer step ``step`` (>= 1) into every average (Eq. 4)."""
        params = [p.detach().to(torch.float32) for p in model.parameters()]
        for gamma, average in zip(self.gammas, self.averages, strict=True):
            torch._foreach_lerp_(average, params, 1.0 - beta_at(step, gamma))

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The averages by ``"{profile index}.{parameter name}"``: the live tensors, not copies
        (torch.save and safetensors copy them when writing)."""
        return {
            f"{i}.{name}": t
            for i, average in enumerate(self.averages)
            for name, t in zip(self.names, average, strict=True)
        }

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Copy saved averages (as :meth:`state_dict` names them) into the live ones.

        Raises:
            KeyError, RuntimeError: a missing entry or a shape that does not fit.
        """
        for key, live in self.state_dict().items():
            live.copy_(state[key])

    def profiles(self, step: int) -> list[Profile]:
        """The profile of each average after ``step`` optimizer steps, in tracking order."""
        return [Profile(step, g) for g in self.gammas]
