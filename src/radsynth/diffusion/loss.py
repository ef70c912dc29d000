"""The denoising training loss."""

from __future__ import annotations

import torch

from radsynth.diffusion.schedule import q_sample, training_target


def diffusion_loss(
    model: torch.nn.Module,
    x0: torch.Tensor,
    t: torch.Tensor,
    noise: torch.Tensor,
    alpha_bar: torch.Tensor,
    prediction_type: str,
    class_labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-image mean squared error between the network output and its target.

    The "simple" loss of Ho et al. 2020 (eq. 14) for eps, and the unweighted v loss of
    Salimans & Ho 2022 (equal to the eps loss weighted by 1 / (1 - alpha-bar), i.e. SNR + 1).

    Args:
        model: a UNet2DModel-like network, called as ``model(x_t, t).sample``.
        x0: clean images (B, C, H, W) in [-1, 1].
        t: timesteps (B,), int64.
        noise: standard normal, like ``x0``.
        alpha_bar: (T,) cumulative products of (1 - beta).
        class_labels: (B,) int64 class indices for a conditional network, else None.

    Returns:
        (B,) float32 losses.
    """
    x_t = q_sample(x0, t, noise, alpha_bar)
    out = model(x_t, t) if class_labels is None else model(x_t, t, class_labels=class_labels)
    out = out.sample.float()
    target = training_target(prediction_type, x0, t, noise, alpha_bar).float()
    return (out - target).pow(2).mean(dim=(1, 2, 3))
