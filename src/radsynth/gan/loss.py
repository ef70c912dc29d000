"""The R3GAN objective: relativistic pairing loss with zero-centred R1 and R2 penalties.

Huang et al. 2024, eq. 5, for real x_r and fake x_f = G(z), f = softplus(-t)::

    L_D = E[ f(D(x_r) - D(x_f)) ] + gamma/2 E||grad_x D(x_r)||^2 + gamma/2 E||grad_x D(x_f)||^2
    L_G = E[ f(D(x_f) - D(x_r)) ]

(the relativistic pairing GAN of Jolicoeur-Martineau 2019; R1 of Mescheder et al. 2018 and its
twin R2 on fake data). Each real image is paired with the fake drawn beside it; in a
class-conditional run both have the same class.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.nn import functional as F

Critic = Callable[[torch.Tensor], torch.Tensor]  # images (B, ...) -> logits (B,)


@dataclass(frozen=True)
class DiscriminatorLoss:
    """The discriminator's loss and its parts (scalars)."""

    total: torch.Tensor  # adversarial + gamma/2 (r1 + r2), the one to backpropagate
    adversarial: torch.Tensor  # E f(D(x_r) - D(x_f))
    r1: torch.Tensor  # E ||grad D(x_r)||^2
    r2: torch.Tensor  # E ||grad D(x_f)||^2


def relativistic_loss(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """E softplus(-(first - second)): small when ``first`` scores above its pair ``second``."""
    return F.softplus(second - first).mean()


def gradient_penalty(critic: Critic, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Squared gradient norm of the critic at each sample, kept in the graph (for R1/R2).

    Returns:
        (logits (B,), ||grad_x critic(x)_i||^2 per sample (B,)); the gradient is built with
        ``create_graph`` so the penalty trains the critic.
    """
    x = x.detach().requires_grad_(True)
    logits = critic(x)
    (grad,) = torch.autograd.grad(logits.sum(), x, create_graph=True)
    return logits, grad.square().flatten(1).sum(dim=1)


def discriminator_loss(
    critic: Critic, real: torch.Tensor, fake: torch.Tensor, gamma: float
) -> DiscriminatorLoss:
    """RpGAN + R1 + R2 for the discriminator.

    Args:
        critic: images (2B, ...) -> logits (2B,), applied to real and fake in one call (its
            augmentation drawn for all 2B); it must not mix samples (no batch statistics).
        real, fake: (B, ...) images; ``fake`` is detached from the generator here.
        gamma: the penalty weight.
    """
    logits, sq_grad = gradient_penalty(critic, torch.cat([real, fake.detach()]))
    real_logits, fake_logits = logits.chunk(2)
    r1, r2 = (g.mean() for g in sq_grad.chunk(2))
    adversarial = relativistic_loss(real_logits, fake_logits)
    return DiscriminatorLoss(adversarial + gamma / 2 * (r1 + r2), adversarial, r1, r2)


def generator_loss(critic: Critic, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """RpGAN for the generator, E f(D(x_f) - D(x_r)); gradients flow through ``fake``. The
    critic is applied to real and fake in one call, as in :func:`discriminator_loss`."""
    real_logits, fake_logits = critic(torch.cat([real, fake])).chunk(2)
    return relativistic_loss(fake_logits, real_logits)
