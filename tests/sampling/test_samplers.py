"""Samplers against an analytic denoiser: Gaussian data N(mu, s^2), whose exact x0 estimate and
probability-flow ODE solution are known in closed form (diffusers checks schedulers the same way).

For x = x0 + sigma * eps with x0 ~ N(mu, s^2), the posterior mean is
``D(x, sigma) = mu + s^2 / (s^2 + sigma^2) (x - mu)``, and the probability-flow ODE
``dx/dsigma = (x - D) / sigma`` solves to ``x(sigma) - mu ∝ sqrt(s^2 + sigma^2)``.
"""

from __future__ import annotations

import math

import pytest
import torch

from radsynth.errors import RadsynthError
from radsynth.sampling.denoiser import VPDenoiser
from radsynth.sampling.samplers import (
    DEFAULT_SPACING,
    SAMPLERS,
    SeededNoise,
    function_evaluations,
    get_sampler,
    sample_ddim,
    sampling_sigmas,
    start_noise,
    vp_sigmas,
)

MU, S = 0.3, 0.5
BETAS = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)  # Ho et al. 2020 linear schedule
TRAIN_SIGMAS = vp_sigmas(BETAS)
SHAPE = (1, 32, 32)  # 1,024 i.i.d. pixels per image: the Gaussian denoiser is elementwise


