"""``radsynth bench train``: training throughput (images/s) and model FLOPs utilization (MFU).

MFU (Chowdhery et al. 2022, PaLM, appendix B) = achieved model FLOP/s / the device's peak FLOP/s.
Model FLOPs of one training step (forward + backward) are counted by
``torch.utils.flop_counter.FlopCounterMode`` on one image and scaled by the batch size; the
optimizer and EMA updates are timed but not counted, as usual for MFU. On CPU the peak is not
published for a virtual machine, so it is *estimated* from the vector units the CPU reports, and
the printout says so.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch

from radsynth.config import CPU_ALIAS, Alias, arg, build_config
from radsynth.diffusion.loss import diffusion_loss
from radsynth.diffusion.schedule import alphas_cumprod
from radsynth.hardware.device import (
    auto_flag,
    device_name,
    peak_flops,
    peak_memory_gib,
    resolve_device,
)
from radsynth.hardware.figures import emit_figures
from radsynth.hardware.flags import bf16_arg, channels_last_arg, compile_arg, device_arg
from radsynth.hardware.flops import train_step_flops
from radsynth.hardware.threads import cpu_threads
from radsynth.hardware.timing import time_calls
from radsynth.models.unet import build_unet, count_parameters
from radsynth.stage import StageResult
from radsynth.training.config import TrainConfig, diffusion_config, model_config
from radsynth.training.optim import ema_update, make_optimizer


@dataclass(frozen=True)
class BenchTrainConfig:
    """Measure training images/s and MFU of a preset on this machine."""

    preset: Literal["tiny", "demo", "paper"] = arg("tiny", help="TrainConfig preset to measure")
    batch_size: int = arg(0, help="images per step (0 = the preset's)")
    steps: int = arg(20, help="timed training steps")
    warmup_steps: int = arg(3, help="untimed steps first (compilation, allocator, caches)")
    channels_last: Literal["auto", "on", "off"] = channels_last_arg("auto")
    compile: Literal["auto", "on", "off"] = compile_arg("auto")
    device: str = device_arg()
    bf16: Literal["auto", "on", "off"] = bf16_arg("auto")
    compile_backend: str = arg("inductor", help="torch.compile backend (eager: no codegen)")
    cpu_threads: int = arg(0, help="torch CPU threads (0 = torch's default)")
    seed: int = arg(0, help="seed of weights and synthetic batch")
    out: Path | None = arg(None, help="optional JSON file for the measured figures")

    #: ``--cpu`` (deprecated) still means ``--device cpu``, for one release.
    ALIASES: ClassVar[tuple[Alias, ...]] = (CPU_ALIAS,)
    # The preset names the TrainConfig preset measured; it sets no bench fields itself.
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {"tiny": {}, "demo": {}, "paper": {}}


def bench_train(cfg: BenchTrainConfig) -> StageResult:
    """Time ``cfg.steps`` full training steps (forward, backward, Adam, EMA) of a preset's model
    on a synthetic batch; print and return images/s and MFU."""
    with cpu_threads(cfg.cpu_threads):
        figures = measure_train(cfg)
    mfu_text = emit_figures(figures, cfg.out)
    summary = (
        f"{cfg.preset}: {figures['images_per_s']:.1f} images/s on {figures['device']} "
        f"(batch {figures['batch_size']}, {figures['precision']}), "
        f"{figures['achieved_tflops']:.3f} TFLOP/s, MFU {mfu_text} of {figures['peak_source']}"
    )
    return StageResult(out=cfg.out or Path("."), summary=summary)


def measure_train(cfg: BenchTrainConfig) -> dict[str, Any]:
    """The measured figures of one training benchmark (see :func:`bench_train`)."""
    tcfg = build_config(TrainConfig, {"data": ".", "out": ".", "preset": cfg.preset})
    device = resolve_device(cfg.device)
    on_gpu = device.type == "cuda"
    batch = cfg.batch_size or tcfg.batch_size
    channels_last, compiled = auto_flag(cfg.channels_last, on_gpu), auto_flag(cfg.compile, on_gpu)
    dtype = torch.bfloat16 if auto_flag(cfg.bf16, on_gpu) else None
    torch.manual_seed(cfg.seed)
    net = build_unet(model_config(tcfg)).to(device)
    memory = torch.channels_last if channels_last else torch.contiguous_format
    net.to(memory_format=memory)
    size = (1, 1, tcfg.image_size_px, tcfg.image_size_px)
    flops_per_image = train_step_flops(net, torch.randn(size, device=device))
    ema = copy.deepcopy(net).requires_grad_(False)
    optimizer = make_optimizer(net, tcfg)
    model = torch.compile(net, backend=cfg.compile_backend) if compiled else net
    alpha_bar = alphas_cumprod(diffusion_config(tcfg).betas()).float().to(device)
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    x0 = torch.rand((batch, *size[1:]), generator=gen, device=device) * 2 - 1  # (B, 1, H, W)
    x0 = x0.contiguous(memory_format=memory)

    def step(_: int) -> None:
        t = torch.randint(0, tcfg.num_train_timesteps, (batch,), generator=gen, device=device)
        noise = torch.randn(x0.shape, generator=gen, device=device)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = diffusion_loss(model, x0, t, noise, alpha_bar, tcfg.prediction_type).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), tcfg.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        ema_update(ema, net, tcfg.ema_decay)

    timing = time_calls(step, step, cfg.warmup_steps, cfg.steps, device)
    seconds = timing.seconds
    images_per_s = cfg.steps * batch / seconds
    peak, peak_note = peak_flops(device)
    achieved = images_per_s * flops_per_image
    return {
        "benchmark": "train",
        "preset": cfg.preset,
        "device": device_name(device),
        "threads": torch.get_num_threads(),
        "batch_size": batch,
        "image_size_px": tcfg.image_size_px,
        "steps": cfg.steps,
        "parameters": count_parameters(net),
        "precision": "bf16" if dtype else "fp32",
        "channels_last": channels_last,
        "compile": compiled,
        "warmup_seconds": timing.warmup_seconds,
        "train_flops_per_image": flops_per_image,
        "images_per_s": images_per_s,
        "achieved_tflops": achieved / 1e12,
        "peak_tflops": peak / 1e12 if peak else None,
        "peak_source": peak_note,
        "mfu": achieved / peak if peak else None,
        "peak_memory_gib": peak_memory_gib(device),
        "seconds": seconds,
    }
