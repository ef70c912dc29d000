"""``radsynth train``: the DDPM training loop (Ho et al. 2020) on diffusers + accelerate.

One function, :func:`train`, reads top to bottom: data, output folder, model and EMA, optimizer,
resume, then the loop (draw batch, loss, step, EMA, log, checkpoint). Everything that sets the
trajectory (model init, data order, timesteps and noise) comes from ``cfg.seed``; a checkpoint
holds every state needed to go on bit-identically (see :mod:`radsynth.training.checkpoint`).

Multi-GPU and multi-node: ``accelerate launch -m radsynth.cli train DATA OUT ...``; the global
``batch_size`` is split across processes, and each reads its own shard of every global batch.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from radsynth.config import config_to_dict
from radsynth.diffusion.schedule import alphas_cumprod
from radsynth.errors import RadsynthError
from radsynth.hardware.contention import adaptive_cpu_threads
from radsynth.hardware.device import auto_flag, current_gpu
from radsynth.hardware.runtime import Runtime, resolve_runtime
from radsynth.hardware.threads import cpu_threads
from radsynth.layout import checkpoint_name
from radsynth.models.unet import build_unet, count_parameters
from radsynth.progress import log_checkpoint
from radsynth.stage import (
    StageResult,
    draw_figure,
    prepare_output_dir,
    write_manifest,
)
from radsynth.training import checkpoint as ckpt
from radsynth.training.accumulate import backward_in_parts, check_parts
from radsynth.training.autoencoder_checkpoint import AE_FILE
from radsynth.training.conditioning import drop_condition, read_class_labels
from radsynth.training.config import (
    TrainConfig,
    check_resumable,
    diffusion_config,
    model_config,
)
from radsynth.training.curves import plot_loss_curves, write_losses_csv
from radsynth.training.data import load_ingest
from radsynth.training.ema_snapshots import STATE_KEY as POSTHOC_KEY
from radsynth.training.ema_snapshots import attach as attach_posthoc_ema
from radsynth.training.latent_data import autoencoder_record
from radsynth.training.optim import ema_decay_at, ema_update, make_lr_scheduler, make_optimizer
from radsynth.training.resume import reopen_run, resume_point
from radsynth.training.rng import capture_rng_state, restore_rng_state
from radsynth.training.sources import (
    batch_drawer,
    check_resumed_autoencoder,
    open_autoencoder,
    training_set,
)
from radsynth.training.throughput import throughput_meter, write_throughput_csv
from radsynth.training.validation import validation_loss

log = logging.getLogger(__name__)


def train_runtime(cfg: TrainConfig) -> Runtime:
    """Training's runtime, resolved once: the device, bf16 (``--mixed-precision auto`` is bf16
    on a GPU, full precision on the CPU), channels-last and compile as given (on any device)."""
    rt = resolve_runtime(
        cfg.device,
        channels_last=cfg.channels_last,
        compile=cfg.compile,
        threads=cfg.cpu_threads or None,
        gpu_only=False,
    )
    return replace(rt, bf16=mixed_precision(cfg.mixed_precision, rt.on_gpu) == "bf16")


def mixed_precision(flag: str, on_gpu: bool) -> str:
    """accelerate's mixed precision for ``--mixed-precision``: auto is bf16 on a GPU only."""
    return ("bf16" if on_gpu else "no") if flag == "auto" else flag


def make_accelerator(cfg: TrainConfig, rt: Runtime) -> Any:
    """An ``accelerate.Accelerator`` on the runtime's device type, in its precision."""
    from accelerate import Accelerator

    precision = mixed_precision(cfg.mixed_precision, rt.on_gpu)
    return Accelerator(cpu=not rt.on_gpu, mixed_precision=precision)


def _saved_train_config(folder: Path) -> dict[str, Any]:
    return ckpt.read_checkpoint_config(folder)["train"]


