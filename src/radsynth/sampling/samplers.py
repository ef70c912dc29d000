"""Diffusion samplers as plain functions with one shared signature.

Every sampler is ``sample_x(denoiser, x, sigmas, noise=None, **options) -> x0`` in the
variance-exploding (VE) parameterisation of Karras et al. 2022 (EDM): a noisy image is
``x = x0 + sigma * eps``, and ``denoiser(x, sigma)`` returns the estimate of ``x0``. A DDPM
trained in the variance-preserving (VP) form ``x_vp = sqrt(abar) x0 + sqrt(1 - abar) eps`` maps
onto this with ``x = x_vp / sqrt(abar)`` and ``sigma = sqrt((1 - abar) / abar)`` (see
:mod:`radsynth.sampling.denoiser`), so one implementation serves both.

Shapes: ``x`` is (B, C, H, W); ``sigmas`` is a 1-D float tensor, decreasing, ending in 0.
Randomness enters only through ``noise`` (a :class:`SeededNoise`), which draws each image's noise
from that image's own generator, so image n depends on seed n alone, whatever the batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from radsynth.errors import RadsynthError

#: ``denoiser(x (B, C, H, W), sigma (B,)) -> x0 estimate (B, C, H, W)``.
Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class SeededNoise:
    """Standard normal noise with one ``torch.Generator`` per image (EDM's per-seed generators).

    Image i's noise always comes from generator i, seeded with seed i, so the numbers an image
    gets do not depend on the batch it shares or the process it runs in. The generators live on
    ``device``: CPU and CUDA generators give different streams, so a seed's image is fixed per
    device type (and the ancestral sampler's per-step noise is drawn on the GPU, not the CPU).
    """

    def __init__(self, seeds: Sequence[int], device: str | torch.device = "cpu") -> None:
        self.seeds = list(seeds)
        self.device = torch.device(device)
        self.generators = [torch.Generator(self.device).manual_seed(int(s)) for s in self.seeds]

    def __call__(self, like: torch.Tensor) -> torch.Tensor:
        """Noise shaped like ``like`` (B, ...), row i from generator i; float32 on its device."""
        return self.draw(tuple(like.shape[1:])).to(like.device)

    def draw(self, shape: tuple[int, ...]) -> torch.Tensor:
        """(B, *shape) float32 standard normal noise on ``self.device``."""
        rows = [torch.randn(shape, generator=g, device=self.device) for g in self.generators]
        return torch.stack(rows)


def _expand(sigma: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A scalar sigma as a (B,) tensor on x's device."""
    return sigma.to(x.device, torch.float32).expand(x.shape[0])


def _need_noise(noise: SeededNoise | None, name: str) -> SeededNoise:
    if noise is None:
        raise ValueError(f"the {name} sampler is stochastic and needs a noise source")
    return noise


@torch.no_grad()
def sample_ddim(
    denoiser: Denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    noise: SeededNoise | None = None,
    eta: float = 0.0,
) -> torch.Tensor:
    """DDIM (Song, Meng & Ermon 2021, eq. 12); eta=0 is deterministic, eta=1 is DDPM ancestral.

    In VE form one step from sigma to sigma' re-noises the x0 estimate with the predicted noise
    at std ``sigma_down`` and fresh noise at std ``sigma_up``, where
    ``sigma_up = eta * sigma' * sqrt(1 - sigma'^2 / sigma^2)`` and
    ``sigma_down^2 = sigma'^2 - sigma_up^2``. With eta=1 this is exactly the DDPM posterior
    q(x_{t-1} | x_t, x0) with variance beta-tilde (Ho et al. 2020, eq. 7), and eta=0 is Euler's
    method on the probability-flow ODE ``dx/dsigma = (x - D) / sigma`` (Karras et al. 2022, sec. 3).
    """
    if eta > 0:
        noise = _need_noise(noise, "DDIM (eta > 0)")
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        x0 = denoiser(x, _expand(sigma, x))
        if sigma_next == 0:
            x = x0
            continue
        eps = (x - x0) / sigma
        sigma_up = eta * sigma_next * torch.sqrt(1 - (sigma_next / sigma) ** 2)
        sigma_down = torch.sqrt(sigma_next**2 - sigma_up**2)
        x = x0 + sigma_down * eps
        if eta > 0:
            x = x + sigma_up * noise(x)
    return x


@torch.no_grad()
def sample_ddpm(
    denoiser: Denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    noise: SeededNoise | None = None,
) -> torch.Tensor:
    """DDPM ancestral sampling (Ho, Jain & Abbeel 2020, Algorithm 2, posterior variance beta-tilde).

    With ``sigmas`` at every training timestep this is the 1000-step reference sampler; on a
    strided schedule it is the respaced ancestral sampler of Nichol & Dhariwal 2021.
    """
    return sample_ddim(denoiser, x, sigmas, _need_noise(noise, "DDPM"), eta=1.0)


@torch.no_grad()
def sample_dpmpp_2m(
    denoiser: Denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    noise: SeededNoise | None = None,
) -> torch.Tensor:
    """DPM-Solver++(2M), multistep second order in data prediction (Lu et al. 2022, Algorithm 2).

    With ``lambda = -log sigma`` and ``h = lambda' - lambda``, one step is
    ``x' = (sigma' / sigma) x + (1 - e^{-h}) D``, where D is the x0 estimate on the first step
    and ``(1 + 1/(2r)) x0_i - 1/(2r) x0_{i-1}`` with ``r = h_{i-1} / h_i`` after it; the final
    step to sigma = 0 returns the x0 estimate.
    """
    previous: tuple[torch.Tensor, torch.Tensor] | None = None  # (x0 estimate, its h)
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        x0 = denoiser(x, _expand(sigma, x))
        if sigma_next == 0:
            x = x0
            continue
        h = torch.log(sigma) - torch.log(sigma_next)
        d = x0
        if previous is not None:
            x0_prev, h_prev = previous
            r = h_prev / h
            d = (1 + 1 / (2 * r)) * x0 - (1 / (2 * r)) * x0_prev
        x = (sigma_next / sigma) * x - torch.expm1(-h) * d
        previous = (x0, h)
    return x


@torch.no_grad()
def sample_heun(
    denoiser: Denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    noise: SeededNoise | None = None,
) -> torch.Tensor:
    """Heun's 2nd-order method on the probability-flow ODE (Karras et al. 2022, Algorithm 1).

    Uses two denoiser calls per step except the last (to sigma = 0), which is an Euler step.
    """
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        slope = (x - denoiser(x, _expand(sigma, x))) / sigma
        x_euler = x + (sigma_next - sigma) * slope
        if sigma_next == 0:
            x = x_euler
            continue
        slope_next = (x_euler - denoiser(x_euler, _expand(sigma_next, x))) / sigma_next
        x = x + (sigma_next - sigma) * (slope + slope_next) / 2
    return x


#: Sampler name -> function; every entry takes ``(denoiser, x, sigmas, noise, **options)``.
SAMPLERS: dict[str, Callable[..., torch.Tensor]] = {
    "ddpm": sample_ddpm,
    "ddim": sample_ddim,
    "dpmpp": sample_dpmpp_2m,
    "heun": sample_heun,
}


def get_sampler(name: str) -> Callable[..., torch.Tensor]:
    """The sampler function called ``name``; a one-line RadsynthError for an unknown one."""
    if name not in SAMPLERS:
        raise RadsynthError(f"unknown sampler {name!r}; choose one of {', '.join(SAMPLERS)}")
    return SAMPLERS[name]


def function_evaluations(sampler: str, steps: int) -> int:
    """Denoiser calls per image: Heun needs two per step except the last, the others one."""
    return 2 * steps - 1 if sampler == "heun" else steps


def vp_sigmas(betas: torch.Tensor) -> torch.Tensor:
    """VE noise levels of a discrete VP schedule: ``sigma_t = sqrt((1 - abar_t) / abar_t)``.

    Args:
        betas: (T,) float64 DDPM betas (Ho et al. 2020, eq. 2).

    Returns:
        (T,) float64 sigmas, increasing with the timestep t = 0..T-1.
    """
    alphas_cumprod = torch.cumprod(1 - betas.double(), dim=0)
    return torch.sqrt((1 - alphas_cumprod) / alphas_cumprod)


#: Step spacing of each sampler unless chosen: DDPM/DDIM step through training timesteps; the
#: ODE solvers use Karras spacing, whose smoothly shrinking steps in log sigma suit multistep and
#: Heun updates (a time-uniform grid ends in one very long step in log sigma).
DEFAULT_SPACING = {"ddpm": "time", "ddim": "time", "dpmpp": "karras", "heun": "karras"}
SPACINGS = ("time", "karras")
#: Top of the Karras ramp: EDM's sigma_max for data in [-1, 1] (Karras et al. 2022, table 1).
#: VP schedules reach far higher (cosine, T = 1000: 20,291), where a rho = 7 ramp would spend
#: most steps on pure noise; the first step jumps from the training sigma_max down to this.
KARRAS_SIGMA_MAX = 80.0


def sampling_sigmas(
    train_sigmas: torch.Tensor, steps: int, spacing: str = "time", rho: float = 7.0
) -> torch.Tensor:
    """The noise levels a K-step sampler visits, then 0.

    Args:
        train_sigmas: (T,) sigmas of the training timesteps (:func:`vp_sigmas`).
        steps: K, the number of steps.
        spacing: ``"time"``: K training timesteps uniform in t, including t = T-1 ("trailing"
            spacing, Lin et al. 2024; K = T visits every timestep, as 1000-step DDPM does).
            ``"karras"``: ``sigma_i = (smax^(1/rho) + i/(K-1) (smin^(1/rho) - smax^(1/rho)))^rho``
            between the training extremes (Karras et al. 2022, eq. 5); these fall between
            training timesteps, which the denoiser interpolates. The ramp starts at
            ``min(smax, KARRAS_SIGMA_MAX)``, after one step from the training smax.
        rho: the Karras exponent (7 in the paper).

    Returns:
        (K + 1,) float32 tensor, decreasing, last entry 0.
    """
    total = len(train_sigmas)
    if not 1 <= steps <= total:
        raise RadsynthError(f"steps must be between 1 and {total} (the training timesteps)")
    if spacing not in SPACINGS:
        raise RadsynthError(f"unknown spacing {spacing!r}; choose one of {', '.join(SPACINGS)}")
    if spacing == "karras":
        smin, smax = float(train_sigmas[0]), float(train_sigmas[-1])
        top = min(smax, KARRAS_SIGMA_MAX)
        jump = smax > top and steps > 1  # first step: smax -> top
        ramp = torch.linspace(0, 1, steps - jump, dtype=torch.float64)
        chosen = (top ** (1 / rho) + ramp * (smin ** (1 / rho) - top ** (1 / rho))) ** rho
        chosen = torch.cat([train_sigmas[-1:].double(), chosen]) if jump else chosen
        chosen[0] = smax  # the ends exactly on the training grid despite rounding
        if steps > 1:
            chosen[-1] = smin
    else:
        timesteps = torch.linspace(total - 1, 0, steps, dtype=torch.float64).round().long()
        chosen = train_sigmas[timesteps]
    chosen = chosen.float()
    return torch.cat([chosen, chosen.new_zeros(1)])


def start_noise(noise: SeededNoise, shape: tuple[int, ...], sigma_max: float) -> torch.Tensor:
    """x_T for each seed: ``sqrt(1 + sigma_max^2) * z`` with z ~ N(0, I) from that seed's stream.

    This is the VE image of the VP prior x_T ~ N(0, I) (``x = x_vp / sqrt(abar_T)``). It is the
    first draw of each image's generator; stochastic samplers then continue the same generators.

    Returns:
        (B, *shape) float32 tensor on the noise source's device.
    """
    return noise.draw(shape) * math.sqrt(1 + sigma_max**2)
