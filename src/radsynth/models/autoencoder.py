"""The KL autoencoder (Kingma and Welling 2014; Rombach et al. 2022, sec. 3.1) over MONAI 1.6.1.

Images go in as (B, 1, H, W) in [-1, 1]; the encoder gives a diagonal Gaussian
N(mean, std^2) of shape (B, C, H / f, W / f) per image. Latents are drawn from it with an
explicit ``torch.Generator`` (MONAI's ``encode_stage_2_inputs`` draws from the global RNG), and
the decoder maps a latent back to an image.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch

from radsynth.errors import RadsynthError


@dataclass(frozen=True)
class AutoencoderShape:
    """Everything that fixes the autoencoder's architecture; stored in its checkpoint."""

    image_size_px: int  # side of the square images it was trained on
    channels: int  # image channels (1: grey films)
    block_channels: tuple[int, ...]  # feature channels per level; factor 2 ** (levels - 1)
    layers_per_block: int  # ResNet blocks per level
    latent_channels: int  # C of the latent
    norm_groups: int  # GroupNorm groups

    @property
    def factor(self) -> int:
        """Downsampling factor: image side / latent side."""
        return 2 ** (len(self.block_channels) - 1)

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        """(C, H / f, W / f) of one image's latent."""
        side = self.image_size_px // self.factor
        return (self.latent_channels, side, side)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "block_channels": list(self.block_channels)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AutoencoderShape:
        return cls(**{**d, "block_channels": tuple(d["block_channels"])})


def build_autoencoder(shape: AutoencoderShape) -> torch.nn.Module:
    """MONAI's AutoencoderKL for ``shape``, without attention anywhere (see the config)."""
    from monai.networks.nets import AutoencoderKL

    levels = len(shape.block_channels)
    return AutoencoderKL(
        spatial_dims=2,
        in_channels=shape.channels,
        out_channels=shape.channels,
        num_res_blocks=shape.layers_per_block,
        channels=shape.block_channels,
        attention_levels=(False,) * levels,
        latent_channels=shape.latent_channels,
        norm_num_groups=shape.norm_groups,
        with_encoder_nonlocal_attn=False,
        with_decoder_nonlocal_attn=False,
    )


def build_discriminator(
    channels: int, layers: int, norm: str, in_channels: int = 1
) -> torch.nn.Module:
    """MONAI's PatchGAN discriminator (Isola et al. 2017) with the chosen norm."""
    from monai.networks.nets import PatchDiscriminator

    return PatchDiscriminator(
        spatial_dims=2,
        channels=channels,
        in_channels=in_channels,
        num_layers_d=layers,
        norm="INSTANCE" if norm == "instance" else None,
        bias=norm == "none",  # a normalised conv's bias would be subtracted away
    )


def encode_moments(ae: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The posterior's mean and std, each (B, C, H / f, W / f), of images x (B, 1, H, W)."""
    mean, std = ae.encode(x)
    return mean, std


def draw_latent(mean: torch.Tensor, std: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """z = mean + std * eps, eps ~ N(0, I) drawn on the CPU from ``generator`` (the
    reparameterisation of Kingma and Welling 2014), so draws match across devices."""
    eps = torch.randn(mean.shape, generator=generator, dtype=mean.dtype)
    return mean + std * eps.to(mean.device)


def decode(ae: torch.nn.Module, z: torch.Tensor) -> torch.Tensor:
    """Images (B, 1, H, W), nominally in [-1, 1], of latents z (B, C, H / f, W / f)."""
    return ae.decode(z)


def decoder_last_layer(ae: torch.nn.Module) -> torch.nn.Parameter:
    """The weight of the decoder's output convolution (G_L in Esser et al. 2021, eq. 7)."""
    last = ae.decoder.blocks[-1]
    conv = getattr(last, "conv", last)
    if not isinstance(conv, torch.nn.Conv2d):
        raise RadsynthError("the autoencoder's decoder does not end in a convolution")
    return conv.weight
