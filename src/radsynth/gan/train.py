"""``radsynth train-gan``: the R3GAN training loop (Huang et al. 2024) on accelerate.

:func:`train_gan` reads top to bottom: data, output folder, networks and EMA, optimizers,
resume, then the loop (draw batch; discriminator step with RpGAN + R1 + R2; generator step;
EMA; log; checkpoint). Everything random (initial weights, data order, latents, augmentation)
comes from ``cfg.seed``, and a checkpoint holds every state needed to go on bit-identically.

Several processes (``accelerate launch -m radsynth.cli train-gan DATA OUT``): the global batch
is split across processes and each one's gradients are averaged with one all-reduce per network
and step (not DDP: a gradient penalty needs a double backward, which DDP does not support).
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

import torch

from radsynth.config import config_to_dict
from radsynth.errors import RadsynthError
from radsynth.gan import checkpoint as gan_ckpt
from radsynth.gan.augment import apply_augment, draw_augment
from radsynth.gan.config import GanTrainConfig, check_resumable, ema_beta, model_shape, steps_of
from radsynth.gan.curves import LOSS_PARTS, write_gan_losses
from radsynth.gan.loss import discriminator_loss, generator_loss
from radsynth.gan.model import GanShape, build_networks
from radsynth.hardware.device import current_gpu
from radsynth.hardware.runtime import Runtime, resolve_runtime
from radsynth.hardware.threads import cpu_threads
from radsynth.layout import checkpoint_name
from radsynth.progress import log_checkpoint
from radsynth.stage import StageResult, prepare_output_dir, write_manifest
from radsynth.training import checkpoint as ckpt
from radsynth.training.conditioning import read_class_labels
from radsynth.training.data import DataOrder, load_ingest
from radsynth.training.optim import ema_update
from radsynth.training.resume import reopen_run, resume_point
from radsynth.training.rng import capture_rng_state, restore_rng_state

log = logging.getLogger(__name__)
STAGE = "train-gan"


def _saved_gan_config(folder: Path) -> dict[str, Any]:
    return ckpt.read_checkpoint_config(folder, gan_ckpt.FORMAT)["train_gan"]


def prepare_run(cfg: GanTrainConfig, is_main: bool) -> Path | None:
    """Create ``cfg.out`` or, with ``--resume``, find the checkpoint to go on from.

    Raises:
        RadsynthError: ``out`` holds other output, or the saved config is incompatible.
    """
    out = Path(cfg.out)
    point = None
    if cfg.resume:
        point = resume_point(out, STAGE, ckpt.list_checkpoints(out), _saved_gan_config)
    if point is None:
        if is_main:
            prepare_output_dir(out, STAGE, cfg)
        return None
    check_resumable(point.saved, cfg)
    if is_main:  # the run is unfinished again until this call completes
        reopen_run(out, STAGE, cfg)
    return point.checkpoint


def sync_gradients(module: torch.nn.Module, acc: Any) -> None:
    """Average the gradients of ``module`` over all processes (one flat all-reduce)."""
    if acc.num_processes == 1:
        return
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    flat = acc.reduce(torch.cat([g.reshape(-1) for g in grads]), reduction="mean")
    for g, part in zip(grads, flat.split([g.numel() for g in grads]), strict=True):
        g.copy_(part.view_as(g))


def augmented_critic(disc, y, n: int, cfg: GanTrainConfig, gen: torch.Generator):
    """D on a (2n, ...) batch of n real then n fake images, each augmented with its own
    transforms (drawn now, from ``gen``); both halves have the classes ``y`` (n,) or None."""
    yy = None if y is None else torch.cat([y, y])
    if cfg.augment_p == 0:
        return lambda x: disc(x, yy)
    params = draw_augment(2 * n, cfg.image_size_px, cfg.augment_p, gen)
    return lambda x: disc(apply_augment(x, params), yy)


def discriminator_step(nets, opt, real, y, cfg, gen, acc) -> torch.Tensor:
    """One discriminator update; returns (5,) [loss, adversarial, r1, r2, 0] for the log."""
    g, d = nets["generator"], nets["discriminator"]
    z = torch.randn(len(real), cfg.latent_dim, generator=gen, device=real.device)
    with torch.no_grad():
        fake = g(z, y)  # (B, C, H, W)
    d.requires_grad_(True)
    parts = discriminator_loss(augmented_critic(d, y, len(real), cfg, gen), real, fake, cfg.gamma)
    parts.total.backward()
    sync_gradients(d, acc)
    opt.step()
    opt.zero_grad(set_to_none=True)
    zero = parts.total.new_zeros(())
    return torch.stack([parts.total, parts.adversarial, parts.r1, parts.r2, zero]).detach()


def generator_step(nets, opt, real, y, cfg, gen, acc) -> torch.Tensor:
    """One generator update (D frozen); returns its loss (a scalar) for the log."""
    g, d = nets["generator"], nets["discriminator"]
    z = torch.randn(len(real), cfg.latent_dim, generator=gen, device=real.device)
    d.requires_grad_(False)
    loss = generator_loss(augmented_critic(d, y, len(real), cfg, gen), real, g(z, y))
    loss.backward()
    sync_gradients(g, acc)
    opt.step()
    opt.zero_grad(set_to_none=True)
    return loss.detach()


def _restore(folder: Path, nets, opts, gen, acc) -> dict[str, Any]:
    """Load weights and states into the live objects; returns step, data position, history."""
    files = {"generator": ckpt.WEIGHT_FILES["online"], "ema": ckpt.WEIGHT_FILES["ema"]}
    files["discriminator"] = gan_ckpt.DISCRIMINATOR_FILE
    for name, file in files.items():
        ckpt.load_weights(nets[name], folder / file)
    state = ckpt.load_training_state(folder)
    for name, opt in opts.items():
        opt.load_state_dict(state["optimizers"][name])
    rng = state["rng"]
    if len(rng) == acc.num_processes:
        restore_rng_state(rng[acc.process_index])
        gen.set_state(rng[acc.process_index]["latents"])
    else:  # still a valid run, but no longer the same random stream
        log.warning(
            "resuming on %d processes, saved on %d: RNG not exact", acc.num_processes, len(rng)
        )
        gen.manual_seed(7_919 * (state["step"] + 1) + acc.process_index)
    log.info("resuming from %s (step %d)", folder, state["step"])
    return {k: state[k] for k in ("step", "data_position", "history")}


def _save(cfg, acc, nets, opts, gen, progress, meta) -> None:
    """Gather every rank's RNG; the main process writes the checkpoint and losses.csv."""
    from accelerate.utils import gather_object

    rng = gather_object([{**capture_rng_state(), "latents": gen.get_state()}])
    if acc.is_main_process:
        for name in ("generator", "discriminator"):
            if not all(torch.isfinite(p).all() for p in nets[name].parameters()):
                step = progress["step"]
                raise RadsynthError(f"{name} weights became NaN/inf at step {step}; {_kept(cfg)}")
        state = {**progress, "optimizers": {k: o.state_dict() for k, o in opts.items()}, "rng": rng}
        gan_ckpt.save_gan_checkpoint(cfg.out, progress["step"], nets, state, meta, acc.device)
        ckpt.prune_states(cfg.out, cfg.keep_state_checkpoints)
        write_gan_losses(cfg.out, progress["history"])
    acc.wait_for_everyone()


