"""R3GAN networks (Huang et al., NeurIPS 2024, "The GAN is dead; long live the GAN!"), our own code.

Both networks are stacks of residual blocks without any normalisation layer (sec. 4 of the
paper): each block is 1x1 conv -> leaky ReLU -> grouped 3x3 conv -> leaky ReLU -> 1x1 conv, added
to its input, with the Fixup initialisation of Zhang et al. 2019 (the last conv of every block
starts at zero and the others are scaled by L^(-1/(2m-2)) for L blocks of m convolutions), so the
untrained network is the identity along every residual path and no normalisation is needed.

* :class:`Generator`: an MLP maps (z, class) to the latent w, a learned 4x4 basis is modulated
  by w (the paper's generative basis), and each stage doubles the resolution (bilinear upsample,
  1x1 conv) before its residual blocks. There is no batch-dependent layer, so image n depends on
  its own latent only.
* :class:`Discriminator`: the mirror image, ending in a 4x4 depthwise conv to a feature vector
  phi(x), with the projection output of Miyato & Koyama 2018: D(x, y) = psi(phi(x)) +
  <embed(y), phi(x)>.

Shapes: images (B, C, H, W) in [-1, 1]; classes (B,) int64; latents (B, latent_dim).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

LEAK = 0.2  # leaky ReLU slope


@dataclass(frozen=True)
class GanShape:
    """The shape of a generator/discriminator pair (see :func:`radsynth.gan.config.model_shape`)."""

    image_size_px: int  # side of the square images
    channels: int  # image channels (1 for radiographs)
    stage_channels: tuple[int, ...]  # channels per resolution, 4 px up to image_size_px
    blocks_per_stage: int  # residual blocks per resolution
    expansion: int  # channel expansion inside a block
    group_channels: int  # channels per group of the grouped 3x3 conv
    latent_dim: int  # dimension of z and w
    mapping_layers: int  # layers of the mapping MLP
    num_classes: int  # 0: unconditional

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GanShape:
        return cls(**{**data, "stage_channels": tuple(data["stage_channels"])})

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "stage_channels": list(self.stage_channels)}

    @property
    def total_blocks(self) -> int:
        """L of the Fixup rule: residual blocks in one network."""
        return len(self.stage_channels) * self.blocks_per_stage


def _he(layer: nn.Module, scale: float = 1.0) -> nn.Module:
    """He-normal weights for a layer followed by a leaky ReLU, times ``scale``; zero bias."""
    nn.init.kaiming_normal_(layer.weight, a=LEAK, nonlinearity="leaky_relu")
    with torch.no_grad():
        layer.weight.mul_(scale)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


class ResidualBlock(nn.Module):
    """x + conv1x1(act(gconv3x3(act(conv1x1(x))))), no normalisation, Fixup-initialised."""

    def __init__(self, channels: int, expansion: int, group_channels: int, total_blocks: int):
        super().__init__()
        inner = channels * expansion
        scale = total_blocks ** (-1 / (2 * 3 - 2))  # m = 3 convolutions per block
        self.expand = _he(nn.Conv2d(channels, inner, 1), scale)
        self.spatial = _he(nn.Conv2d(inner, inner, 3, padding=1, groups=inner // group_channels))
        with torch.no_grad():
            self.spatial.weight.mul_(scale)
        self.project = nn.Conv2d(inner, channels, 1)
        nn.init.zeros_(self.project.weight)
        nn.init.zeros_(self.project.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.expand(x), LEAK)
        h = F.leaky_relu(self.spatial(h), LEAK)
        return x + self.project(h)


def _stage(shape: GanShape, channels: int) -> nn.Sequential:
    blocks = [
        ResidualBlock(channels, shape.expansion, shape.group_channels, shape.total_blocks)
        for _ in range(shape.blocks_per_stage)
    ]
    return nn.Sequential(*blocks)


def _pixel_norm(x: torch.Tensor) -> torch.Tensor:
    """Each row scaled to unit mean square (per sample: never mixes the batch)."""
    return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + 1e-8)


class Mapping(nn.Module):
    """(z, class) -> w: an MLP on the normalised latent and the normalised class embedding."""

    def __init__(self, shape: GanShape):
        super().__init__()
        d = shape.latent_dim
        self.embed = nn.Embedding(shape.num_classes, d) if shape.num_classes else None
        layers: list[nn.Module] = []
        for i in range(shape.mapping_layers):
            in_dim = 2 * d if i == 0 and self.embed is not None else d
            layers += [_he(nn.Linear(in_dim, d)), nn.LeakyReLU(LEAK)]
        self.mlp = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        h = _pixel_norm(z)  # (B, D)
        if self.embed is not None:
            h = torch.cat([h, _pixel_norm(self.embed(y))], dim=1)  # (B, 2D)
        return self.mlp(h)  # (B, D)


class Generator(nn.Module):
    """(z, class) -> image: 4 px generative basis, then upsample, 1x1 conv, blocks per stage."""

    def __init__(self, shape: GanShape):
        super().__init__()
        self.shape = shape
        c = shape.stage_channels
        self.mapping = Mapping(shape)
        self.basis = nn.Parameter(torch.randn(c[0], 4, 4))
        self.basis_mod = nn.Linear(shape.latent_dim, c[0])
        nn.init.normal_(self.basis_mod.weight, std=1 / math.sqrt(shape.latent_dim))
        nn.init.ones_(self.basis_mod.bias)
        self.transitions = nn.ModuleList(
            [nn.Identity()] + [_he(nn.Conv2d(a, b, 1)) for a, b in zip(c, c[1:], strict=False)]
        )
        self.stages = nn.ModuleList([_stage(shape, ch) for ch in c])
        self.to_image = nn.Conv2d(c[-1], shape.channels, 1)
        nn.init.normal_(self.to_image.weight, std=1 / math.sqrt(c[-1]))
        nn.init.zeros_(self.to_image.bias)

    def synthesis(self, w: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W) from mapped latents w (B, D)."""
        x = self.basis[None] * self.basis_mod(w)[:, :, None, None]  # (B, C0, 4, 4)
        for i, (transition, stage) in enumerate(zip(self.transitions, self.stages, strict=True)):
            if i > 0:
                x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            x = stage(transition(x))
        return self.to_image(F.leaky_relu(x, LEAK))

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.synthesis(self.mapping(z, y))


