"""The denoiser: a diffusers ``UNet2DModel`` described by a small frozen dataclass.

The ``paper`` preset mirrors the network of the study, lucidrains' denoising-diffusion-pytorch
``Unet(dim=64, dim_mults=(1, 2, 4, 8), channels=1)``: four resolution levels of widths
64/128/256/512 with two ResNet blocks each (GroupNorm(8), a 4*dim sinusoidal time embedding),
full self-attention at the lowest resolution and in the middle block. diffusers has no linear
attention, so the linear-attention layers lucidrains puts at the higher resolutions are left out.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from diffusers import UNet2DModel


@dataclass(frozen=True)
class UNetConfig:
    """Shape of a UNet2DModel. Defaults are a tiny test network (diffusers' own test sizes)."""

    image_size_px: int = 32  # side of the square input image, in pixels
    channels: int = 1  # image channels (1 for radiographs)
    block_channels: tuple[int, ...] = (4, 8)  # feature channels of each resolution level
    layers_per_block: int = 1  # ResNet blocks per level on the way down (up has one more)
    attention_levels: tuple[int, ...] = (1,)  # indices of levels that carry self-attention
    norm_groups: int = 2  # GroupNorm groups; must divide every block's channels
    attention_head_dim: int = 8  # channels per attention head
    dropout: float = 0.0  # dropout inside the ResNet blocks
    num_classes: int = 0  # conditional classes (0: unconditional); one more embedding is "none"

    def __post_init__(self) -> None:
        """Raises ValueError for a shape the network cannot take."""
        levels = len(self.block_channels)
        if levels == 0 or any(c <= 0 for c in self.block_channels):
            raise ValueError("block_channels must be positive widths, one per level")
        if self.norm_groups <= 0 or any(c % self.norm_groups for c in self.block_channels):
            raise ValueError(f"norm_groups={self.norm_groups} must divide every block channel")
        if self.image_size_px % (2 ** (levels - 1)):
            raise ValueError(
                f"image size {self.image_size_px} px cannot be halved {levels - 1} times"
            )
        if any(not 0 <= i < levels for i in self.attention_levels):
            raise ValueError(
                f"attention_levels {self.attention_levels} out of range 0..{levels - 1}"
            )
        if self.num_classes < 0 or self.num_classes == 1:
            raise ValueError("num_classes must be 0 (unconditional) or at least 2")
        if self.layers_per_block <= 0 or self.attention_head_dim <= 0:
            raise ValueError("layers_per_block and attention_head_dim must be positive")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples become lists)."""
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UNetConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``TypeError``."""
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**values)


def build_unet(cfg: UNetConfig) -> UNet2DModel:
    """Build the (randomly initialised) network; maps (B, C, H, W) x timestep -> (B, C, H, W).

    The shape was checked when ``cfg`` was made (see :meth:`UNetConfig.__post_init__`). With
    ``num_classes`` > 0 the network also takes ``class_labels`` (B,) in 0..num_classes, whose
    learned embedding is added to the time embedding (diffusers' ``num_class_embeds``); index
    ``num_classes`` is the null class of classifier-free guidance. An unconditional network
    has no class embedding, so its initial weights are the same as before conditioning existed.
    """
    levels = len(cfg.block_channels)
    attn = [i in cfg.attention_levels for i in range(levels)]
    down = tuple("AttnDownBlock2D" if a else "DownBlock2D" for a in attn)
    up = tuple("AttnUpBlock2D" if a else "UpBlock2D" for a in reversed(attn))
    return UNet2DModel(
        sample_size=cfg.image_size_px,
        in_channels=cfg.channels,
        out_channels=cfg.channels,
        block_out_channels=cfg.block_channels,
        layers_per_block=cfg.layers_per_block,
        down_block_types=down,
        up_block_types=up,
        norm_num_groups=cfg.norm_groups,
        attention_head_dim=cfg.attention_head_dim,
        dropout=cfg.dropout,
        num_class_embeds=cfg.num_classes + 1 if cfg.num_classes else None,
    )


def count_parameters(model: Any) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def set_attention(model: Any, kind: Literal["sdpa", "math"]) -> int:
    """Choose how the network's self-attention layers compute softmax(Q K^T / sqrt(d)) V
    (Vaswani et al. 2017); returns how many layers were set.

    ``sdpa`` is diffusers' default under torch 2 (``AttnProcessor2_0``): one call to
    ``torch.nn.functional.scaled_dot_product_attention``, which runs a fused flash or
    memory-efficient kernel and never holds the (HW x HW) score matrix. ``math`` is the explicit
    matrix products and softmax (``AttnProcessor``), kept to measure what SDPA gains. Both give
    the same outputs within float tolerance (tested).
    """
    from diffusers.models.attention_processor import Attention, AttnProcessor, AttnProcessor2_0

    layers = [m for m in model.modules() if isinstance(m, Attention)]
    for layer in layers:
        layer.set_processor(AttnProcessor2_0() if kind == "sdpa" else AttnProcessor())
    return len(layers)