def _check_finite(means: torch.Tensor, step: int, cfg: GanTrainConfig) -> None:
    """Stop on a NaN/inf loss, keeping the last good checkpoint (nothing is saved after it)."""
    if not bool(torch.isfinite(means).all()):
        bad = ", ".join(f"{n} {v:g}" for n, v in zip(LOSS_PARTS, means.tolist(), strict=True))
        raise RadsynthError(f"loss became NaN/inf by step {step} ({bad}); {_kept(cfg)}")


def _kept(cfg: GanTrainConfig) -> str:
    last = ckpt.list_checkpoints(cfg.out)
    return f"stopped, last good checkpoint: {last[-1]}" if last else "stopped, no checkpoint saved"


def make_accelerator(rt: Runtime) -> Any:
    """An ``accelerate.Accelerator`` in full precision (several CPU processes use gloo)."""
    from accelerate import Accelerator

    return Accelerator(cpu=not rt.on_gpu)


def train_gan(cfg: GanTrainConfig) -> StageResult:
    """Train an R3GAN on ``cfg.data``; write checkpoints and ``losses.csv`` into ``cfg.out``.

    Raises:
        RadsynthError: bad data folder, refused output folder, incompatible ``--resume``,
            or a NaN/inf loss (the last good checkpoint is kept).
    """
    rt = resolve_runtime(cfg.device, threads=cfg.cpu_threads or None)  # fp32, eager
    with cpu_threads(cfg.cpu_threads), current_gpu(rt.device):
        return _train(cfg, rt)


