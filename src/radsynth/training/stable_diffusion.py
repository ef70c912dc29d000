"""``radsynth train DATA OUT --init-from SD``: fine-tune a Stable Diffusion UNet on films.

The VAE and text encoder stay frozen; the UNet is fine-tuned whole, or through LoRA adapters
(``--lora-rank R``, Hu et al. 2022, via peft). Each film is encoded once by the VAE (grey
repeated to 3 channels) and drawn as a fresh latent per stream position
(:class:`radsynth.training.latent_data.LatentSet`); its prompt comes from the label columns
through ``--prompt``, and is replaced by the empty prompt with probability ``--uncond-prob`` so
sampling can guide (Ho & Salimans 2022). Adam with the LR warm-up, noise, timesteps, the data
order, grad accumulation, activation checkpointing, the EMA, the val loss and several processes
work as for ``radsynth train``; the UNet shape and noise schedule come from the folder, so
those fields of the config do not apply, and ``--compile``/``--channels-last`` are refused.

Checkpoints (``OUT/checkpoints/step-NNNNNNN/``) hold the fine-tuned parameters only
(``model.safetensors`` online, ``ema.safetensors`` EMA: the whole UNet, or its LoRA adapters)
and ``config.json`` naming the SD folder and its digest; sampling loads the rest from that
folder and refuses one that changed. There is no ``state.pt``: ``--resume`` is refused.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from radsynth.config import config_to_dict
from radsynth.diffusion.schedule import alphas_cumprod
from radsynth.errors import RadsynthError
from radsynth.stage import StageResult, prepare_output_dir, write_manifest
from radsynth.training.accumulate import backward_in_parts, check_parts
from radsynth.training.checkpoint import CONFIG_FILE, WEIGHT_FILES, list_checkpoints, write_folder
from radsynth.training.conditioning import drop_condition
from radsynth.training.config import TrainConfig
from radsynth.training.curves import write_losses_csv
from radsynth.training.data import DataOrder, load_ingest
from radsynth.training.latent_data import LatentSet
from radsynth.training.optim import ema_decay_at, make_lr_scheduler
from radsynth.training.sd_folder import (
    PromptUNet,
    SDParts,
    add_lora,
    encode_prompts,
    folder_digest,
    load_sd_parts,
    prompt_classes,
    trainable,
)
from radsynth.training.throughput import throughput_meter, write_throughput_csv
from radsynth.training.validation import validation_loss

log = logging.getLogger(__name__)
SD_FORMAT = "radsynth-sd-checkpoint"
SD_VERSION = 1
#: TrainConfig fields the SD path cannot honour; each is refused when set.
REFUSED = {
    "resume": False,
    "autoencoder": None,
    "condition_on": (),
    "hflip": False,
    "compile": False,
    "channels_last": False,
}


def refuse_unsupported(cfg: TrainConfig) -> None:
    """One line for a setting that does not apply to SD fine-tuning."""
    for name, off in REFUSED.items():
        if getattr(cfg, name) != off:
            flag = "--" + name.replace("_", "-")
            raise RadsynthError(f"{flag} cannot be used with --init-from (Stable Diffusion)")
    if cfg.ema != "classic":
        raise RadsynthError("--ema posthoc cannot be used with --init-from (Stable Diffusion)")


@torch.no_grad()
def encode_films(parts: SDParts, films: torch.Tensor, device) -> tuple[torch.Tensor, ...]:
    """VAE posterior mean and std (N, 4, H/8, W/8) of grey films (N, 1, H, W) in [0, 1]."""
    means, stds = [], []
    for start in range(0, len(films), 16):
        x = (films[start : start + 16].float() * 2 - 1).repeat(1, 3, 1, 1).to(device)
        dist = parts.vae.encode(x).latent_dist
        means.append(dist.mean.float().cpu())
        stds.append(dist.std.float().cpu())
    if not means:
        return torch.zeros(0), torch.zeros(0)
    return torch.cat(means), torch.cat(stds)


def checkpoint_meta(cfg: TrainConfig, parts: SDParts, spec, prompts: list[str]) -> dict:
    """What config.json records: the folder and its digest, LoRA, classes and prompts."""
    return {
        "format": SD_FORMAT,
        "version": SD_VERSION,
        "train": config_to_dict(cfg),
        "stable_diffusion": {
            "path": str(parts.folder.resolve()),
            "sha256": folder_digest(parts.folder),
        },
        "lora_rank": cfg.lora_rank,
        "classes": spec.to_dict(),
        "prompts": prompts,
        "prediction_type": parts.prediction_type,
        "image_size_px": cfg.image_size_px,
    }


def save_sd_checkpoint(out: Path, step: int, online: dict, ema: dict, meta: dict) -> Path:
    """Write the fine-tuned tensors and config.json atomically into ``checkpoints/step-N``."""
    from safetensors.torch import save_file

    from radsynth.layout import checkpoint_folder

    def tensors(d: dict) -> Callable[[Path], None]:
        return lambda p: save_file({k: v.detach().cpu().contiguous() for k, v in d.items()}, p)

    files = {
        WEIGHT_FILES["online"]: tensors(online),
        WEIGHT_FILES["ema"]: tensors(ema),
        CONFIG_FILE: lambda p: p.write_text(json.dumps({**meta, "step": step}, indent=2)),
    }
    return write_folder(checkpoint_folder(out, step), files)


def train_stable_diffusion(cfg: TrainConfig, acc: Any) -> StageResult:
    """Fine-tune ``cfg.init_from``'s UNet on ``cfg.data``; see the module doc.

    Raises:
        RadsynthError: a missing component (named), an SDXL folder, a prompt naming a column
            the manifest lacks, an unsupported setting, or a NaN/inf loss (one line each).
    """
    refuse_unsupported(cfg)
    data = load_ingest(cfg.data, cfg.image_size_px)
    spec, labels, prompts = prompt_classes(data.manifest, cfg.prompt)
    parts = load_sd_parts(cfg.init_from)
    world, rank, device = acc.num_processes, acc.process_index, acc.device
    if cfg.batch_size % world:
        raise RadsynthError(f"batch_size {cfg.batch_size} is not divisible by {world} processes")
    per_device = cfg.batch_size // world
    check_parts(per_device, cfg.grad_accum_steps)
    if acc.is_main_process:
        prepare_output_dir(Path(cfg.out), "train", cfg)
    acc.wait_for_everyone()

    # Frozen parts once: the films' latents and the prompts' text states.
    parts.vae.to(device)
    mean, std = encode_films(parts, data.train, device)
    val_mean, _ = encode_films(parts, data.val, device)
    source = LatentSet(mean, std, val_mean, parts.scaling_factor)
    states = encode_prompts(parts, prompts)  # (K+1, 77, D)
    parts.vae.to("cpu")
    meta = checkpoint_meta(cfg, parts, spec, prompts)

    # The UNet: LoRA adapters or every weight; seeded so the adapters' init is reproducible.
    torch.manual_seed(cfg.seed)
    if cfg.lora_rank:
        add_lora(parts.unet, cfg.lora_rank)
    if cfg.gradient_checkpointing:
        parts.unet.enable_gradient_checkpointing()
    net = PromptUNet(parts.unet.to(device), states.to(device))
    params = trainable(parts.unet)
    ema = {k: p.detach().clone() for k, p in params.items()}
    optimizer = torch.optim.Adam(params.values(), lr=cfg.lr, betas=(cfg.adam_beta1, cfg.adam_beta2))
    scheduler = make_lr_scheduler(optimizer, cfg)  # --warmup-steps, then constant
    model, optimizer = acc.prepare(net, optimizer)
    model.train()
    # Images/s, MFU and peak memory per checkpoint, as for radsynth train.
    meter = throughput_meter(net, source.item_shape, device, world, conditional=True)
    alpha_bar = alphas_cumprod(parts.betas).float().to(device)
    gen = torch.Generator(device=device).manual_seed(cfg.seed * 1_000_003 + 1 + rank)
    order, T = DataOrder(len(data.train), cfg.seed), len(parts.betas)
    # The val loss of radsynth train, on the val films' posterior means and the folder's schedule.
    vcfg = replace(cfg, num_train_timesteps=T, prediction_type=parts.prediction_type)
    val_x0 = source.val_examples(cfg.val_max_images)
    step, position, history, window = 0, 0, [], []
    throughput, t_window = [], time.perf_counter()
    while step < cfg.total_steps:
        idx = order.batch(position, cfg.batch_size, rank, world)
        x0 = source.train_batch(idx, position + rank * per_device, cfg.seed, device)
        t = torch.randint(0, T, (per_device,), generator=gen, device=device)
        noise = torch.randn(x0.shape, generator=gen, device=device)
        # The prompt of each film, or the empty prompt (index K) with probability uncond_prob.
        y = drop_condition(labels["train"][idx].to(device), cfg.uncond_prob, spec.null_index, gen)
        loss = backward_in_parts(
            acc, model, x0, t, noise, alpha_bar, parts.prediction_type, y, cfg.grad_accum_steps
        )
        if cfg.max_grad_norm > 0:
            acc.clip_grad_norm_(list(params.values()), cfg.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():
            decay = ema_decay_at(step, cfg.ema_decay)
            torch._foreach_lerp_(
                list(ema.values()), [p.detach() for p in params.values()], 1 - decay
            )
        step, position = step + 1, position + cfg.batch_size
        window.append(acc.reduce(loss, reduction="mean").item())
        if not math.isfinite(window[-1]):
            raise RadsynthError(f"loss became {window[-1]} by step {step} (lr {cfg.lr:g}); stopped")
        if step % cfg.checkpoint_every_steps == 0 or step == cfg.total_steps:
            # The loss's .item() above synchronised the device, so the clock is true.
            meter.add(len(window) * cfg.batch_size, time.perf_counter() - t_window)
            throughput.append(meter.row(step))
            val = validation_loss(model, val_x0, vcfg, alpha_bar, acc, labels["val"])
            history.append({"step": step, "train_loss": sum(window) / len(window), "val_loss": val})
            window = []
            if acc.is_main_process:
                save_sd_checkpoint(Path(cfg.out), step, params, ema, meta)
                write_losses_csv(cfg.out, history)
                write_throughput_csv(cfg.out, throughput)
            acc.wait_for_everyone()
            t_window = time.perf_counter()  # saving time is not training time
    checkpoints = list_checkpoints(cfg.out)
    if acc.is_main_process:
        write_manifest(
            Path(cfg.out),
            "train",
            cfg,
            inputs=[data.manifest, *data.files],
            seeds={"seed": cfg.seed},
            extra={
                "final_step": step,
                "devices": world,
                "space": "stable-diffusion",
                "stable_diffusion": meta["stable_diffusion"],
                "checkpoints": [p.name for p in checkpoints],
            },
        )
    acc.wait_for_everyone()
    n = sum(p.numel() for p in params.values())
    what = f"LoRA rank {cfg.lora_rank}" if cfg.lora_rank else "the whole UNet"
    return StageResult(
        out=Path(cfg.out),
        summary=f"fine-tuned Stable Diffusion ({what}, {n:,} parameters) for {step} "
        f"steps; {len(checkpoints)} checkpoints in {cfg.out}",
    )