def prepare_run(cfg: TrainConfig, is_main: bool) -> Path | None:
    """Create ``cfg.out`` or, with ``--resume``, find the checkpoint to go on from.

    Returns:
        The latest resumable checkpoint folder, or None to start from scratch.

    Raises:
        RadsynthError: ``out`` holds other output, or the saved config is incompatible.
    """
    out = Path(cfg.out)
    point = None
    if cfg.resume:
        point = resume_point(out, "train", ckpt.list_checkpoints(out), _saved_train_config)
    if point is None:
        if is_main:
            prepare_output_dir(out, "train", cfg)
        return None
    check_resumable(point.saved, cfg)
    if is_main:  # the run is unfinished again until this call completes
        reopen_run(out, "train", cfg)
    return point.checkpoint


def _restore(folder: Path, net, ema, optimizer, scheduler, gen, acc) -> dict[str, Any]:
    """Load weights and state into the live objects; returns step, data position, history."""
    ckpt.load_weights(net, folder / ckpt.WEIGHT_FILES["online"])
    ckpt.load_weights(ema, folder / ckpt.WEIGHT_FILES["ema"])
    state = ckpt.load_training_state(folder)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["lr_scheduler"])
    rng = state["rng"]
    if len(rng) == acc.num_processes:
        restore_rng_state(rng[acc.process_index])
        gen.set_state(rng[acc.process_index]["noise"])
    else:  # still a valid run, but no longer the same random stream
        log.warning(
            "resuming on %d processes, saved on %d: RNG not exact", acc.num_processes, len(rng)
        )
        gen.manual_seed(cfg_seed_offset(state["step"], acc.process_index))
    log.info("resuming from %s (step %d)", folder, state["step"])
    keys = ("step", "data_position", "history", "throughput", POSTHOC_KEY)
    return {k: state[k] for k in keys if k in state}


def cfg_seed_offset(step: int, rank: int) -> int:
    """A fresh noise seed for a rank when the saved per-rank RNG cannot be reused."""
    return 7_919 * (step + 1) + rank


def _save(cfg, acc, net, ema, optimizer, scheduler, gen, progress, meta) -> Path | None:
    """Gather every rank's RNG, write the checkpoint, losses.csv and loss_curves.png (main)."""
    from accelerate.utils import gather_object

    rng = gather_object([{**capture_rng_state(), "noise": gen.get_state()}])
    path = None
    if acc.is_main_process:
        if not all(torch.isfinite(p).all() for p in net.parameters()):
            raise RadsynthError(f"weights became NaN/inf at step {progress['step']}; not saved")
        state = {
            **progress,
            "optimizer": optimizer.state_dict(),
            "lr_scheduler": scheduler.state_dict(),
            "rng": rng,
        }
        path = ckpt.save_checkpoint(
            cfg.out, progress["step"], model=net, ema=ema, state=state, config=meta
        )
        ckpt.prune_states(cfg.out, cfg.keep_state_checkpoints)
        write_losses_csv(cfg.out, progress["history"])
        write_throughput_csv(cfg.out, progress.get("throughput", []))
        draw_figure("loss_curves.png", lambda: plot_loss_curves(cfg.out, progress["history"]))
    acc.wait_for_everyone()
    return path


def train(cfg: TrainConfig) -> StageResult:
    """Train a DDPM on ``cfg.data`` and write checkpoints and loss curves into ``cfg.out``.

    Raises:
        RadsynthError: bad data folder, refused output folder, incompatible ``--resume``,
            or a NaN/inf loss (the last good checkpoint is kept).
    """
    rt = train_runtime(cfg)
    with cpu_threads(cfg.cpu_threads), current_gpu(rt.device):
        return _train(cfg, rt)


