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
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch

from radsynth.config import arg, build_config
from radsynth.diffusion.loss import diffusion_loss
from radsynth.diffusion.schedule import alphas_cumprod
from radsynth.models.unet import build_unet, count_parameters
from radsynth.stage import StageResult, atomic_write_text
from radsynth.training.config import TrainConfig, diffusion_config, model_config
from radsynth.training.optim import ema_update, make_optimizer
from radsynth.training.train import cpu_threads

#: Dense bf16 tensor-core peaks in FLOP/s from the vendors' datasheets (no sparsity),
#: matched against ``torch.cuda.get_device_name()``; the first matching key wins.
GPU_PEAK_BF16 = {
    "H200": 989e12,  # NVIDIA H200 SXM
    "H100 PCIe": 756e12,  # NVIDIA H100 PCIe
    "H100": 989e12,  # NVIDIA H100 SXM
    "A100": 312e12,  # NVIDIA A100
    "L40S": 362e12,  # NVIDIA L40S
    "A10G": 70e12,  # NVIDIA A10G (AWS)
    "L4": 121e12,  # NVIDIA L4
}


@dataclass(frozen=True)
class BenchTrainConfig:
    """Measure training images/s and MFU of a preset on this machine."""

    preset: Literal["tiny", "demo", "paper"] = arg("tiny", help="TrainConfig preset to measure")
    batch_size: int = arg(0, help="images per step (0 = the preset's)")
    steps: int = arg(20, help="timed training steps")
    warmup_steps: int = arg(3, help="untimed steps first (compilation, allocator, caches)")
    channels_last: Literal["auto", "on", "off"] = arg("auto", help="auto: on for GPU")
    compile: Literal["auto", "on", "off"] = arg("auto", help="torch.compile; auto: on for GPU")
    cpu: bool = arg(False, help="measure on the CPU even where a GPU exists")
    cpu_threads: int = arg(0, help="torch CPU threads (0 = torch's default)")
    seed: int = arg(0, help="seed of weights and synthetic batch")
    out: Path | None = arg(None, help="optional JSON file for the measured figures")

    # The preset names the TrainConfig preset measured; it sets no bench fields itself.
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {"tiny": {}, "demo": {}, "paper": {}}


def peak_flops(device: torch.device) -> tuple[float | None, str]:
    """(peak FLOP/s or None, how it was obtained) for the device a benchmark ran on."""
    if device.type == "cuda":
        name = torch.cuda.getdevice_name(device)
        for key, peak in GPU_PEAK_BF16.items():
            if key in name:
                return peak, f"{name}: datasheet bf16 dense peak"
        return None, f"{name}: peak unknown (add it to GPU_PEAK_BF16)"
    return cpu_peak_estimate()


def cpu_peak_estimate() -> tuple[float | None, str]:
    """Estimated fp32 peak: cores x clock x FLOP/cycle from the vector flags in /proc/cpuinfo
    (AVX-512 + FMA: 2 units x 16 lanes x 2 = 64; AVX2 + FMA: 2 x 8 x 2 = 32; else 8)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None, "CPU peak unknown (no /proc/cpuinfo)"
    flags = next((ln for ln in info.splitlines() if ln.startswith("flags")), "").split()
    mhz = [float(ln.split(":")[1]) for ln in info.splitlines() if ln.startswith("cpu MHz")]
    if not mhz:
        return None, "CPU peak unknown (no clock in /proc/cpuinfo)"
    per_cycle = 64 if "avx512f" in flags else 32 if {"avx2", "fma"} <= set(flags) else 8
    cores = len(os.sched_getaffinity(0))
    peak = cores * max(mhz) * 1e6 * per_cycle
    return peak, f"ESTIMATE: {cores} cores x {max(mhz):.0f} MHz x {per_cycle} fp32 FLOP/cycle"


def sdpa_cpu_flops(q, k, v, *args, out_shape=None, **kwargs) -> int:
    """FLOPs of torch's CPU flash-attention kernel, which FlopCounterMode does not count."""
    from torch.utils.flop_counter import sdpa_flop_count

    return sdpa_flop_count(q, k, v)


def _sdpa_cpu_backward_flops(grad_out, q, k, v, *args, out_shape=None, **kwargs) -> int:
    from torch.utils.flop_counter import sdpa_backward_flop_count

    return sdpa_backward_flop_count(grad_out, q, k, v)


