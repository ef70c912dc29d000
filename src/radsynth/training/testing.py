"""Helpers for tests of other stages: a tiny, valid, randomly initialised checkpoint.

Written by the real save code in the real format, so samplers, metric sweeps and pipeline tests
can load it with :func:`radsynth.training.checkpoint.load_checkpoint` without training.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch

from radsynth.config import build_config, config_to_dict
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
