"""``radsynth train-autoencoder``: train the first stage of a latent diffusion model.

:func:`train_autoencoder` reads top to bottom: data, model and discriminator, resume, output
folder, then the loop (draw batch, autoencoder step, discriminator step, log, checkpoint), then
the latent scale factor and the reconstruction report. The seed alone sets the trajectory:
weights from ``torch.manual_seed(seed)``, the data order from :class:`DataOrder`, the latent
noise from one CPU generator whose state every checkpoint keeps, so a resumed run ends with the
same weights as an uninterrupted one. Plain torch on one device (CPU or GPU).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from radsynth.config import config_to_dict
from radsynth.errors import RadsynthError
from radsynth.hardware.device import current_gpu
from radsynth.hardware.runtime import resolve_runtime
from radsynth.hardware.threads import cpu_threads
from radsynth.latent.config import AutoencoderConfig, check_resumable
from radsynth.latent.losses import (
    adaptive_weight,
    hinge_d_loss,
    hinge_g_loss,
    kl_divergence,
    patch_logits,
    reconstruction_loss,
)
from radsynth.latent.perceptual import load_perceptual_net, perceptual_loss
from radsynth.latent.report import write_report
from radsynth.models.autoencoder import (
    AutoencoderShape,
    build_autoencoder,
    build_discriminator,
    decode,
    decoder_last_layer,
    draw_latent,
    encode_moments,
)
from radsynth.stage import (
    StageResult,
    atomic_path,
    prepare_output_dir,
    write_manifest,
)
from radsynth.training import autoencoder_checkpoint as ckpt
from radsynth.training.data import DataOrder, TrainingData, load_ingest
from radsynth.training.resume import reopen_run, resume_point
from radsynth.training.throughput import autoencoder_meter, write_throughput_csv

log = logging.getLogger(__name__)

STAGE = "train-autoencoder"
#: Seed base of the per-image noise that draws the training latents for the scale factor.
SCALE_SEED = 0x5CA1_E000
#: At most this many val images for the val loss at each checkpoint.
VAL_MAX_IMAGES = 64
AUTOENCODER_LOSS_COLUMNS = ("step", "rec", "kl", "g_adv", "adaptive_weight", "d_loss", "val_rec")


def model_shape(cfg: AutoencoderConfig, channels: int) -> AutoencoderShape:
    """The autoencoder a config asks for, for images of ``channels`` channels."""
    return AutoencoderShape(
        image_size_px=cfg.image_size_px,
        channels=channels,
        block_channels=tuple(cfg.block_channels),
        layers_per_block=cfg.layers_per_block,
        latent_channels=cfg.latent_channels,
        norm_groups=cfg.norm_groups,
    )


def _saved_autoencoder_config(folder: Path) -> dict[str, Any]:
    return ckpt.read_config(folder).get("autoencoder_train", {})


def find_resume(cfg: AutoencoderConfig) -> Path | None:
    """The checkpoint to go on from with ``--resume`` (None: start afresh). Writes nothing.

    Raises:
        RadsynthError: OUT holds another stage's output, or a config that may not resume.
    """
    if not cfg.resume:
        return None
    out = Path(cfg.out)
    point = resume_point(out, STAGE, ckpt.list_checkpoints(out), _saved_autoencoder_config)
    if point is None or point.checkpoint is None:
        return None
    check_resumable(point.saved, cfg)
    return point.checkpoint


@dataclass(frozen=True)
class Nets:
    """The networks of one run and their optimizers."""

    ae: torch.nn.Module  # MONAI AutoencoderKL
    disc: torch.nn.Module  # MONAI PatchDiscriminator
    opt_g: torch.optim.Optimizer  # Adam over the autoencoder
    opt_d: torch.optim.Optimizer  # Adam over the discriminator
    perceptual: torch.nn.Module | None  # frozen PerceptualNet, or None


def restore(folder: Path, nets: Nets, gen: torch.Generator) -> dict[str, Any]:
    """Load weights, both optimizers and the noise RNG; return step, data position, history.

    Raises:
        RadsynthError: a corrupt or mismatched checkpoint (one line).
    """
    ckpt.load_weights(nets.ae, folder / ckpt.AE_FILE)
    ckpt.load_weights(nets.disc, folder / ckpt.DISC_FILE)
    state = ckpt.load_state(folder)
    try:
        nets.opt_g.load_state_dict(state["opt_g"])
        nets.opt_d.load_state_dict(state["opt_d"])
        gen.set_state(state["noise"])
        kept = {k: state[k] for k in ("step", "data_position", "history")}
        return kept | {"throughput": state.get("throughput", [])}  # none before the record
    except (KeyError, ValueError, RuntimeError, TypeError) as exc:
        raise RadsynthError(f"corrupt training state in {folder}: {exc}".splitlines()[0]) from None


def train_step(
    x: torch.Tensor, nets: Nets, gen: torch.Generator, cfg: AutoencoderConfig, step: int
) -> dict[str, torch.Tensor]:
    """One autoencoder step and, from ``disc_start_step`` (1-based), one discriminator step.

    Args:
        x: (B, 1, H, W) films in [-1, 1].
        step: the 1-based number of this step.

    Returns:
        The detached losses of the step, by name (see AUTOENCODER_LOSS_COLUMNS).
    """
    ae, disc = nets.ae, nets.disc
    mean, std = encode_moments(ae, x)  # (B, C, H/f, W/f) each
    recon = decode(ae, draw_latent(mean, std, gen))  # (B, 1, H, W)
    rec = reconstruction_loss(recon, x, cfg.ssim_weight)
    if nets.perceptual is not None:
        rec = rec + cfg.perceptual_weight * perceptual_loss(nets.perceptual, recon, x)
    kl = kl_divergence(mean, std)
    loss = rec + cfg.kl_weight * kl
    zero = x.new_zeros(())
    g_adv, lam, d_loss = zero, zero, zero
    adversarial = step >= cfg.disc_start_step and cfg.adv_weight > 0
    if adversarial:
        g_adv = hinge_g_loss(patch_logits(disc, recon))
        lam = adaptive_weight(rec, g_adv, decoder_last_layer(ae))
        loss = loss + cfg.adv_weight * lam * g_adv

    # Autoencoder step.
    nets.opt_g.zero_grad(set_to_none=True)
    loss.backward()
    nets.opt_g.step()

    # Discriminator step (its gradients from the autoencoder's loss are dropped first).
    if adversarial:
        nets.opt_d.zero_grad(set_to_none=True)
        real, fake = patch_logits(disc, x), patch_logits(disc, recon.detach())
        d_loss = hinge_d_loss(real, fake)
        d_loss.backward()
        nets.opt_d.step()
    parts = {"rec": rec, "kl": kl, "g_adv": g_adv, "adaptive_weight": lam, "d_loss": d_loss}
    return {k: v.detach() for k, v in parts.items()}


@torch.no_grad()
def val_reconstruction(ae: torch.nn.Module, val: torch.Tensor, cfg: AutoencoderConfig) -> float:
    """Mean reconstruction loss of the posterior means of the first val images (NaN if none)."""
    device = next(ae.parameters()).device
    total, n = 0.0, min(len(val), VAL_MAX_IMAGES)
    for i in range(0, n, cfg.batch_size):
        x = val[i : min(i + cfg.batch_size, n)].to(device).float() * 2 - 1
        recon = decode(ae, encode_moments(ae, x)[0])
        total += reconstruction_loss(recon, x, cfg.ssim_weight).item() * len(x)
    return total / n if n else math.nan


@torch.no_grad()
def latent_scale_factor(ae: torch.nn.Module, images: torch.Tensor, batch_size: int) -> float:
    """1 / std of the training latents z = mean + std * eps (Rombach et al. 2022, sec. G),
    image i's eps drawn from a generator seeded ``SCALE_SEED + i`` (so batch size does not
    matter); the std is the unbiased one over every latent element of every image."""
    device = next(ae.parameters()).device
    total = torch.zeros(3, dtype=torch.float64)  # count, sum, sum of squares
    for i in range(0, len(images), batch_size):
        x = images[i : i + batch_size].to(device).float() * 2 - 1
        mean, std = encode_moments(ae, x)
        for j in range(len(x)):
            gen = torch.Generator().manual_seed(SCALE_SEED + i + j)
            z = draw_latent(mean[j : j + 1], std[j : j + 1], gen).double().cpu()
            total += torch.stack([z.new_tensor(z.numel()), z.sum(), z.pow(2).sum()])
    n, s, s2 = total.tolist()
    var = (s2 - s * s / n) / (n - 1)
    return 1.0 / math.sqrt(var)


def write_losses(out: Path, history: list[dict[str, float]]) -> None:
    """``losses.csv``: one row per checkpoint, the means since the last one (atomic)."""
    with atomic_path(out / "losses.csv") as tmp:
        lines = [",".join(AUTOENCODER_LOSS_COLUMNS)]
        lines += [",".join(f"{row[c]:.6g}" for c in AUTOENCODER_LOSS_COLUMNS) for row in history]
        tmp.write_text("\n".join(lines) + "\n")


def _save(
    cfg: AutoencoderConfig,
    nets: Nets,
    gen: torch.Generator,
    progress: dict[str, Any],
    meta: dict[str, Any],
) -> Path:
    """Check the weights are finite, then write the checkpoint and losses.csv."""
    for net in (nets.ae, nets.disc):
        if not all(torch.isfinite(p).all() for p in net.parameters()):
            raise RadsynthError(f"weights became NaN/inf at step {progress['step']}; not saved")
    state = {
        **progress,
        "opt_g": nets.opt_g.state_dict(),
        "opt_d": nets.opt_d.state_dict(),
        "noise": gen.get_state(),
    }
    path = ckpt.save_checkpoint(
        cfg.out, progress["step"], ae=nets.ae, disc=nets.disc, state=state, config=meta
    )
    write_losses(Path(cfg.out), progress["history"])
    write_throughput_csv(Path(cfg.out), progress["throughput"])
    return path


def build_nets(cfg: AutoencoderConfig, shape: AutoencoderShape, device: torch.device) -> Nets:
    """Autoencoder, discriminator (the seed alone sets their weights), both Adam optimizers, and
    the frozen perceptual network if one is given."""
    torch.manual_seed(cfg.seed)
    ae = build_autoencoder(shape).to(device)
    disc = build_discriminator(cfg.disc_channels, cfg.disc_layers, cfg.disc_norm, shape.channels)
    disc = disc.to(device)
    betas = (cfg.adam_beta1, cfg.adam_beta2)
    perceptual = None
    if cfg.perceptual_net is not None:
        perceptual = load_perceptual_net(cfg.perceptual_net, device)
    return Nets(
        ae=ae,
        disc=disc,
        opt_g=torch.optim.Adam(ae.parameters(), lr=cfg.lr, betas=betas),
        opt_d=torch.optim.Adam(disc.parameters(), lr=cfg.lr, betas=betas),
        perceptual=perceptual,
    )


def train_autoencoder(cfg: AutoencoderConfig) -> StageResult:
    """Train a KL autoencoder on ``cfg.data``; write checkpoints, losses.csv, the latent scale
    factor and the reconstruction report into ``cfg.out``.

    Raises:
        RadsynthError: bad data folder or image size, refused output folder, incompatible or
            corrupt checkpoint on ``--resume`` (all before anything is written), or a NaN/inf
            loss (the last good checkpoint is kept).
    """
    rt = resolve_runtime(cfg.device, threads=cfg.cpu_threads or None)
    with cpu_threads(cfg.cpu_threads), current_gpu(rt.device):
        return _train(cfg, rt.device)


def _train(cfg: AutoencoderConfig, device: torch.device) -> StageResult:
    # Data, networks, resume: everything that can refuse, before OUT is touched.
    data = load_ingest(cfg.data, cfg.image_size_px)
    shape = model_shape(cfg, channels=data.train.shape[1])
    nets = build_nets(cfg, shape, device)
    gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + 1)
    progress: dict[str, Any] = {"step": 0, "data_position": 0, "history": [], "throughput": []}
    resume_from = find_resume(cfg)
    if resume_from is not None:
        progress = restore(resume_from, nets, gen)
        reopen_run(Path(cfg.out), STAGE, cfg)  # unfinished again until this call completes
    else:
        prepare_output_dir(Path(cfg.out), STAGE, cfg)
    meta = {
        "autoencoder_train": config_to_dict(cfg),
        "model": shape.to_dict(),
        "scale_factor": None,
    }

    order = DataOrder(len(data.train), cfg.seed)
    sums, window = dict.fromkeys(AUTOENCODER_LOSS_COLUMNS[1:-1], 0.0), 0
    nets.ae.train()
    meter = autoencoder_meter(nets.ae, tuple(data.train.shape[1:]), device)  # images/s, memory
    t_window = time.perf_counter()
    while progress["step"] < cfg.total_steps:
        # Draw a batch: (B, 1, H, W) in [-1, 1].
        idx = order.batch(progress["data_position"], cfg.batch_size, 0, 1)
        x = data.train[idx].to(device).float() * 2 - 1
        losses = train_step(x, nets, gen, cfg, progress["step"] + 1)
        progress["step"] += 1
        progress["data_position"] += cfg.batch_size
        step = progress["step"]
        for k, v in losses.items():
            sums[k] += v.item()
        window += 1

        # The NaN/inf check: stop, keeping the last good checkpoint.
        is_ckpt = step % cfg.checkpoint_every_steps == 0 or step == cfg.total_steps
        if (step % cfg.log_every_steps == 0 or is_ckpt) and not all(
            math.isfinite(v) for v in sums.values()
        ):
            last = ckpt.list_checkpoints(cfg.out)
            kept = f"last good checkpoint: {last[-1]}" if last else "no checkpoint saved"
            raise RadsynthError(f"loss became NaN/inf by step {step}; stopped, {kept}")

        # Checkpoint: val loss, weights and state, losses.csv.
        if is_ckpt:  # (the losses' .item() synchronised the device, so the clock is true)
            meter.add(window * cfg.batch_size, time.perf_counter() - t_window)
            progress["throughput"].append(meter.row(step))
            row = {"step": step, **{k: v / window for k, v in sums.items()}}
            row["val_rec"] = val_reconstruction(nets.ae, data.val, cfg)
            nets.ae.train()
            progress["history"].append(row)
            sums, window = dict.fromkeys(sums, 0.0), 0
            _save(cfg, nets, gen, progress, meta)
            log.info(
                "%s: step %d saved; rec %.4f, val rec %.4f", STAGE, step, row["rec"], row["val_rec"]
            )
            t_window = time.perf_counter()  # saving time is not training time
    return _finish(cfg, nets.ae, data, progress, device)


def _finish(
    cfg: AutoencoderConfig,
    ae: torch.nn.Module,
    data: TrainingData,
    progress: dict[str, Any],
    device: torch.device,
) -> StageResult:
    """Scale factor into the last checkpoint, the reconstruction report, the manifest."""
    ae.eval()
    last = ckpt.list_checkpoints(cfg.out)[-1]
    scale = latent_scale_factor(ae, data.train, cfg.batch_size)
    ckpt.set_scale_factor(last, scale)
    report = write_report(
        Path(cfg.out),
        ae,
        data.val,
        feature=cfg.report_feature,
        max_images=cfg.report_max_images,
        device=device,
        batch_size=cfg.batch_size,
    )
    write_manifest(
        Path(cfg.out),
        STAGE,
        cfg,
        inputs=[data.manifest, *data.files],
        seeds={"seed": cfg.seed, "scale_factor_seed": SCALE_SEED},
        extra={
            "final_step": progress["step"],
            "images_seen": progress["data_position"],
            "checkpoint": last.name,
            "scale_factor": scale,
            "recon": report,
        },
    )
    psnr = report.get("psnr_db")
    return StageResult(
        out=Path(cfg.out),
        summary=(
            f"trained a factor-{cfg.factor} autoencoder for {progress['step']} steps; "
            f"scale factor {scale:.4g}; val PSNR "
            f"{'n/a' if psnr is None else f'{psnr:.2f} dB'}, in {cfg.out}"
        ),
    )
