"""Turn a DDPM noise-prediction network into an x0 denoiser in VE form, for the samplers.

A DDPM network ``net(x_vp, t)`` predicts eps (Ho et al. 2020) or v (Salimans & Ho 2022) from a
variance-preserving input ``x_vp = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps``. The samplers in
:mod:`radsynth.sampling.samplers` work on ``x = x0 + sigma eps`` with
``sigma_t = sqrt((1 - abar_t) / abar_t)``. This wrapper converts between the two:

- input: ``x_vp = x / sqrt(1 + sigma^2)`` (since ``abar = 1 / (1 + sigma^2)``),
  timestep ``t`` found by interpolating ``log sigma`` over the training schedule;
- output: eps-prediction ``x0 = x - sigma * eps``; v-prediction
  ``x0 = sqrt(abar) x_vp - sqrt(1 - abar) v = (x_vp - sigma v) / sqrt(1 + sigma^2)``.
"""

from __future__ import annotations

import contextlib

import torch

from radsynth.sampling.samplers import vp_sigmas

PREDICTION_TYPES = ("epsilon", "v_prediction")


class VPDenoiser:
    """``denoiser(x (B, C, H, W), sigma (B,)) -> x0 (B, C, H, W)`` around a DDPM network.

    Args:
        net: a module called as ``net(x_vp, t)`` returning a tensor or an object with
            ``.sample`` (diffusers ``UNet2DModel``), in eval mode.
        betas: (T,) training betas (float64).
        prediction_type: ``"epsilon"`` or ``"v_prediction"``.
        autocast_dtype: run the network under autocast in this dtype (bf16 on GPU), or None.
        channels_last: feed the network channels-last inputs (faster convolutions on GPU).
        clip_x0: clamp every x0 estimate to the data range [-1, 1], as the ancestral sampler of
            Ho et al. 2020 and the study's sampler do ("clip_denoised").
    """

    def __init__(
        self,
        net: torch.nn.Module,
        betas: torch.Tensor,
        prediction_type: str,
        autocast_dtype: torch.dtype | None = None,
        channels_last: bool = False,
        clip_x0: bool = False,
    ) -> None:
        if prediction_type not in PREDICTION_TYPES:
            raise ValueError(f"prediction_type must be one of {PREDICTION_TYPES}")
        self.net = net
        self.prediction_type = prediction_type
        self.autocast_dtype = autocast_dtype
        self.channels_last = channels_last
        self.clip_x0 = clip_x0
        self.train_sigmas = vp_sigmas(betas)  # (T,) float64, increasing in t
        self._log_sigmas = self.train_sigmas.log()

    def sigma_to_t(self, sigma: torch.Tensor) -> torch.Tensor:
        """Fractional timestep of each sigma, linear in log sigma between training timesteps.

        Sigmas on the training grid map to integer timesteps exactly (the network saw only
        those); others (e.g. Heun's intermediate points) get fractional ones.
        """
        log_sigma = sigma.detach().double().cpu().log()
        grid = self._log_sigmas
        hi = torch.searchsorted(grid, log_sigma).clamp(1, len(grid) - 1)
        lo = hi - 1
        frac = ((log_sigma - grid[lo]) / (grid[hi] - grid[lo])).clamp(0, 1)
        t = lo.double() + frac
        nearest = t.round()
        return torch.where((t - nearest).abs() < 1e-4, nearest, t)

    @torch.no_grad()
    def __call__(
        self,
        x: torch.Tensor,
        sigma: torch.Tensor,
        class_labels: torch.Tensor | None = None,
        clip: bool | None = None,
    ) -> torch.Tensor:
        """x0 estimate; ``class_labels`` (B,) for a conditional network, ``clip`` overrides
        ``clip_x0`` (guidance clamps after mixing, see :mod:`radsynth.sampling.guidance`)."""
        sig = sigma.to(x.device, torch.float32).reshape(-1, *([1] * (x.ndim - 1)))  # (B, 1, 1, 1)
        scale = torch.rsqrt(1 + sig**2)  # sqrt(abar)
        x_vp = x * scale
        t = self.sigma_to_t(sigma).to(x.device, torch.float32)
        out = self._net(x_vp, t, class_labels)
        x0 = x - sig * out if self.prediction_type == "epsilon" else (x_vp - sig * out) * scale
        return x0.clamp(-1, 1) if (self.clip_x0 if clip is None else clip) else x0

    def _net(
        self, x_vp: torch.Tensor, t: torch.Tensor, class_labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        ctx = (
            torch.autocast(x_vp.device.type, dtype=self.autocast_dtype)
            if self.autocast_dtype is not None
            else contextlib.nullcontext()
        )
        if self.channels_last:
            x_vp = x_vp.contiguous(memory_format=torch.channels_last)
        with ctx:
            out = self.net(x_vp, t) if class_labels is None else self.net(x_vp, t, class_labels)
        out = getattr(out, "sample", out)
        return out.float()