def gaussian_denoiser(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    s2 = sigma.reshape(-1, 1, 1, 1) ** 2
    return MU + S**2 / (S**2 + s2) * (x - MU)


def run(
    name: str, steps: int, seeds=range(8), spacing: str | None = None, **options
) -> tuple[torch.Tensor, torch.Tensor]:
    """(initial x_T, final x0) for each seed."""
    noise = SeededNoise(list(seeds))
    sigmas = sampling_sigmas(TRAIN_SIGMAS, steps, spacing or DEFAULT_SPACING[name])
    x_t = start_noise(noise, SHAPE, float(sigmas[0]))
    return x_t, get_sampler(name)(gaussian_denoiser, x_t.clone(), sigmas, noise, **options)


def flow_solution(x_t: torch.Tensor) -> torch.Tensor:
    """Exact probability-flow ODE map from sigma_max down to sigma_min, then the final
    denoising step every sampler takes there (sigma_min -> 0 returns D(x, sigma_min))."""
    sigma_max, sigma_min = TRAIN_SIGMAS[-1].item(), TRAIN_SIGMAS[0].item()
    x_min = MU + (x_t - MU) * math.sqrt(S**2 + sigma_min**2) / math.sqrt(S**2 + sigma_max**2)
    return gaussian_denoiser(x_min, torch.full((x_t.shape[0],), sigma_min))


def test_ddim_at_many_steps_matches_the_probability_flow_solution():
    x_t, x0 = run("ddim", 1000, seeds=[0, 1], eta=0.0)
    assert (x0 - flow_solution(x_t)).abs().max() < 0.01


@pytest.mark.parametrize(("name", "order"), [("ddim", 1), ("heun", 2), ("dpmpp", 2)])
def test_ode_solvers_converge_at_their_order(name, order):
    """Doubling the steps divides the error by 2^order (measured: 1.98 and 4.1 to 4.5)."""
    errors = []
    for steps in (25, 50, 100):
        x_t, x0 = run(name, steps, seeds=[0], spacing="karras")
        errors.append((x0 - flow_solution(x_t)).abs().max().item())
    ratios = [errors[0] / errors[1], errors[1] / errors[2]]
    assert all(0.8 * 2**order < r < 1.25 * 2 ** (order + 0.2) for r in ratios), ratios
    assert errors[-1] < (0.07 if order == 1 else 0.004)


@pytest.mark.parametrize(
    ("name", "steps", "options"),
    [
        ("ddpm", 1000, {}),
        ("ddpm", 250, {}),
        ("ddim", 250, {"eta": 1.0}),
        ("ddim", 200, {"eta": 0.0}),
        ("dpmpp", 50, {}),
        ("heun", 50, {}),
    ],
)
def test_samplers_reach_the_data_distribution(name, steps, options):
    _, x0 = run(name, steps, **options)
    # 8,192 pixels: the standard error of the mean is 0.0055 and of the std 0.0039.
    assert abs(x0.mean().item() - MU) < 0.02
    assert abs(x0.std().item() - S) < 0.02


def test_ancestral_noise_matters():
    """Without its fresh noise the DDPM chain collapses towards the mean: the test can fail."""
    noise = SeededNoise(range(8))
    sigmas = sampling_sigmas(TRAIN_SIGMAS, 50)
    x_t = start_noise(noise, SHAPE, float(sigmas[0]))

    class Silent(SeededNoise):
        def __call__(self, like):
            return torch.zeros_like(like)

    collapsed = sample_ddim(gaussian_denoiser, x_t, sigmas, Silent(range(8)), eta=1.0)
    assert collapsed.std().item() < S / 2


def test_image_depends_only_on_its_seed():
    _, together = run("ddpm", 30, seeds=[5, 6, 7])
    alone = torch.cat([run("ddpm", 30, seeds=[s])[1] for s in (7, 5, 6)])
    assert torch.equal(together, alone[[1, 2, 0]])
    assert not torch.equal(together[0], together[1])


def test_stochastic_samplers_need_noise():
    sigmas = sampling_sigmas(TRAIN_SIGMAS, 5)
    with pytest.raises(ValueError):
        SAMPLERS["ddpm"](gaussian_denoiser, torch.zeros(1, *SHAPE), sigmas, None)


def test_sampling_sigmas():
    sig = sampling_sigmas(TRAIN_SIGMAS, 1000)
    assert len(sig) == 1001 and sig[-1] == 0
    assert torch.allclose(sig[:-1].double(), TRAIN_SIGMAS.flip(0).float().double())
    sig = sampling_sigmas(TRAIN_SIGMAS, 20)
    assert len(sig) == 21 and float(sig[0]) == pytest.approx(float(TRAIN_SIGMAS[-1]))
    assert float(sig[-2]) == pytest.approx(float(TRAIN_SIGMAS[0]))
    assert bool((sig[:-1] > sig[1:]).all())
    with pytest.raises(RadsynthError):
        sampling_sigmas(TRAIN_SIGMAS, 0)
    with pytest.raises(RadsynthError):
        sampling_sigmas(TRAIN_SIGMAS, 1001)


def test_unknown_sampler_is_a_one_line_error():
    with pytest.raises(RadsynthError, match="unknown sampler 'plms'"):
        get_sampler("plms")
    assert function_evaluations("heun", 10) == 19
    assert function_evaluations("dpmpp", 10) == 10


class PointMassNet(torch.nn.Module):
    """The exact eps / v prediction when all data is the constant image c (a point mass)."""

    def __init__(self, c: float, prediction_type: str) -> None:
        super().__init__()
        self.c, self.prediction_type = c, prediction_type
        self.abar = torch.cumprod(1 - BETAS, 0).float()

    def forward(self, x_vp: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        assert torch.equal(t, t.round()), "on-grid sigmas must map to integer timesteps"
        a = self.abar[t.long()].reshape(-1, 1, 1, 1)
        eps = (x_vp - a.sqrt() * self.c) / (1 - a).sqrt()
        if self.prediction_type == "epsilon":
            return eps
        return a.sqrt() * eps - (1 - a).sqrt() * self.c  # v (Salimans & Ho 2022, eq. 2 ff.)


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_vp_denoiser_converts_predictions_to_x0(prediction_type):
    den = VPDenoiser(PointMassNet(0.7, prediction_type), BETAS, prediction_type)
    sig = TRAIN_SIGMAS[[0, 10, 500, 999]].float()
    x = 0.7 + sig.reshape(-1, 1, 1, 1) * torch.randn(4, 1, 4, 4, generator=torch.Generator())
    assert torch.allclose(den(x, sig), torch.full_like(x, 0.7), atol=1e-4)
    # and each sampler driven by this exact network lands on c (Heun is left out: its
    # intermediate sigmas fall between training timesteps, which this network does not take)
    for name in ("ddpm", "ddim", "dpmpp"):
        noise = SeededNoise([0])
        sigmas = sampling_sigmas(TRAIN_SIGMAS, 10)
        out = SAMPLERS[name](den, start_noise(noise, (1, 4, 4), float(sigmas[0])), sigmas, noise)
        assert torch.allclose(out, torch.full_like(out, 0.7), atol=1e-3)


def test_sigma_to_t_interpolates_in_log_sigma():
    den = VPDenoiser(torch.nn.Identity(), BETAS, "epsilon")
    assert den.sigma_to_t(TRAIN_SIGMAS[[0, 7, 999]]).tolist() == [0.0, 7.0, 999.0]
    mid = torch.exp((TRAIN_SIGMAS[7].log() + TRAIN_SIGMAS[8].log()) / 2)
    assert den.sigma_to_t(mid.reshape(1)).item() == pytest.approx(7.5)
