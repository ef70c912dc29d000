"""The UNet config: shapes, bad shapes, and the paper preset's size against the study's 35.7M."""

from __future__ import annotations

import pytest
import torch

from radsynth.config import build_config
from radsynth.models.unet import UNetConfig, build_unet, count_parameters
from radsynth.training.config import TrainConfig, model_config


def test_tiny_unet_maps_shape(tiny_unet):
    x = torch.randn(2, 1, 32, 32)
    assert tiny_unet(x, torch.tensor([0, 5])).sample.shape == x.shape


def test_config_round_trip():
    cfg = UNetConfig(block_channels=(4, 8), attention_levels=(0, 1))
    assert UNetConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize(
    "bad, match",
    [
        ({"norm_groups": 3}, "norm_groups"),
        ({"image_size_px": 30, "block_channels": (4, 8, 8)}, "cannot be halved"),
        ({"attention_levels": (2,)}, "out of range"),
    ],
)
def test_bad_shapes(bad, match):
    with pytest.raises(ValueError, match=match):
        UNetConfig(**bad)


def test_paper_preset_matches_the_study_size():
    # lucidrains Unet(dim=64, dim_mults=(1, 2, 4, 8), channels=1) has 35.7M parameters.
    cfg = build_config(TrainConfig, {"data": ".", "out": ".", "preset": "paper"})
    with torch.device("meta"):  # shapes only: no memory, no init time
        model = build_unet(model_config(cfg))
    n = count_parameters(model)
    assert n == 36_384_449
    assert abs(n / 35.7e6 - 1) < 0.03
