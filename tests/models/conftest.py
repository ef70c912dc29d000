"""Fixtures for model tests."""

from __future__ import annotations

import pytest
import torch

from radsynth.models.unet import UNetConfig, build_unet


@pytest.fixture
def tiny_unet() -> torch.nn.Module:
    """diffusers' test-sized UNet: channels (4, 8), 2 norm groups, 32x32, seeded."""
    torch.manual_seed(0)
    return build_unet(
        UNetConfig(block_channels=(4, 8), norm_groups=2, attention_head_dim=4, image_size_px=32)
    )
