"""Fixtures for training tests: a tiny UNet, a fake ingest folder, a tiny checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from fake_runs import make_fake_ingest, make_tiny_checkpoint

from radsynth.models.unet import UNetConfig, build_unet

TINY_UNET = UNetConfig(
    image_size_px=32,
    channels=1,
    block_channels=(4, 8),
    layers_per_block=1,
    attention_levels=(1,),
    norm_groups=2,
    attention_head_dim=4,
)


@pytest.fixture
def tiny_unet() -> torch.nn.Module:
    """diffusers' test-sized UNet: channels (4, 8), 2 norm groups, 32x32, seeded."""
    torch.manual_seed(0)
    return build_unet(TINY_UNET)


@pytest.fixture
def fake_ingest(tmp_path: Path) -> Path:
    """12 train + 4 val images of 32 px in an ingest-shaped folder."""
    return make_fake_ingest(tmp_path / "data")


@pytest.fixture
def tiny_checkpoint(tmp_path: Path) -> Path:
    """A valid tiny checkpoint folder written by the real save code."""
    return make_tiny_checkpoint(tmp_path / "train", steps=0, seed=0)
