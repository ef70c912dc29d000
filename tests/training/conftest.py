"""Fixtures for training tests: a tiny UNet, a fake ingest folder, a tiny checkpoint."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from radsynth.data.imageio import write_png
from radsynth.models.unet import UNetConfig, build_unet
from radsynth.training.testing import make_tiny_checkpoint

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


def make_fake_ingest(
    root: Path, n_train: int = 12, n_val: int = 4, size_px: int = 32, seed: int = 0
) -> Path:
    """A folder shaped like `radsynth ingest` output: blurred-disc images in train/ and val/,
    manifest.csv (image, split) and a complete ingest manifest.json."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size_px, 0:size_px] / size_px
    rows = []
    for split, n in (("train", n_train), ("val", n_val)):
        for _ in range(n):
            cx, cy, r = rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7), rng.uniform(0.15, 0.3)
            img = np.clip(1.2 - np.hypot(xx - cx, yy - cy) / r, 0, 1) * rng.uniform(0.6, 1.0)
            name = f"{split}/{len(rows):06d}.png"
            write_png(root / name, img.astype(np.float32))
            rows.append({"image": name, "split": split})
    with open(root / "manifest.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["image", "split"])
        writer.writeheader()
        writer.writerows(rows)
    (root / "manifest.json").write_text(json.dumps({"stage": "ingest", "complete": True}))
    return root


@pytest.fixture
def fake_ingest(tmp_path: Path) -> Path:
    """12 train + 4 val images of 32 px in an ingest-shaped folder."""
    return make_fake_ingest(tmp_path / "data")


@pytest.fixture
def tiny_checkpoint(tmp_path: Path) -> Path:
    """A valid tiny checkpoint folder written by the real save code."""
    return make_tiny_checkpoint(tmp_path / "train", steps=0, seed=0)
