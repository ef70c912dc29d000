"""The R3GAN objective against hand-computed values on analytic discriminators."""

from __future__ import annotations

import math

import torch

from radsynth.gan.loss import (
    discriminator_loss,
    generator_loss,
    gradient_penalty,
    relativistic_loss,
)


def quadratic_critic(a: torch.Tensor):
    """D(x) = sum(a * x^2) per sample; grad D = 2 a x, so ||grad D||^2 = sum(4 a^2 x^2)."""
    return lambda x: (a * x.square()).flatten(1).sum(dim=1)


def test_gradient_penalty_equals_the_closed_form_gradient_norm():
    a = torch.tensor([[[0.5, -1.0], [2.0, 0.25]]], dtype=torch.float64)  # (1, 2, 2)
    x = torch.tensor(
        [[[[1.0, 2.0], [-1.0, 0.5]]], [[[0.0, -3.0], [0.5, 4.0]]]], dtype=torch.float64
    )  # (2, 1, 2, 2)
    _, sq = gradient_penalty(quadratic_critic(a), x)
    # Sample 0: 4 * (0.25*1 + 1*4 + 4*1 + 0.0625*0.25) = 33.0625
    # Sample 1: 4 * (0 + 1*9 + 4*0.25 + 0.0625*16) = 44.0
    assert torch.allclose(sq, torch.tensor([33.0625, 44.0], dtype=torch.float64))


def test_discriminator_loss_adds_gamma_half_r1_and_r2():
    a = torch.full((1, 2, 2), 0.5, dtype=torch.float64)
    real = torch.ones(3, 1, 2, 2, dtype=torch.float64)  # D = 2, ||grad||^2 = 4 * 0.25 * 4 = 4
    fake = torch.full((3, 1, 2, 2), 2.0, dtype=torch.float64)  # D = 8, ||grad||^2 = 16
    parts = discriminator_loss(quadratic_critic(a), real, fake, gamma=0.3)
    adversarial = math.log1p(math.exp(8.0 - 2.0))  # softplus(-(D(x_r) - D(x_f)))
    assert math.isclose(parts.adversarial.item(), adversarial, rel_tol=1e-12)
    assert math.isclose(parts.r1.item(), 4.0, rel_tol=1e-12)
    assert math.isclose(parts.r2.item(), 16.0, rel_tol=1e-12)
    assert math.isclose(parts.total.item(), adversarial + 0.15 * 20.0, rel_tol=1e-12)


def test_penalty_trains_the_critic_and_generator_loss_is_the_mirror():
    a = torch.tensor([[[0.5]]], dtype=torch.float64, requires_grad=True)
    real = torch.full((2, 1, 1, 1), 2.0, dtype=torch.float64)
    fake = torch.full((2, 1, 1, 1), 1.0, dtype=torch.float64, requires_grad=True)
    parts = discriminator_loss(quadratic_critic(a), real, fake, gamma=1.0)
    parts.total.backward()
    # d/da of (r1 + r2)/2 = d/da (16 a^2 + 4 a^2)/2 = 20 a = 10; adversarial: softplus(a - 4a)
    # derivative -3 * sigmoid(-3a) = -3 * sigmoid(-1.5).
    expected = 10.0 - 3.0 / (1.0 + math.exp(1.5))
    assert math.isclose(a.grad.item(), expected, rel_tol=1e-12)
    assert fake.grad is None  # the discriminator step never reaches the generator
    g = generator_loss(quadratic_critic(a.detach()), real, fake)
    assert math.isclose(g.item(), math.log1p(math.exp(2.0 - 0.5)), rel_tol=1e-12)


def test_relativistic_loss_is_log_two_for_equal_scores():
    s = torch.tensor([0.3, -1.2])
    assert math.isclose(relativistic_loss(s, s).item(), math.log(2), rel_tol=1e-6)
