"""Noise schedules and the forward process of a DDPM.

Notation follows Ho et al. 2020 ("Denoising Diffusion Probabilistic Models", arXiv:2006.11239):
``betas[t]`` is the variance added at step t, ``alphas_cumprod[t] = prod_{s<=t} (1 - betas[s])``
(written alpha-bar), and ``x_t = sqrt(alpha-bar_t) x_0 + sqrt(1 - alpha-bar_t) eps`` (eq. 4).
Timesteps are integers ``0 <= t < T``. Schedules are computed in float64.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal

import torch

ScheduleName = Literal["linear", "cosine", "sigmoid"]
PredictionType = Literal["epsilon", "v_prediction"]

#: Largest beta; cosine and sigmoid schedules would reach 1.0 at t = T without it
#: (Nichol & Dhariwal 2021, sec. 3.2).
MAX_BETA = 0.999


def linear_betas(num_timesteps: int) -> torch.Tensor:
    """Ho et al. 2020: betas from 1e-4 to 0.02, linear in t, for T = 1000.

    For other T both ends are scaled by 1000 / T, as in Nichol & Dhariwal 2021 (improved DDPM),
    so the total noise stays about the same.
    """
    scale = 1000.0 / num_timesteps
    return torch.linspace(scale * 1e-4, scale * 0.02, num_timesteps, dtype=torch.float64)


def _betas_from_alpha_bar(alpha_bar: torch.Tensor) -> torch.Tensor:
    """betas[t] = 1 - alpha_bar(t+1) / alpha_bar(t) for a curve sampled at T+1 points, clipped."""
    alpha_bar = alpha_bar / alpha_bar[0]
    betas = 1.0 - alpha_bar[1:] / alpha_bar[:-1]
    return betas.clamp(0.0, MAX_BETA)


def cosine_betas(num_timesteps: int, s: float = 0.008) -> torch.Tensor:
    """Nichol & Dhariwal 2021 (arXiv:2102.09672) eq. 17: alpha_bar(t) = f(t) / f(0),
    f(t) = cos^2(((t / T) + s) / (1 + s) * pi / 2)."""
    t = torch.linspace(0, 1, num_timesteps + 1, dtype=torch.float64)
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    return _betas_from_alpha_bar(f)


def sigmoid_betas(
    num_timesteps: int, start: float = -3.0, end: float = 3.0, tau: float = 1.0
) -> torch.Tensor:
    """Sigmoid schedule of Jabri et al. 2022 (RIN, arXiv:2212.11972) and Chen 2023
    (arXiv:2301.10972, algorithm 1): alpha_bar(t) = (sigmoid(end/tau) - sigmoid((t(end-start)
    + start)/tau)) / (sigmoid(end/tau) - sigmoid(start/tau)), t in [0, 1]."""
    t = torch.linspace(0, 1, num_timesteps + 1, dtype=torch.float64)
    v_start = torch.sigmoid(torch.tensor(start / tau, dtype=torch.float64))
    v_end = torch.sigmoid(torch.tensor(end / tau, dtype=torch.float64))
    alpha_bar = (v_end - torch.sigmoid((t * (end - start) + start) / tau)) / (v_end - v_start)
    return _betas_from_alpha_bar(alpha_bar)


#: Schedule name -> function of T.
SCHEDULES = {"linear": linear_betas, "cosine": cosine_betas, "sigmoid": sigmoid_betas}


def make_betas(schedule: str, num_timesteps: int) -> torch.Tensor:
    """Betas of a named schedule, shape (T,), float64."""
    if schedule not in SCHEDULES:
        raise ValueError(
            f"unknown beta schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}"
        )
    return SCHEDULES[schedule](num_timesteps)


def alphas_cumprod(betas: torch.Tensor) -> torch.Tensor:
    """alpha-bar_t = prod_{s<=t} (1 - beta_s), shape (T,), in the dtype of ``betas``."""
    return torch.cumprod(1.0 - betas, dim=0)


def _at(values: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """values[t] as a (B, 1, 1, 1) tensor in the dtype and device of ``like``."""
    out = values.to(device=t.device)[t].to(like.dtype)
    return out.reshape(-1, *([1] * (like.ndim - 1)))


def q_sample(
    x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, alpha_bar: torch.Tensor
) -> torch.Tensor:
    """Draw x_t ~ q(x_t | x_0) (Ho et al. 2020 eq. 4).

    Args:
        x0: clean images (B, C, H, W) in [-1, 1].
        t: integer timesteps (B,).
        noise: standard normal noise, same shape as ``x0``.
        alpha_bar: ``alphas_cumprod(betas)``, shape (T,).
    """
    a = _at(alpha_bar, t, x0)
    return a.sqrt() * x0 + (1.0 - a).sqrt() * noise


def v_target(
    x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, alpha_bar: torch.Tensor
) -> torch.Tensor:
    """The velocity v = sqrt(alpha-bar) eps - sqrt(1 - alpha-bar) x_0 (Salimans & Ho 2022,
    "Progressive Distillation", arXiv:2202.00512)."""
    a = _at(alpha_bar, t, x0)
    return a.sqrt() * noise - (1.0 - a).sqrt() * x0


def training_target(
    prediction_type: str,
    x0: torch.Tensor,
    t: torch.Tensor,
    noise: torch.Tensor,
    alpha_bar: torch.Tensor,
) -> torch.Tensor:
    """What the network learns to output: eps (Ho et al. 2020) or v (Salimans & Ho 2022)."""
    if prediction_type == "epsilon":
        return noise
    if prediction_type == "v_prediction":
        return v_target(x0, t, noise, alpha_bar)
    raise ValueError(f"unknown prediction type {prediction_type!r}")


def predict_x0(
    prediction_type: str,
    model_output: torch.Tensor,
    x_t: torch.Tensor,
    t: torch.Tensor,
    alpha_bar: torch.Tensor,
) -> torch.Tensor:
    """x_0 implied by a network output: x_0 = (x_t - sqrt(1-a) eps) / sqrt(a) for eps, and
    x_0 = sqrt(a) x_t - sqrt(1-a) v for v (Salimans & Ho 2022, rearranged)."""
    a = _at(alpha_bar, t, x_t)
    if prediction_type == "epsilon":
        return (x_t - (1.0 - a).sqrt() * model_output) / a.sqrt()
    if prediction_type == "v_prediction":
        return a.sqrt() * x_t - (1.0 - a).sqrt() * model_output
    raise ValueError(f"unknown prediction type {prediction_type!r}")


@dataclass(frozen=True)
class DiffusionConfig:
    """The forward process a model was trained with; saved in every checkpoint."""

    num_train_timesteps: int = 1000  # T, the number of diffusion steps
    beta_schedule: ScheduleName = "sigmoid"  # linear | cosine | sigmoid
    prediction_type: PredictionType = "v_prediction"  # epsilon | v_prediction

    def betas(self) -> torch.Tensor:
        """Betas, shape (T,), float64."""
        return make_betas(self.beta_schedule, self.num_train_timesteps)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DiffusionConfig:
        return cls(**data)


def make_ddpm_scheduler(cfg: DiffusionConfig) -> Any:
    """A diffusers ``DDPMScheduler`` carrying exactly these betas (for ancestral sampling)."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(
        num_train_timesteps=cfg.num_train_timesteps,
        trained_betas=cfg.betas().numpy(),
        prediction_type=cfg.prediction_type,
        clip_sample=True,
    )
