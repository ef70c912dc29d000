"""R3GAN networks and augmentation: per-sample independence, Fixup init, no flips."""

from __future__ import annotations

import torch
from torch import nn

from radsynth.gan.augment import AugmentParams, apply_augment, draw_augment
from radsynth.gan.model import GanShape, ResidualBlock, build_networks

TINY = GanShape(16, 1, (16, 8, 8), 1, 2, 4, 8, 1, 2)


def test_networks_have_the_shapes_and_no_normalisation_layer():
    torch.manual_seed(0)
    g, d = build_networks(TINY)
    z, y = torch.randn(3, 8), torch.tensor([0, 1, 1])
    x = g(z, y)
    assert x.shape == (3, 1, 16, 16)
    assert d(x, y).shape == (3,)
    norms = (nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm, nn.InstanceNorm2d)
    assert not any(isinstance(m, norms) for m in [*g.modules(), *d.modules()])


def test_each_image_depends_on_its_own_latent_only():
    torch.manual_seed(0)
    g, d = build_networks(TINY)
    z, y = torch.randn(4, 8), torch.tensor([0, 1, 0, 1])
    with torch.no_grad():
        together = g(z, y)
        alone = torch.cat([g(z[i : i + 1], y[i : i + 1]) for i in range(4)])
        logits = d(together, y)
        logits_alone = torch.cat([d(together[i : i + 1], y[i : i + 1]) for i in range(4)])
    assert torch.allclose(together, alone, atol=1e-5)
    assert torch.allclose(logits, logits_alone, atol=1e-5)


def test_residual_blocks_start_as_the_identity():
    block = ResidualBlock(8, 2, 4, total_blocks=6)
    x = torch.randn(2, 8, 5, 5)
    assert torch.equal(block(x), x)
    # Fixup: the inner convolutions are He-initialised and scaled by L^(-1/4).
    fan_in = 8
    expected_std = (2 / (1 + 0.2**2) / fan_in) ** 0.5 * 6 ** (-0.25)
    assert abs(block.expand.weight.std().item() / expected_std - 1) < 0.15


def test_the_class_changes_the_image():
    torch.manual_seed(0)
    g, _ = build_networks(TINY)
    z = torch.randn(1, 8)
    with torch.no_grad():
        assert not torch.allclose(g(z, torch.tensor([0])), g(z, torch.tensor([1])))


def shifted(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Reference translation by a loop: out[i, j] = x[i - dy, j - dx], 0 outside."""
    out = torch.zeros_like(x)
    h, w = x.shape[-2:]
    for i in range(h):
        for j in range(w):
            if 0 <= i - dy < h and 0 <= j - dx < w:
                out[..., i, j] = x[..., i - dy, j - dx]
    return out


def test_translation_matches_a_loop_and_nothing_mirrors():
    x = torch.arange(64.0).reshape(1, 1, 8, 8).repeat(3, 1, 1, 1)  # no symmetry at all
    for seed in range(20):
        p = draw_augment(3, 8, 1.0, torch.Generator().manual_seed(seed))
        only_shift = AugmentParams(p.brightness * 0, p.contrast**0, p.shift, p.cutout * 0 - 1)
        out = apply_augment(x, only_shift)
        for b in range(3):
            dy, dx = p.shift[b].tolist()
            assert abs(dy) <= 1 and abs(dx) <= 1  # up to 1/8 of the side
            assert torch.equal(out[b], shifted(x[b], dy, dx))


def test_augmentation_is_differentiable():
    x = torch.randn(2, 1, 8, 8, requires_grad=True)
    out = apply_augment(x, draw_augment(2, 8, 1.0, torch.Generator().manual_seed(1)))
    (out * torch.randn_like(out)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_augmentation_off_is_the_identity():
    x = torch.randn(3, 1, 16, 16)
    params = draw_augment(3, 16, 0.0, torch.Generator().manual_seed(0))
    assert torch.allclose(apply_augment(x, params), x, atol=1e-6)