class Discriminator(nn.Module):
    """image (B, C, H, W) -> logit (B,): residual stages downwards, projection head."""

    def __init__(self, shape: GanShape):
        super().__init__()
        c = tuple(reversed(shape.stage_channels))  # from image_size_px down to 4 px
        self.from_image = _he(nn.Conv2d(shape.channels, c[0], 1))
        self.stages = nn.ModuleList([_stage(shape, ch) for ch in c])
        self.transitions = nn.ModuleList(
            [_he(nn.Conv2d(a, b, 1)) for a, b in zip(c, c[1:], strict=False)] + [nn.Identity()]
        )
        self.basis = _he(nn.Conv2d(c[-1], c[-1], 4, groups=c[-1]))  # 4x4 -> 1x1, depthwise
        self.psi = nn.Linear(c[-1], 1)
        self.embed = nn.Embedding(shape.num_classes, c[-1]) if shape.num_classes else None
        if self.embed is not None:
            nn.init.normal_(self.embed.weight, std=1 / math.sqrt(c[-1]))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """phi(x): (B, C) features of the images."""
        h = F.leaky_relu(self.from_image(x), LEAK)
        last = len(self.stages) - 1
        for i, (stage, transition) in enumerate(zip(self.stages, self.transitions, strict=True)):
            h = transition(stage(h))
            if i < last:
                h = F.avg_pool2d(h, 2)
        return F.leaky_relu(self.basis(h), LEAK).flatten(1)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        phi = self.features(x)  # (B, C)
        out = self.psi(phi)[:, 0]  # (B,)
        if self.embed is not None:
            out = out + (self.embed(y) * phi).sum(dim=1)  # projection (Miyato & Koyama 2018)
        return out


def build_networks(shape: GanShape) -> tuple[Generator, Discriminator]:
    """A fresh generator and discriminator (seed torch's global RNG first for fixed weights)."""
    return Generator(shape), Discriminator(shape)