def _train(cfg: TrainConfig, rt: Runtime) -> StageResult:
    from torch.utils.tensorboard import SummaryWriter
    from tqdm.auto import tqdm

    if cfg.init_from is not None:  # fine-tune a Stable Diffusion folder instead
        from radsynth.training.stable_diffusion import train_stable_diffusion

        return train_stable_diffusion(cfg, make_accelerator(cfg, rt))
    data = load_ingest(cfg.data, cfg.image_size_px)
    ae = open_autoencoder(cfg, data)  # None: pixel space; refuses a mismatch before any write
    check_resumed_autoencoder(cfg, ae)
    spec, labels = (
        read_class_labels(data.manifest, cfg.condition_on) if cfg.condition_on else (None, {})
    )
    acc = make_accelerator(cfg, rt)
    world, rank, device = acc.num_processes, acc.process_index, acc.device
    if cfg.batch_size % world:
        raise RadsynthError(f"batch_size {cfg.batch_size} is not divisible by {world} processes")
    check_parts(cfg.batch_size // world, cfg.grad_accum_steps)
    resume_from = prepare_run(cfg, acc.is_main_process)
    acc.wait_for_everyone()
    source = training_set(cfg, data, ae, acc)  # films, or their cached latents
    channels, side = source.item_shape[0], source.item_shape[1]
    n_classes = len(spec.names) if spec else 0
    mcfg = replace(model_config(cfg, channels=channels, num_classes=n_classes), image_size_px=side)
    dcfg = diffusion_config(cfg)
    meta = {"train": config_to_dict(cfg), "model": mcfg.to_dict(), "diffusion": dcfg.to_dict()}
    if spec is not None:
        meta["classes"] = spec.to_dict()  # names in embedding order, for the sampler
    if ae is not None:
        meta["autoencoder"] = autoencoder_record(ae)  # sampling loads and checks it
    alpha_bar = alphas_cumprod(dcfg.betas()).float().to(device)  # (T,)

    # Model, EMA, optimizer: the seed alone decides the initial weights.
    torch.manual_seed(cfg.seed)
    net = build_unet(mcfg).to(device)
    if cfg.gradient_checkpointing:
        net.enable_gradient_checkpointing()
    ema = copy.deepcopy(net).requires_grad_(False)
    optimizer = make_optimizer(net, cfg, device.type)
    scheduler = make_lr_scheduler(optimizer, cfg)
    gen = torch.Generator(device=device).manual_seed(cfg.seed * 1_000_003 + 1 + rank)
    progress: dict[str, Any] = {"step": 0, "data_position": 0, "history": []}
    if resume_from is not None:
        progress = _restore(resume_from, net, ema, optimizer, scheduler, gen, acc)
    posthoc = attach_posthoc_ema(cfg, net, progress, acc.is_main_process)  # None: classic only
    if rt.channels_last:
        net.to(memory_format=torch.channels_last)
        ema.to(memory_format=torch.channels_last)
    model, optimizer = acc.prepare(net, optimizer)
    if rt.compile:
        model = torch.compile(model, mode=cfg.compile_mode)
    model.train()
    threads = adaptive_cpu_threads(device.type, cfg.cpu_threads, world)  # None: count stays
    n_params = count_parameters(net)
    log.info("UNet with %s parameters on %s x%d", f"{n_params:,}", device, world)
    meter = throughput_meter(net, source.item_shape, device, world)  # MFU, memory

    on_device = auto_flag(cfg.data_on_device, rt.on_gpu)  # the training films kept on the GPU
    draw = batch_drawer(source, labels.get("train"), cfg.seed, device, on_device)
    val_x0 = source.val_examples(cfg.val_max_images)  # (N_val, C, H, W) in model space
    per_device, T = cfg.batch_size // world, cfg.num_train_timesteps
    writer = SummaryWriter(str(Path(cfg.out) / "tb")) if acc.is_main_process else None
    bar = tqdm(
        total=cfg.total_steps,
        initial=progress["step"],
        disable=not acc.is_main_process,
        desc="train",
        unit="step",
        dynamic_ncols=True,
    )
    window = torch.zeros((), device=device)  # sum of losses since the last log point
    window_steps, since_ckpt, t_log = 0, [], time.perf_counter()
    try:
        while progress["step"] < cfg.total_steps:
            # Draw this rank's share of the global batch: (B, C, H, W) films in [-1, 1], or
            # latents drawn at their stream positions, with their classes (or None).
            x0, y = draw(progress["data_position"], cfg.batch_size, rank, world)
            if cfg.hflip:
                flip = torch.rand(per_device, generator=gen, device=device) < 0.5
                x0 = torch.where(flip[:, None, None, None], x0.flip(-1), x0)
            if rt.channels_last:
                x0 = x0.contiguous(memory_format=torch.channels_last)
            t = torch.randint(0, T, (per_device,), generator=gen, device=device)
            noise = torch.randn(x0.shape, generator=gen, device=device, dtype=x0.dtype)
            if spec is not None:  # (B,) classes, some dropped to the null class
                y = drop_condition(y, cfg.uncond_prob, spec.null_index, gen)

            # Loss and backward (in grad_accum_steps parts), optimizer step.
            loss = backward_in_parts(
                acc, model, x0, t, noise, alpha_bar, cfg.prediction_type, y, cfg.grad_accum_steps
            )
            if cfg.max_grad_norm > 0:
                acc.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)

            # Update EMA.
            ema_update(ema, net, ema_decay_at(progress["step"], cfg.ema_decay))
            progress["step"] += 1
            progress["data_position"] += cfg.batch_size
            step = progress["step"]
            if posthoc is not None:  # post-hoc EMA profiles, and their snapshots when due
                posthoc.after_step(net, step)
            if threads is not None:  # fewer CPU threads while other processes use our cores
                threads.tick()
            window += loss.detach()
            window_steps += 1

            # Log: progress bar, TensorBoard, and the NaN/inf check.
            is_ckpt = step % cfg.checkpoint_every_steps == 0 or step == cfg.total_steps
            if step % cfg.log_every_steps == 0 or is_ckpt:
                mean_loss = (acc.reduce(window, reduction="mean") / window_steps).item()
                if not math.isfinite(mean_loss):
                    last = ckpt.list_checkpoints(cfg.out)
                    kept = f"last good checkpoint: {last[-1]}" if last else "no checkpoint saved"
                    raise RadsynthError(
                        f"loss became {mean_loss} by step {step} (lr {cfg.lr:g}); stopped, {kept}"
                    )
                elapsed = time.perf_counter() - t_log
                images_per_s = window_steps * cfg.batch_size / max(elapsed, 1e-9)
                meter.add(window_steps * cfg.batch_size, elapsed)
                bar.update(window_steps)
                bar.set_postfix(loss=f"{mean_loss:.4f}", img_s=f"{images_per_s:.1f}")
                if writer is not None:
                    writer.add_scalar("train/loss", mean_loss, step)
                    writer.add_scalar("train/images_per_s", images_per_s, step)
                    writer.add_scalar("train/lr", scheduler.get_last_lr()[0], step)
                since_ckpt.append((mean_loss, window_steps))
                window.zero_()
                window_steps, t_log = 0, time.perf_counter()

            # Checkpoint: validation loss, weights and state, loss curves.
            if is_ckpt:
                val = validation_loss(model, val_x0, cfg, alpha_bar, acc, labels.get("val"))
                train_loss = sum(m * n for m, n in since_ckpt) / sum(n for _, n in since_ckpt)
                since_ckpt = []
                row = {"step": step, "train_loss": train_loss, "val_loss": val}
                progress["history"].append(row)
                progress.setdefault("throughput", []).append(meter.row(step))
                if writer is not None:
                    writer.add_scalar("val/loss", val, step)
                _save(cfg, acc, net, ema, optimizer, scheduler, gen, progress, meta)
                if acc.is_main_process:
                    log_checkpoint(
                        log,
                        "train",
                        checkpoint_name(step),
                        f"saved; train loss {train_loss:.4f}, val loss {val:.4f}",
                    )
                t_log = time.perf_counter()  # saving time is not training time
    finally:
        bar.close()
        if writer is not None:
            writer.close()

    checkpoints = ckpt.list_checkpoints(cfg.out)
    if acc.is_main_process:
        write_manifest(
            Path(cfg.out),
            "train",
            cfg,
            inputs=[data.manifest, *data.files, *([ae.path / AE_FILE] if ae else [])],
            seeds={"seed": cfg.seed},
            extra={
                "parameters": n_params,
                "final_step": progress["step"],
                "devices": world,
                "space": "pixels" if ae is None else "latent",
                "checkpoints": [p.name for p in checkpoints],
            },
        )
    acc.wait_for_everyone()
    last = progress["history"][-1] if progress["history"] else {"val_loss": math.nan}
    return StageResult(
        out=Path(cfg.out),
        summary=(
            f"trained {progress['step']} steps of a {n_params / 1e6:.2f}M-parameter UNet; "
            f"{len(checkpoints)} checkpoints, last val loss {last['val_loss']:.4f}, in {cfg.out}"
        ),
    )
