"""Test fixtures, kept out of the package: a tiny, valid, randomly initialised checkpoint
and fake ingest folders.

Written by the real save code in the real format, so samplers, metric sweeps and pipeline tests
can load it with :func:`radsynth.training.checkpoint.load_checkpoint` without training.
"""

from __future__ import annotations

import copy
import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from radsynth.config import build_config, config_to_dict
from radsynth.data.imageio import write_png
from radsynth.models.unet import build_unet
from radsynth.training.checkpoint import save_checkpoint
from radsynth.training.config import TrainConfig, diffusion_config, model_config
from radsynth.training.optim import make_lr_scheduler, make_optimizer
from radsynth.training.rng import capture_rng_state


def make_tiny_checkpoint(out_dir: Path, steps: int = 0, seed: int = 0) -> Path:
    """Write ``out_dir/checkpoints/step-{steps:07d}/`` for the ``tiny`` preset (32 px, 1 channel,
    100 timesteps) with weights drawn from ``seed``; returns that checkpoint folder.

    ``list_checkpoints(out_dir)`` and ``load_checkpoint(out_dir)`` find it. The EMA weights are
    the online weights, nudged by a seeded perturbation so the two files differ.
    """
    out_dir = Path(out_dir)
    cfg = build_config(TrainConfig, {"data": out_dir / "data", "out": out_dir, "preset": "tiny"})
    mcfg, dcfg = model_config(cfg), diffusion_config(cfg)
    torch.manual_seed(seed)
    model = build_unet(mcfg)
    ema = copy.deepcopy(model)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for p in ema.parameters():
            p.add_(1e-3 * torch.randn(p.shape, generator=gen))
    optimizer = make_optimizer(model, cfg)
    scheduler = make_lr_scheduler(optimizer, cfg)
    state = {
        "step": steps,
        "data_position": steps * cfg.batch_size,
        "optimizer": optimizer.state_dict(),
        "lr_scheduler": scheduler.state_dict(),
        "rng": [{**capture_rng_state(), "noise": gen.get_state()}],
        "history": [],
    }
    config = {"train": config_to_dict(cfg), "model": mcfg.to_dict(), "diffusion": dcfg.to_dict()}
    return save_checkpoint(out_dir, steps, model=model, ema=ema, state=state, config=config)


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


def make_disc_ingest(
    root: Path,
    counts: dict[str, int] | None = None,
    size_px: int = 32,
    seed: int = 0,
) -> Path:
    """An ingest-shaped folder for a two-class task: ``bright`` discs (peak 0.85-1.0) and
    ``dark`` discs (peak 0.25-0.4) alternate; manifest.csv has image, split, group, label.

    Args:
        counts: images per split, default ``{"train": 16, "val": 4, "test": 8}``.
    """
    counts = counts or {"train": 16, "val": 4, "test": 8}
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size_px, 0:size_px] / size_px
    rows = []
    for split, n in counts.items():
        for i in range(n):
            label = ("bright", "dark")[i % 2]
            peak = rng.uniform(0.85, 1.0) if label == "bright" else rng.uniform(0.25, 0.4)
            cx, cy, r = rng.uniform(0.35, 0.65), rng.uniform(0.35, 0.65), rng.uniform(0.2, 0.3)
            img = np.clip(1.2 - np.hypot(xx - cx, yy - cy) / r, 0, 1) * peak
            name = f"{split}/{len(rows):06d}.png"
            write_png(root / name, img.astype(np.float32))
            rows.append({"image": name, "split": split, "group": f"p{len(rows)}", "label": label})
    with open(root / "manifest.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["image", "split", "group", "label"])
        writer.writeheader()
        writer.writerows(rows)
    (root / "manifest.json").write_text(json.dumps({"stage": "ingest", "complete": True}))
    return root


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Run tiny networks on one thread, restoring the setting afterwards: on a shared 2-core
    test machine two spinning OpenMP threads cost ~30x the CPU time of one. Import it into a
    folder's conftest to use it there."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny-preset checkpoint (32 px, 100 timesteps) written by the real save code."""
    return make_tiny_checkpoint(tmp_path_factory.mktemp("train"), steps=2, seed=0)