def _train(cfg: GanTrainConfig, rt: Runtime) -> StageResult:
    from tqdm.auto import tqdm

    data = load_ingest(cfg.data, cfg.image_size_px)
    spec, labels = (
        read_class_labels(data.manifest, cfg.condition_on) if cfg.condition_on else (None, {})
    )
    acc = make_accelerator(rt)
    world, rank, device = acc.num_processes, acc.process_index, acc.device
    if cfg.batch_size % world:
        raise RadsynthError(f"batch_size {cfg.batch_size} is not divisible by {world} processes")
    resume_from = prepare_run(cfg, acc.is_main_process)
    acc.wait_for_everyone()
    shape = GanShape.from_dict(
        model_shape(cfg, data.train.shape[1], len(spec.names) if spec else 0)
    )
    meta: dict[str, Any] = {"train_gan": config_to_dict(cfg), "model": shape.to_dict()}
    if spec is not None:
        meta["classes"] = {"columns": list(spec.columns), "names": list(spec.names)}

    # Networks, EMA, optimizers: the seed alone decides the initial weights.
    torch.manual_seed(cfg.seed)
    generator, discriminator = (net.to(device) for net in build_networks(shape))
    ema = copy.deepcopy(generator).requires_grad_(False).eval()
    nets = {"generator": generator, "discriminator": discriminator, "ema": ema}
    betas = (cfg.adam_beta1, cfg.adam_beta2)
    opts = {
        name: torch.optim.Adam(nets[name].parameters(), lr=cfg.lr, betas=betas)
        for name in ("generator", "discriminator")
    }
    gen = torch.Generator(device=device).manual_seed(cfg.seed * 1_000_003 + 1 + rank)
    progress: dict[str, Any] = {"step": 0, "data_position": 0, "history": []}
    if resume_from is not None:
        progress = _restore(resume_from, nets, opts, gen, acc)
    n_params = {k: sum(p.numel() for p in nets[k].parameters()) for k in opts}
    log.info("R3GAN: G %s, D %s parameters on %s x%d", *n_params.values(), device, world)

    order = DataOrder(len(data.train), cfg.seed)
    total_steps = steps_of(cfg.total_kimg, cfg.batch_size)
    bar = tqdm(
        total=total_steps,
        initial=progress["step"],
        disable=not acc.is_main_process,
        desc=STAGE,
        unit="step",
        dynamic_ncols=True,
    )
    window = torch.zeros(len(LOSS_PARTS), device=device, dtype=torch.float64)
    since_ckpt = torch.zeros_like(window)
    window_steps = since_steps = 0
    try:
        while progress["step"] < total_steps:
            # Draw this rank's share of the global batch: (B, 1, H, W) in [-1, 1], classes (B,).
            idx = order.batch(progress["data_position"], cfg.batch_size, rank, world)
            real = data.train[idx].to(device).float() * 2 - 1
            y = labels["train"][idx].to(device) if spec is not None else None

            # Discriminator step, then generator step.
            parts = discriminator_step(nets, opts["discriminator"], real, y, cfg, gen, acc)
            parts[4] = generator_step(nets, opts["generator"], real, y, cfg, gen, acc)

            # Update EMA (half-life in images, with ramp-up).
            progress["step"] += 1
            progress["data_position"] += cfg.batch_size
            step, seen = progress["step"], progress["data_position"]
            ema_update(ema, generator, ema_beta(cfg, seen))
            window += parts.double()
            window_steps += 1

            # Log: progress bar and the NaN/inf check.
            is_ckpt = step % cfg.checkpoint_every_steps == 0 or step == total_steps
            if step % cfg.log_every_steps == 0 or is_ckpt:
                means = acc.reduce(window, reduction="mean") / window_steps
                _check_finite(means, step, cfg)
                bar.update(window_steps)
                bar.set_postfix(d=f"{means[0].item():.3f}", g=f"{means[4].item():.3f}")
                since_ckpt += means * window_steps
                since_steps += window_steps
                window.zero_()
                window_steps = 0

            # Checkpoint: weights, states, losses.csv.
            if is_ckpt:
                row = dict(zip(LOSS_PARTS, (since_ckpt / since_steps).tolist(), strict=True))
                progress["history"].append({"step": step, "kimg": seen / 1000, **row})
                since_ckpt.zero_()
                since_steps = 0
                _save(cfg, acc, nets, opts, gen, progress, meta)
                if acc.is_main_process:
                    summary = f"saved; D loss {row['loss_d']:.4f}, G loss {row['loss_g']:.4f}"
                    log_checkpoint(log, STAGE, checkpoint_name(step), summary)
    finally:
        bar.close()

    checkpoints = ckpt.list_checkpoints(cfg.out)
    if acc.is_main_process:
        write_manifest(
            Path(cfg.out),
            STAGE,
            cfg,
            inputs=[data.manifest, *data.files],
            seeds={"seed": cfg.seed},
            extra={
                "parameters": n_params,
                "final_step": progress["step"],
                "images_seen": progress["data_position"],
                "devices": world,
                "checkpoints": [p.name for p in checkpoints],
            },
        )
    acc.wait_for_everyone()
    return StageResult(
        out=Path(cfg.out),
        summary=(
            f"trained a GAN for {progress['step']} steps ({progress['data_position']:,} images); "
            f"{len(checkpoints)} checkpoints in {cfg.out}"
        ),
    )
