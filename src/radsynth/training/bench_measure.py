"""The measurement behind ``radsynth bench train``: its config, and one timed run of training
steps on synthetic films, or on synthetic latents as `train --autoencoder` draws them (see
:mod:`radsynth.training.bench` for what MFU means here)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch

from radsynth.config import CPU_ALIAS, Alias, arg, build_config
from radsynth.diffusion.loss import diffusion_loss
from radsynth.diffusion.schedule import alphas_cumprod
from radsynth.errors import RadsynthError
from radsynth.hardware.device import auto_flag, device_name, peak_flops, resolve_device
from radsynth.hardware.figures import peak_memory
from radsynth.hardware.flags import (
    COMPILE_MODES,
    bf16_arg,
    channels_last_arg,
    compile_arg,
    compile_mode_arg,
    device_arg,
)
from radsynth.hardware.flops import train_step_flops
from radsynth.hardware.timing import time_calls
from radsynth.models.unet import build_unet, count_parameters, set_attention
from radsynth.training.config import TrainConfig, diffusion_config, effective_lr, model_config
from radsynth.training.device_data import batch_source
from radsynth.training.latent_data import LatentSet
from radsynth.training.optim import ema_update, make_optimizer, optimizer_impl
from radsynth.training.sources import Draw, batch_drawer

#: The study's training: 160,000 steps x 8 images, for the projected time of a full run.
STUDY_TRAIN_IMAGES = 1_280_000


@dataclass(frozen=True)
class BenchTrainConfig:
    """Measure training images/s and MFU of a preset on this machine (--levers: each speed
    lever alone against the eager fp32 baseline, one row each)."""

    preset: Literal["tiny", "demo", "paper", "latent-512", "latent-1024"] = arg(
        "tiny", help="TrainConfig preset to measure"
    )
    batch_size: int = arg(0, help="images per step (0 = the preset's)")
    steps: int = arg(20, help="timed training steps")
    warmup_steps: int = arg(3, help="untimed steps first (compilation, allocator, caches)")
    channels_last: Literal["auto", "on", "off"] = channels_last_arg("auto")
    compile: Literal["auto", "on", "off"] = compile_arg("auto")
    compile_mode: str = compile_mode_arg()
    device: str = device_arg()
    bf16: Literal["auto", "on", "off"] = bf16_arg("auto")
    compile_backend: str = arg("inductor", help="torch.compile backend (eager: no codegen)")
    optimizer_impl: Literal["auto", "fused", "foreach", "default"] = arg(
        "auto", help="Adam kernels: auto is fused on a GPU, torch's default on a CPU"
    )
    data_on_device: Literal["auto", "on", "off"] = arg(
        "auto", help="draw batches from uint8 images on the device (auto: on a GPU)"
    )
    attention: Literal["sdpa", "math"] = arg(
        "sdpa", help="attention: fused scaled_dot_product_attention, or explicit softmax"
    )
    lr_scale: Literal["none", "sqrt", "linear"] = arg(
        "sqrt", help="lr rule for a batch other than the preset's (see radsynth train)"
    )
    levers: bool = arg(False, help="the eager fp32 baseline, then each speed lever alone")
    dataset_images: int = arg(64, help="synthetic 8-bit training images batches are drawn from")
    cpu_threads: int = arg(0, help="torch CPU threads (0 = torch's default)")
    seed: int = arg(0, help="seed of weights and synthetic batch")
    latent_channels: int = arg(
        0, help="train on random latents with this many channels, as train --autoencoder (0: films)"
    )
    latent_factor: int = arg(8, help="side of the films / side of those latents")
    out: Path | None = arg(None, help="optional JSON file for the measured figures")

    #: ``--cpu`` (deprecated) still means ``--device cpu``, for one release.
    ALIASES: ClassVar[tuple[Alias, ...]] = (CPU_ALIAS,)
    # The preset names the TrainConfig preset measured; it sets no bench fields itself.
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {name: {} for name in TrainConfig.PRESETS}

    def __post_init__(self) -> None:
        if min(self.steps, self.dataset_images, self.latent_factor) < 1 or self.warmup_steps < 0:
            raise ValueError(
                "steps, dataset_images and latent_factor must be positive, warmup_steps >= 0"
            )
        if self.latent_channels < 0:
            raise ValueError("latent_channels must be >= 0 (0: train on films)")
        if self.compile_mode not in COMPILE_MODES:
            raise ValueError(f"compile_mode must be one of {', '.join(COMPILE_MODES)}")


def synthetic_images(n: int, size_px: int, seed: int) -> torch.Tensor:
    """``n`` random 8-bit films as the training loop holds them: float16 (n, 1, S, S) in
    [0, 1], each value k / 255."""
    gen = torch.Generator().manual_seed(seed)
    codes = torch.randint(0, 256, (n, 1, size_px, size_px), generator=gen)
    return (codes.float() / 255).half()


def synthetic_latents(n: int, shape: tuple[int, int, int], seed: int) -> LatentSet:
    """``n`` random posteriors of (C, h, w) latents (means N(0, 1), stds in [0.05, 0.25]),
    drawn as ``radsynth train --autoencoder`` draws its cached ones."""
    gen = torch.Generator().manual_seed(seed)
    mean = torch.randn((n, *shape), generator=gen)
    std = 0.05 + 0.2 * torch.rand((n, *shape), generator=gen)
    return LatentSet(mean, std, mean[:0], scale_factor=1.0)


def example_shape(cfg: BenchTrainConfig, size_px: int) -> tuple[int, int, int]:
    """(C, H, W) of one training example: a film, or its latent.

    Raises:
        RadsynthError: a factor that does not divide the preset's film size (one line).
    """
    if not cfg.latent_channels:
        return (1, size_px, size_px)
    if size_px % cfg.latent_factor:
        raise RadsynthError(f"latent_factor {cfg.latent_factor} does not divide {size_px} px")
    side = size_px // cfg.latent_factor
    return (cfg.latent_channels, side, side)


def _batches(cfg: BenchTrainConfig, shape, size_px: int, device, on_device: bool) -> Draw:
    """``draw(position, batch, rank, world)`` over synthetic films, or synthetic latents."""
    if not cfg.latent_channels:
        images = synthetic_images(cfg.dataset_images, size_px, cfg.seed)
        return batch_source(images, None, cfg.seed, device, on_device).draw
    latents = synthetic_latents(cfg.dataset_images, shape, cfg.seed)
    return batch_drawer(latents, None, cfg.seed, device, on_device=False)


def _train_config(cfg: BenchTrainConfig) -> TrainConfig:
    fields = {"data": ".", "out": ".", "preset": cfg.preset, "lr_scale": cfg.lr_scale}
    fields["optimizer_impl"] = cfg.optimizer_impl
    return build_config(
        TrainConfig, fields | ({"batch_size": cfg.batch_size} if cfg.batch_size else {})
    )


def measure_train(cfg: BenchTrainConfig) -> dict[str, Any]:
    """The measured figures of one training benchmark (see :func:`bench_train`), and under
    ``probe`` the trained network's output on a fixed probe batch (a tensor, for comparing
    levers; not JSON)."""
    tcfg = _train_config(cfg)
    device = resolve_device(cfg.device)
    on_gpu = device.type == "cuda"
    batch = tcfg.batch_size
    channels_last, compiled = auto_flag(cfg.channels_last, on_gpu), auto_flag(cfg.compile, on_gpu)
    dtype = torch.bfloat16 if auto_flag(cfg.bf16, on_gpu) else None
    shape = example_shape(cfg, tcfg.image_size_px)  # (C, H, W): a film or a latent
    torch.manual_seed(cfg.seed)
    mcfg = replace(model_config(tcfg, channels=shape[0]), image_size_px=shape[1])
    net = build_unet(mcfg).to(device)
    set_attention(net, cfg.attention)
    if tcfg.gradient_checkpointing:  # the latent-1024 preset's
        net.enable_gradient_checkpointing()
    memory = torch.channels_last if channels_last else torch.contiguous_format
    net.to(memory_format=memory)
    flops_per_image = train_step_flops(net, torch.randn((1, *shape), device=device))
    ema = copy.deepcopy(net).requires_grad_(False)
    optimizer = make_optimizer(net, tcfg, device.type)
    model = net
    if compiled:
        model = torch.compile(net, backend=cfg.compile_backend, mode=_mode(cfg))
    alpha_bar = alphas_cumprod(diffusion_config(tcfg).betas()).float().to(device)
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    on_device = auto_flag(cfg.data_on_device, on_gpu) and not cfg.latent_channels
    draw = _batches(cfg, shape, tcfg.image_size_px, device, on_device)
    loss_sum = torch.zeros((), device=device)  # summed on the device: no host sync per step

    def step(i: int) -> None:
        nonlocal loss_sum
        x0, _ = draw(i * batch, batch, 0, 1)  # (B, C, H, W): films in [-1, 1], or latents
        x0 = x0.contiguous(memory_format=memory)
        t = torch.randint(0, tcfg.num_train_timesteps, (batch,), generator=gen, device=device)
        noise = torch.randn(x0.shape, generator=gen, device=device)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = diffusion_loss(model, x0, t, noise, alpha_bar, tcfg.prediction_type).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), tcfg.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        ema_update(ema, net, tcfg.ema_decay)
        loss_sum = loss_sum + loss.detach().float()

    timing = time_calls(
        step, lambda i: step(cfg.warmup_steps + i), cfg.warmup_steps, cfg.steps, device
    )
    seconds = timing.seconds
    images_per_s = cfg.steps * batch / seconds
    peak, peak_note = peak_flops(device)
    achieved = images_per_s * flops_per_image
    memory_used = peak_memory(device)
    return {
        "benchmark": "train",
        "preset": cfg.preset,
        "device": device_name(device),
        "threads": torch.get_num_threads(),
        "batch_size": batch,
        "lr": effective_lr(tcfg),
        "image_size_px": tcfg.image_size_px,
        "latent_shape": list(shape) if cfg.latent_channels else None,
        "gradient_checkpointing": tcfg.gradient_checkpointing,
        "steps": cfg.steps,
        "parameters": count_parameters(net),
        "precision": "bf16" if dtype else "fp32",
        "channels_last": channels_last,
        "compile": compiled,
        "compile_mode": cfg.compile_mode if compiled else None,
        "compile_backend": cfg.compile_backend if compiled else None,
        "optimizer": optimizer_impl(cfg.optimizer_impl, device.type),
        "data_on_device": on_device,
        "attention": cfg.attention,
        "warmup_seconds": timing.warmup_seconds,
        "train_flops_per_image": flops_per_image,
        "images_per_s": images_per_s,
        "hours_for_study": STUDY_TRAIN_IMAGES / images_per_s / 3600,
        "achieved_tflops": achieved / 1e12,
        "peak_tflops": peak / 1e12 if peak else None,
        "peak_source": peak_note,
        "mfu": achieved / peak if peak else None,
        "peak_memory_gib": memory_used.gib,
        "peak_memory_source": memory_used.source,
        "mean_loss": (loss_sum / (cfg.warmup_steps + cfg.steps)).item(),
        "seconds": seconds,
        "probe": _probe(net, shape, device),
    }


def _mode(cfg: BenchTrainConfig) -> str | None:
    """torch.compile's mode; the eager backend (CPU smoke tests) takes none."""
    return None if cfg.compile_backend == "eager" else cfg.compile_mode


@torch.no_grad()
def _probe(net: torch.nn.Module, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """The network's float32 output on a fixed batch of 2 (C, H, W) examples (on the CPU), in
    eval mode."""
    gen = torch.Generator().manual_seed(0x9B0BE)
    x = torch.randn((2, *shape), generator=gen).to(device)
    was = net.training
    net.eval()
    out = net(x, torch.tensor([10, 500], device=device)).sample.float().cpu()
    net.train(was)
    return out
