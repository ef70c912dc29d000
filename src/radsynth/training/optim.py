"""Optimizer, learning-rate schedule and EMA of the training loop."""

from __future__ import annotations

import torch

from radsynth.training.config import TrainConfig, effective_lr


def optimizer_impl(flag: str, device_type: str) -> str:
    """``--optimizer-impl``: auto is torch's fused Adam kernel on a GPU (a few kernels for all
    parameters, no per-tensor launches) and torch's own default elsewhere ("default")."""
    if flag == "auto":
        return "fused" if device_type == "cuda" else "default"
    return flag


def make_optimizer(
    model: torch.nn.Module, cfg: TrainConfig, device_type: str = "cpu"
) -> torch.optim.Optimizer:
    """Adam with betas (0.9, 0.99) by default, the optimizer of lucidrains' Trainer, at the
    batch-scaled learning rate (:func:`effective_lr`), fused or foreach (:func:`optimizer_impl`).
    Both implementations keep the same state, so a checkpoint resumes with either."""
    impl = optimizer_impl(cfg.optimizer_impl, device_type)
    return torch.optim.Adam(
        model.parameters(),
        lr=effective_lr(cfg),
        betas=(cfg.adam_beta1, cfg.adam_beta2),
        fused=True if impl == "fused" else None,
        foreach=True if impl == "foreach" else None,
    )


class WarmupConstant:
    """LR factor: linear warm-up over ``warmup_steps``, then 1 (a picklable LambdaLR function)."""

    def __init__(self, warmup_steps: int) -> None:
        self.warmup_steps = warmup_steps

    def __call__(self, step: int) -> float:
        if self.warmup_steps <= 0:
            return 1.0
        return min(1.0, (step + 1) / self.warmup_steps)


def make_lr_scheduler(
    optimizer: torch.optim.Optimizer, cfg: TrainConfig
) -> torch.optim.lr_scheduler.LambdaLR:
    """Warm-up then constant LR. Constant, not decaying, so that extending ``total_steps`` on
    ``--resume`` keeps the run identical to one planned that long from the start."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, WarmupConstant(cfg.warmup_steps))


def ema_decay_at(step: int, max_decay: float) -> float:
    """EMA decay with the warm-up min(max, (1 + n) / (10 + n)) (as in diffusers' EMAModel and
    TensorFlow's ExponentialMovingAverage with num_updates), so early averages are not
    dominated by the random initial weights."""
    return min(max_decay, (1.0 + step) / (10.0 + step))


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * model, parameter-wise; buffers are copied."""
    ema_params = list(ema.parameters())
    params = [p.detach().to(e.dtype) for p, e in zip(model.parameters(), ema_params, strict=True)]
    torch._foreach_lerp_(ema_params, params, 1.0 - decay)
    for eb, b in zip(ema.buffers(), model.buffers(), strict=True):
        eb.copy_(b)
