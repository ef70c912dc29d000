"""``radsynth train`` config: one frozen dataclass, three presets (paper, demo, tiny).

Field defaults are the ``paper`` preset, the study's settings. See docs/training.md for why the
noise schedule and objective were chosen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from radsynth.config import CPU_ALIAS, Alias, arg, config_to_dict, refuse_changed_config
from radsynth.diffusion.schedule import DiffusionConfig
from radsynth.hardware.flags import (
    COMPILE_MODES,
    channels_last_arg,
    compile_arg,
    compile_mode_arg,
    device_arg,
)
from radsynth.models.unet import UNetConfig
from radsynth.training.posthoc_ema import SIGMA_REL_MAX

#: How the learning rate follows the batch size, relative to the preset's reference batch.
#: sqrt: Adam's square-root rule (Malladi et al. 2022, "On the SDEs and Scaling Rules for Adaptive
#: Gradient Algorithms"); linear: Goyal et al. 2017's rule for SGD; none: lr as given.
LR_RULES = {"none": lambda k: 1.0, "sqrt": math.sqrt, "linear": lambda k: k}

#: Fields that may change between a run and its ``--resume`` without changing what is learned.
RESUMABLE_CHANGES = frozenset(
    {
        "data",
        "out",
        "resume",
        "total_steps",
        "checkpoint_every_steps",
        "log_every_steps",
        "keep_state_checkpoints",
        "compile",
        "compile_mode",
        "cpu",
        "device",
        "cpu_threads",
        "optimizer_impl",
        "data_on_device",
        "grad_accum_steps",
        "gradient_checkpointing",
    }
)


@dataclass(frozen=True)
class TrainConfig:
    """Train a DDPM (diffusers UNet2DModel) on a folder written by `radsynth ingest`."""

    #: The stage continues a half-written output folder of the same config (``radsynth run``
    #: resumes it in place after an interruption instead of moving it aside).
    RESUMABLE: ClassVar[bool] = True

    data: Path = arg(
        help="ingested data folder (manifest.csv, train/*.png, val/*.png)", positional=True
    )
    out: Path = arg(
        help="output folder for checkpoints, losses.csv, loss_curves.png, tb/", positional=True
    )
    preset: Literal["paper", "demo", "tiny", "latent-512", "latent-1024"] = arg(
        "paper",
        help="paper: the study (batch 8, lr 5e-5); demo: minutes on a CPU (batch 16, lr 2e-3); "
        "tiny: tests (batch 4, lr 1e-3); latent-512/latent-1024: a UNet over a factor-8 "
        "autoencoder's latents of 512/1024 px films (with --autoencoder); another --batch-size "
        "scales lr by --lr-scale",
    )
    resume: bool = arg(False, help="continue from the latest checkpoint in OUT")
    # Model: a UNet2DModel (see radsynth.models.unet).
    image_size_px: int = arg(256, help="image side in pixels; must match the ingested images")
    block_channels: tuple[int, ...] = arg(
        (64, 128, 256, 352), help="feature channels per UNet level"
    )
    layers_per_block: int = arg(2, help="ResNet blocks per UNet level")
    attention_levels: tuple[int, ...] = arg((3,), help="indices of UNet levels with self-attention")
    norm_groups: int = arg(8, help="GroupNorm groups")
    attention_head_dim: int = arg(32, help="channels per attention head")
    dropout: float = arg(0.0, help="dropout probability in ResNet blocks")
    # Latent diffusion (radsynth.training.latent_data): the UNet learns the films' latents.
    autoencoder: Path | None = arg(
        None,
        help="train-autoencoder run or checkpoint: train in its latent space (none: pixels)",
    )
    # Stable Diffusion fine-tuning (radsynth.training.stable_diffusion): the UNet shape and
    # noise schedule then come from the folder, and the fields above and below them do not apply.
    init_from: Path | None = arg(
        None, help="local diffusers Stable Diffusion folder to fine-tune (none: train a DDPM)"
    )
    prompt: str = arg(
        "a chest x-ray",
        help="--init-from: prompt template over manifest label columns, e.g. "
        "'a chest x-ray showing {label}'",
    )
    lora_rank: int = arg(0, help="--init-from: LoRA rank via peft (0: fine-tune the whole UNet)")
    # Diffusion.
    num_train_timesteps: int = arg(1000, help="diffusion steps T")
    beta_schedule: Literal["linear", "cosine", "sigmoid"] = arg("sigmoid", help="noise schedule")
    prediction_type: Literal["epsilon", "v_prediction"] = arg("v_prediction", help="network target")
    # Optimisation.
    batch_size: int = arg(8, help="global batch size in images (split across devices)")
    lr: float = arg(5e-5, help="Adam learning rate at lr_reference_batch images per step")
    lr_reference_batch: int = arg(8, help="the batch size lr was set for (the preset's batch)")
    lr_scale: Literal["none", "sqrt", "linear"] = arg(
        "sqrt", help="lr for other batch sizes: x sqrt(batch/reference) (Adam), x ratio, or as is"
    )
    adam_beta1: float = arg(0.9, help="Adam beta1")
    adam_beta2: float = arg(0.99, help="Adam beta2")
    warmup_steps: int = arg(0, help="linear LR warm-up steps, then constant")
    grad_accum_steps: int = arg(
        1, help="split each process's batch into N parts, one backward each (same gradient)"
    )
    max_grad_norm: float = arg(1.0, help="gradient-norm clip (0 = off)")
    total_steps: int = arg(160_000, help="optimizer steps to train for in total")
    ema_decay: float = arg(0.9995, help="EMA decay per step (warm-up (1+n)/(10+n) below it)")
    # Post-hoc EMA (EDM2; radsynth.training.posthoc_ema): kept beside the classic EMA.
    ema: Literal["classic", "posthoc"] = arg(
        "classic", help="posthoc: also keep power-function EMA profiles and snapshots (ema-sweep)"
    )
    ema_sigma_rel: tuple[float, ...] = arg(
        (0.05, 0.10), help="--ema posthoc: relative standard deviations of the tracked profiles"
    )
    ema_snapshot_every_steps: int = arg(
        8000, help="--ema posthoc: snapshot the profiles every N steps and at the last step"
    )
    ema_snapshot_precision: Literal["fp32", "fp16"] = arg(
        "fp32", help="--ema posthoc: snapshot precision (paper preset: 291 MB per fp32 snapshot)"
    )
    seed: int = arg(0, help="seed of model init, data order, noise and timesteps")
    hflip: bool = arg(False, help="random horizontal flips (off: laterality matters)")
    # Conditioning (see radsynth.training.conditioning).
    condition_on: tuple[str, ...] = arg(
        (), help="manifest label columns forming one joint class (empty: unconditional)"
    )
    uncond_prob: float = arg(0.1, help="probability of dropping the class (classifier-free)")
    # Checkpoints, validation, logging.
    checkpoint_every_steps: int = arg(2000, help="save a checkpoint and val loss every N steps")
    keep_state_checkpoints: int = arg(
        2, help="newest checkpoints keeping optimizer state (0 = all)"
    )
    val_max_images: int = arg(512, help="at most this many val images for the val loss")
    val_repeats: int = arg(4, help="fixed (timestep, noise) draws per val image")
    log_every_steps: int = arg(10, help="progress bar / TensorBoard / NaN check interval in steps")
    # Hardware.
    mixed_precision: Literal["auto", "no", "bf16", "fp16"] = arg(
        "auto", help="auto: bf16 on GPU, no on CPU"
    )
    gradient_checkpointing: bool = arg(
        False, help="recompute activations in the backward pass: less memory, one more forward"
    )
    channels_last: bool = channels_last_arg(False, gpu_only=False)
    compile: bool = compile_arg(False)
    compile_mode: str = compile_mode_arg()
    device: str = device_arg()
    cpu_threads: int = arg(
        0, help="torch CPU threads (0 = torch's default, fewer while other processes compete)"
    )
    optimizer_impl: Literal["auto", "fused", "foreach", "default"] = arg(
        "auto", help="Adam kernels: auto is fused on a GPU, torch's default on a CPU (same state)"
    )
    data_on_device: Literal["auto", "on", "off"] = arg(
        "auto",
        help="keep the training images on the device as uint8, no host copy per step "
        "(auto: on a GPU)",
    )

    #: ``--cpu`` (deprecated) still means ``--device cpu``, for one release.
    ALIASES: ClassVar[tuple[Alias, ...]] = (CPU_ALIAS,)

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        # The study: lucidrains Unet(dim=64, dim_mults=(1,2,4,8)), batch 8, lr 5e-5, 160k steps.
        # Other batches: lr x sqrt(batch / 8) (--lr-scale sqrt), e.g. batch 64: 1.41e-4.
        "paper": {},
        # Phantoms at 64 px; a few minutes on 2 CPU cores.
        "demo": {
            "image_size_px": 64,
            "block_channels": (16, 32, 64, 64),
            "layers_per_block": 1,
            "attention_levels": (3,),
            "norm_groups": 8,
            "attention_head_dim": 16,
            "beta_schedule": "cosine",
            "batch_size": 16,  # lr x sqrt(batch / 16) for other batches
            "lr_reference_batch": 16,
            "lr": 2e-3,
            "warmup_steps": 40,
            "total_steps": 1000,
            "checkpoint_every_steps": 250,
            "ema_decay": 0.99,
            "ema_snapshot_every_steps": 250,
            "val_max_images": 64,
            "val_repeats": 2,
            "keep_state_checkpoints": 1,
        },
        # Latent diffusion over a factor-8 autoencoder (train-autoencoder --preset f8-512 /
        # f8-1024): a 64x64x4 or 128x128x4 latent, the paper's UNet widths, attention at the
        # lowest level only (8x8 or 16x16 tokens). Not yet measured (docs/latent.md).
        "latent-512": {"image_size_px": 512, "batch_size": 16},
        "latent-1024": {"image_size_px": 1024, "batch_size": 8, "gradient_checkpointing": True},
        # For tests: diffusers' tiny test sizes at 32 px; seconds on a CPU.
        "tiny": {
            "image_size_px": 32,
            "block_channels": (8, 16),
            "layers_per_block": 1,
            "attention_levels": (1,),
            "norm_groups": 2,
            "attention_head_dim": 8,
            "beta_schedule": "cosine",
            "num_train_timesteps": 100,
            "batch_size": 4,  # lr x sqrt(batch / 4) for other batches
            "lr_reference_batch": 4,
            "lr": 1e-3,
            "total_steps": 4,
            "checkpoint_every_steps": 2,
            "ema_decay": 0.9,
            "ema_snapshot_every_steps": 2,
            "val_max_images": 8,
            "val_repeats": 1,
            "log_every_steps": 1,
        },
    }

    def __post_init__(self) -> None:
        positive = (
            "image_size_px",
            "batch_size",
            "total_steps",
            "checkpoint_every_steps",
            "num_train_timesteps",
            "val_max_images",
            "val_repeats",
            "log_every_steps",
            "ema_snapshot_every_steps",
            "lr_reference_batch",
            "grad_accum_steps",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if not self.lr > 0:
            raise ValueError("lr must be positive")
        if self.compile_mode not in COMPILE_MODES:
            raise ValueError(f"compile_mode must be one of {', '.join(COMPILE_MODES)}")
        if self.lora_rank < 0:
            raise ValueError("lora_rank must be 0 (off) or positive")
        if not 0.0 <= self.uncond_prob < 1.0:
            raise ValueError("uncond_prob must be in [0, 1)")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError("ema_decay must be in [0, 1)")
        widths = self.ema_sigma_rel
        if not widths or len(set(widths)) < len(widths):
            raise ValueError("ema_sigma_rel must list one or more distinct widths")
        if not all(0.0 < s <= SIGMA_REL_MAX for s in widths):
            raise ValueError(f"each ema_sigma_rel must be in (0, {SIGMA_REL_MAX:.4f}]")
        model_config(self)  # raises ValueError for a UNet shape that cannot be built


def model_config(cfg: TrainConfig, channels: int = 1, num_classes: int = 0) -> UNetConfig:
    """The UNet shape a training config asks for (``num_classes`` from the data)."""
    return UNetConfig(
        image_size_px=cfg.image_size_px,
        channels=channels,
        block_channels=cfg.block_channels,
        layers_per_block=cfg.layers_per_block,
        attention_levels=cfg.attention_levels,
        norm_groups=cfg.norm_groups,
        attention_head_dim=cfg.attention_head_dim,
        dropout=cfg.dropout,
        num_classes=num_classes,
    )


def diffusion_config(cfg: TrainConfig) -> DiffusionConfig:
    """The forward process a training config asks for."""
    return DiffusionConfig(
        num_train_timesteps=cfg.num_train_timesteps,
        beta_schedule=cfg.beta_schedule,
        prediction_type=cfg.prediction_type,
    )


def effective_lr(cfg: TrainConfig) -> float:
    """``cfg.lr`` scaled by ``cfg.lr_scale`` for k = batch_size / lr_reference_batch:
    lr * 1 (none), lr * sqrt(k) (sqrt) or lr * k (linear). At the reference batch it is lr."""
    return cfg.lr * LR_RULES[cfg.lr_scale](cfg.batch_size / cfg.lr_reference_batch)


def check_resumable(saved: dict[str, Any], cfg: TrainConfig) -> None:
    """Refuse to resume a run whose saved training config differs in a field that matters.

    Raises:
        RadsynthError: naming the differing fields, in one line.
    """
    now = config_to_dict(cfg)
    # Runs from before conditioning, post-hoc EMA and latents: their implicit values.
    before = {"condition_on": [], "uncond_prob": 0.1, "ema": "classic", "autoencoder": None}
    before |= {"init_from": None, "prompt": "a chest x-ray", "lora_rank": 0}
    # Runs from before the batch rule used lr as given: the rule's fields match when the rule
    # gives that same lr now, and lr_scale is named as changed when it does not.
    same_lr = math.isclose(effective_lr(cfg), saved.get("lr", cfg.lr), rel_tol=1e-12)
    rule = ("lr_scale", "lr_reference_batch")
    before |= {k: now[k] for k in rule} if same_lr else {"lr_scale": "none"}
    before |= {k: now[k] for k in now if k.startswith("ema_") and k != "ema_decay"}
    refuse_changed_config({**before, **saved}, now, RESUMABLE_CHANGES)