def train_step_flops(model: torch.nn.Module, image: torch.Tensor) -> int:
    """FLOPs of forward + backward of the denoiser on ``image`` (1, C, H, W).

    torch's counter misses the CPU flash-attention kernels, so they are added with torch's own
    SDPA formulas."""
    from torch.utils.flop_counter import FlopCounterMode

    aten = torch.ops.aten
    custom = {
        aten._scaled_dot_product_flash_attention_for_cpu: sdpa_cpu_flops,
        aten._scaled_dot_product_flash_attention_for_cpu_backward: _sdpa_cpu_backward_flops,
    }
    t = torch.zeros(1, dtype=torch.long, device=image.device)
    with FlopCounterMode(display=False, custom_mapping=custom) as counter:
        model(image, t).sample.sum().backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def auto_flag(value: str, on_gpu: bool) -> bool:
    """An on/off/auto option: 'auto' means on for a GPU and off for a CPU."""
    return on_gpu if value == "auto" else value == "on"


def bench_train(cfg: BenchTrainConfig) -> StageResult:
    """Time ``cfg.steps`` full training steps (forward, backward, Adam, EMA) of a preset's model
    on a synthetic batch; print and return images/s and MFU."""
    with cpu_threads(cfg.cpu_threads):
        return _bench(cfg)


def _bench(cfg: BenchTrainConfig) -> StageResult:
    tcfg = build_config(TrainConfig, {"data": ".", "out": ".", "preset": cfg.preset})
    on_gpu = torch.cuda.is_available() and not cfg.cpu
    device = torch.device("cuda" if on_gpu else "cpu")
    batch = cfg.batch_size or tcfg.batch_size
    channels_last, compiled = auto_flag(cfg.channels_last, on_gpu), auto_flag(cfg.compile, on_gpu)
    dtype = torch.bfloat16 if on_gpu else None
    torch.manual_seed(cfg.seed)
    net = build_unet(model_config(tcfg)).to(device)
    memory = torch.channels_last if channels_last else torch.contiguous_format
    net.to(memory_format=memory)
    size = (1, 1, tcfg.image_size_px, tcfg.image_size_px)
    flops_per_image = train_step_flops(net, torch.randn(size, device=device))
    ema = copy.deepcopy(net).requires_grad_(False)
    optimizer = make_optimizer(net, tcfg)
    model = torch.compile(net) if compiled else net
    alpha_bar = alphas_cumprod(diffusion_config(tcfg).betas()).float().to(device)
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    x0 = torch.rand((batch, *size[1:]), generator=gen, device=device) * 2 - 1  # (B, 1, H, W)
    x0 = x0.contiguous(memory_format=memory)

    def step() -> None:
        t = torch.randint(0, tcfg.num_train_timesteps, (batch,), generator=gen, device=device)
        noise = torch.randn(x0.shape, generator=gen, device=device)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = diffusion_loss(model, x0, t, noise, alpha_bar, tcfg.prediction_type).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), tcfg.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        ema_update(ema, net, tcfg.ema_decay)

    for _ in range(cfg.warmup_steps):
        step()
    _sync(device)
    start = time.perf_counter()
    for _ in range(cfg.steps):
        step()
    _sync(device)
    seconds = time.perf_counter() - start
    images_per_s = cfg.steps * batch / seconds
    peak, peak_note = peak_flops(device)
    achieved = images_per_s * flops_per_image
    mfu = achieved / peak if peak else None
    figures = {
        "preset": cfg.preset, "device": device_name(device), "threads": torch.get_num_threads(),
        "batch_size": batch, "image_size_px": tcfg.image_size_px, "steps": cfg.steps,
        "parameters": count_parameters(net), "precision": "bf16" if dtype else "fp32",
        "channels_last": channels_last, "compile": compiled,
        "train_flops_per_image": flops_per_image, "images_per_s": images_per_s,
        "achieved_tflops": achieved / 1e12, "peak_tflops": peak / 1e12 if peak else None,
        "peak_source": peak_note, "mfu": mfu, "seconds": seconds,
    }  # fmt: skip
    mfu_text = emit_figures(figures, cfg.out)
    summary = (
        f"{cfg.preset}: {images_per_s:.1f} images/s on {figures['device']} "
        f"(batch {batch}, {figures['precision']}), {achieved / 1e12:.3f} TFLOP/s, "
        f"MFU {mfu_text} of {peak_note}"
    )
    return StageResult(out=cfg.out or Path("."), summary=summary)


def emit_figures(figures: dict, out: Path | None) -> str:
    """Print a benchmark's measured figures as JSON (and write them to ``out`` when given);
    returns the MFU as text for the summary line."""
    text = json.dumps(figures, indent=2)
    print(text)
    if out is not None:
        atomic_write_text(out, text + "\n")
    mfu = figures.get("mfu")
    return f"{100 * mfu:.2f}%" if mfu is not None else "unknown"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU model and how many cores this process may use."""
    if device.type == "cuda":
        return torch.cuda.getdevice_name(device)
    for line in (
        Path("/proc/cpuinfo").read_text().splitlines() if os.path.exists("/proc/cpuinfo") else []
    ):
        if line.startswith("model name"):
            return f"CPU {line.split(':', 1)[1].strip()} x{len(os.sched_getaffinity(0))}"
    return "CPU"
