"""GAN throughput for ``radsynth bench gpu``: training and sampling images/s of a preset.

Training is timed over whole steps as :func:`radsynth.gan.train.train_gan` runs them (one
discriminator step with R1 and R2 and augmentation, one generator step, the EMA update) on a
synthetic batch; sampling over generator calls on seeded latents (the EMA network, fp32).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Literal

import torch

from radsynth.config import arg, build_config
from radsynth.gan.config import GanTrainConfig, ema_beta, model_shape
from radsynth.gan.model import GanShape, build_networks
from radsynth.gan.sample import seed_latents
from radsynth.hardware.device import device_name, peak_memory_gib, resolve_device
from radsynth.hardware.flags import device_arg
from radsynth.hardware.timing import time_calls
from radsynth.training.optim import ema_update


@dataclass(frozen=True)
class BenchGanConfig:
    """Time GAN training steps or generator calls of a GanTrainConfig preset."""

    mode: Literal["train", "sample"] = arg("train", help="time training steps or sampling")
    network: str = arg("paper", help="GanTrainConfig preset of the networks")
    device: str = device_arg()
    batch_size: int = arg(0, help="images per step or call (0: the preset's training batch)")
    steps: int = arg(10, help="timed steps or calls")
    warmup_steps: int = arg(2, help="untimed steps or calls first")
    num_classes: int = arg(2, help="classes of the conditional networks")
    seed: int = arg(0, help="seed of the weights and the synthetic batch")


def measure_gan(cfg: BenchGanConfig) -> dict[str, Any]:
    """The measured figures of one GAN benchmark: images/s, peak memory, parameters."""
    from radsynth.gan.train import discriminator_step, generator_step

    tcfg = build_config(GanTrainConfig, {"data": ".", "out": ".", "preset": cfg.network})
    device = resolve_device(cfg.device)
    batch = cfg.batch_size or tcfg.batch_size
    torch.manual_seed(cfg.seed)
    shape = GanShape.from_dict(model_shape(tcfg, 1, cfg.num_classes))
    g, d = (net.to(device) for net in build_networks(shape))
    nets = {"generator": g, "discriminator": d, "ema": copy.deepcopy(g).requires_grad_(False)}
    opts = {
        k: torch.optim.Adam(nets[k].parameters(), lr=tcfg.lr)
        for k in ("generator", "discriminator")
    }
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    size = tcfg.image_size_px
    real = torch.rand((batch, 1, size, size), generator=gen, device=device) * 2 - 1
    y = torch.randint(0, cfg.num_classes, (batch,), generator=gen, device=device)
    one_process = SimpleNamespace(num_processes=1)

    def train_step(_: int) -> None:
        discriminator_step(nets, opts["discriminator"], real, y, tcfg, gen, one_process)
        generator_step(nets, opts["generator"], real, y, tcfg, gen, one_process)
        ema_update(nets["ema"], g, ema_beta(tcfg, 10**9))

    @torch.no_grad()
    def sample_call(i: int) -> None:
        z = seed_latents(range(i * batch, (i + 1) * batch), shape.latent_dim).to(device)
        nets["ema"](z, y)

    step = train_step if cfg.mode == "train" else sample_call
    timing = time_calls(step, step, cfg.warmup_steps, cfg.steps, device)
    images_per_s = cfg.steps * batch / timing.seconds
    figures = {
        "benchmark": f"{cfg.mode}-gan",
        "preset": cfg.network,
        "device": device_name(device),
        "batch_size": batch,
        "image_size_px": size,
        "steps": cfg.steps,
        "parameters": {k: sum(p.numel() for p in nets[k].parameters()) for k in opts},
        "precision": "fp32",
        "compile": False,
        "warmup_seconds": timing.warmup_seconds,
        "images_per_s": images_per_s,
        "mfu": None,
        "peak_memory_gib": peak_memory_gib(device),
        "seconds": timing.seconds,
    }
    if cfg.mode == "sample":
        figures["minutes_for_27000"] = 27_000 / images_per_s / 60
    return figures
