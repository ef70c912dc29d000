"""The autoencoder and discriminator as built: shapes, seeded latents, batch independence."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from radsynth.errors import RadsynthError
from radsynth.latent.perceptual import PerceptualNet, load_perceptual_net, perceptual_loss
from radsynth.models.autoencoder import (
    AutoencoderShape,
    build_autoencoder,
    build_discriminator,
    decode,
    draw_latent,
    encode_moments,
)

TINY = AutoencoderShape(
    image_size_px=32,
    channels=1,
    block_channels=(4, 8, 8),
    layers_per_block=1,
    latent_channels=3,
    norm_groups=2,
)


def test_round_trip_shapes():
    torch.manual_seed(0)
    ae = build_autoencoder(TINY).eval()
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    mean, std = encode_moments(ae, x)
    assert TINY.factor == 4 and TINY.latent_shape == (3, 8, 8)
    assert mean.shape == std.shape == (2, 3, 8, 8) and bool((std > 0).all())
    z = draw_latent(mean, std, torch.Generator().manual_seed(0))
    assert decode(ae, z).shape == (2, 1, 32, 32)
    assert AutoencoderShape.from_dict(TINY.to_dict()) == TINY


def test_latent_draw_uses_its_generator_only():
    mean, std = torch.zeros(1, 3, 8, 8), torch.ones(1, 3, 8, 8)
    torch.manual_seed(5)
    before = torch.get_rng_state()
    a = draw_latent(mean, std, torch.Generator().manual_seed(7))
    b = draw_latent(mean, std, torch.Generator().manual_seed(7))
    assert torch.equal(a, b) and torch.equal(torch.get_rng_state(), before)
    assert not torch.equal(a, draw_latent(mean, std, torch.Generator().manual_seed(8)))


def test_discriminator_scores_each_image_on_its_own():
    # Instance norm: an image's patch logits do not depend on the rest of its batch
    # (with MONAI's default BatchNorm in training mode they would).
    torch.manual_seed(0)
    disc = build_discriminator(8, 2, "instance").train()
    x = torch.rand(4, 1, 32, 32)
    alone = disc(x[:1])[-1]
    together = disc(x)[-1][:1]
    assert torch.allclose(alone, together, atol=1e-6)


def test_perceptual_net_loads_user_weights_and_refuses_others(tmp_path):
    torch.manual_seed(0)
    save_file(PerceptualNet().state_dict(), tmp_path / "net.safetensors")
    net = load_perceptual_net(tmp_path / "net.safetensors", torch.device("cpu"))
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    assert perceptual_loss(net, x, x).item() == pytest.approx(0.0, abs=1e-9)
    assert perceptual_loss(net, x, -x).item() > 0
    save_file({"w": torch.zeros(2)}, tmp_path / "other.safetensors")
    with pytest.raises(RadsynthError, match="does not hold radsynth PerceptualNet weights"):
        load_perceptual_net(tmp_path / "other.safetensors", torch.device("cpu"))
    with pytest.raises(RadsynthError, match="not found"):
        load_perceptual_net(tmp_path / "missing.safetensors", torch.device("cpu"))
