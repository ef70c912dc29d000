"""The validation loss of a diffusion training run: fixed timesteps and noise per val example,
so values are comparable across checkpoints (pixel, latent and Stable Diffusion runs alike)."""

from __future__ import annotations

import math
from typing import Any

import torch

from radsynth.diffusion.loss import diffusion_loss
from radsynth.training.config import TrainConfig

#: Validation noise is drawn in fixed chunks, each from its own generator, so it does not depend
#: on batch size or device count, and never touches the training RNG.
VAL_CHUNK = 64
VAL_SEED = 0x5EED_0000


@torch.no_grad()
def validation_loss(
    model: torch.nn.Module,
    val: torch.Tensor,
    cfg: TrainConfig,
    alpha_bar: torch.Tensor,
    acc: Any,
    val_labels: torch.Tensor | None = None,
) -> float:
    """Mean loss over the first ``val_max_images`` val examples x ``val_repeats`` (``val``:
    (N, C, H, W) in model space, films in [-1, 1] or scaled latents), with fixed
    stratified timesteps t_k = floor((k + 1/2) T / K) and fixed seeded noise, so values are
    comparable across checkpoints. A conditional model sees each image's own class (never the
    null class). Returns NaN when there is no val split."""
    n = min(len(val), cfg.val_max_images)
    if n == 0:
        return math.nan
    total, T = n * cfg.val_repeats, cfg.num_train_timesteps
    sums = torch.zeros(2, device=acc.device, dtype=torch.float64)
    per_device = max(1, cfg.batch_size // acc.num_processes)
    was_training = model.training
    model.eval()
    for j, start in enumerate(range(0, total, VAL_CHUNK)):
        if j % acc.num_processes != acc.process_index:
            continue
        k = torch.arange(start, min(start + VAL_CHUNK, total))
        gen = torch.Generator().manual_seed(VAL_SEED + cfg.seed * 100_003 + j)
        noise = torch.randn((len(k), *val.shape[1:]), generator=gen)  # (K, 1, H, W)
        t = ((k + 0.5) * T / total).long()
        x0 = val[k % n]
        y = None if val_labels is None else val_labels[k % n]
        for s in range(0, len(k), per_device):
            part = slice(s, s + per_device)
            losses = diffusion_loss(
                model,
                x0[part].to(acc.device),
                t[part].to(acc.device),
                noise[part].to(acc.device),
                alpha_bar,
                cfg.prediction_type,
                None if y is None else y[part].to(acc.device),
            )
            sums += torch.stack([losses.double().sum(), losses.new_tensor(len(losses)).double()])
    model.train(was_training)
    sums = acc.reduce(sums, reduction="sum")
    return (sums[0] / sums[1]).item()
