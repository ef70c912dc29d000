"""The autoencoder's losses against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from radsynth.latent.losses import (
    ADAPTIVE_WEIGHT_MAX,
    adaptive_weight,
    hinge_d_loss,
    hinge_g_loss,
    kl_divergence,
    ms_ssim,
    ms_ssim_fits,
    reconstruction_loss,
    ssim,
    structural_similarity,
)
from radsynth.latent.report import psnr_db

C1 = (0.01 * 1.0) ** 2  # Wang et al. 2004: (K1 L)^2 with L = 1


def const(value: float, size_px: int = 32, n: int = 1) -> torch.Tensor:
    return torch.full((n, 1, size_px, size_px), value, dtype=torch.float64)


def test_ssim_of_identical_images_is_one():
    x = torch.rand(3, 1, 32, 32, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert torch.allclose(ssim(x, x), torch.ones(3, dtype=torch.float64), atol=1e-12)


def test_ssim_of_a_constant_shift_is_the_luminance_term():
    # Flat images: no variance or covariance, so the contrast-structure term is C2 / C2 = 1 and
    # SSIM = (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1) = (0.48 + 1e-4) / (0.52 + 1e-4).
    expected = (2 * 0.4 * 0.6 + C1) / (0.4**2 + 0.6**2 + C1)
    assert ssim(const(0.4), const(0.6)).item() == pytest.approx(expected, rel=1e-9)
    assert expected == pytest.approx(0.4801 / 0.5201, rel=1e-12)


def test_ssim_falls_with_noise():
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(1, 1, 32, 32, generator=gen, dtype=torch.float64)
    noisy = (x + 0.2 * torch.randn(x.shape, generator=gen, dtype=torch.float64)).clamp(0, 1)
    assert ssim(x, noisy).item() < 0.9


def test_ms_ssim_scales_and_hand_values():
    assert not ms_ssim_fits(160) and ms_ssim_fits(176)  # 176 / 16 = 11 px: one window
    x = torch.rand(1, 1, 176, 176, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert ms_ssim(x, x).item() == pytest.approx(1.0, abs=1e-9)
    # Flat images: every cs_j = 1, and the coarsest SSIM is the luminance term, to its weight.
    lum = (2 * 0.4 * 0.6 + C1) / (0.4**2 + 0.6**2 + C1)
    assert ms_ssim(const(0.4, 176), const(0.6, 176)).item() == pytest.approx(lum**0.1333, rel=1e-9)
    # structural_similarity picks MS-SSIM over 160 px, SSIM at and below it.
    assert structural_similarity(const(0.4, 176), const(0.6, 176)).item() == pytest.approx(
        lum**0.1333, rel=1e-9
    )
    assert structural_similarity(const(0.4), const(0.6)).item() == pytest.approx(lum, rel=1e-9)


def test_reconstruction_loss_is_l1_plus_one_minus_ssim():
    # Targets in [-1, 1]: -0.2 and 0.2 are 0.4 and 0.6 in [0, 1]; L1 = 0.4.
    lum = (2 * 0.4 * 0.6 + C1) / (0.4**2 + 0.6**2 + C1)
    loss = reconstruction_loss(const(-0.2), const(0.2), ssim_weight=0.5)
    assert loss.item() == pytest.approx(0.4 + 0.5 * (1 - lum), rel=1e-9)


def test_kl_and_hinge_by_hand():
    # 1/2 (mu^2 + s^2 - 1 - log s^2), summed over 2 elements, averaged over 1 image.
    mean, std = torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, math.e]])
    expected = 0.5 * (1 + 1 - 1 - 0) + 0.5 * (0 + math.e**2 - 1 - 2)
    assert kl_divergence(mean, std).item() == pytest.approx(expected, rel=1e-6)
    # D(real) = 2 (no hinge loss), D(fake) = 0 (hinge 1): 1/2 (0 + 1).
    assert hinge_d_loss(torch.tensor([2.0]), torch.tensor([0.0])).item() == pytest.approx(0.5)
    assert hinge_g_loss(torch.tensor([0.5, 1.5])).item() == pytest.approx(-1.0)


def test_adaptive_weight_on_a_linear_decoder():
    # Decoder y = W z with last layer W = [0.5, -1], z = [1, 2]: y = -1.5.
    # L_rec = (y - 1)^2: grad_W = 2 (y - 1) z = [-5, -10], norm 5 sqrt(5).
    # L_GAN = -3 y:      grad_W = -3 z      = [-3, -6],  norm 3 sqrt(5).
    w = torch.tensor([0.5, -1.0], requires_grad=True)
    y = w @ torch.tensor([1.0, 2.0])
    lam = adaptive_weight((y - 1) ** 2, -3 * y, w)
    assert lam.item() == pytest.approx(5 * math.sqrt(5) / (3 * math.sqrt(5) + 1e-4), rel=1e-6)
    assert not lam.requires_grad
    # A GAN loss that does not move the last layer: lambda hits its cap.
    lam = adaptive_weight((y - 1) ** 2, 0 * y, w)
    assert lam.item() == pytest.approx(ADAPTIVE_WEIGHT_MAX)


def test_psnr_by_hand():
    # MSE 0.01: 10 log10(1 / 0.01) = 20 dB.
    assert psnr_db(const(0.1), const(0.0)).item() == pytest.approx(20.0, rel=1e-9)
