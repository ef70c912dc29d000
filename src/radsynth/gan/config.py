"""``radsynth train-gan`` config: one frozen dataclass, three presets (paper, small, tiny).

A GAN run has its own settings only: no diffusion field (noise schedule, prediction type,
condition dropout) exists here, so none can leak in. Budgets are in images seen (``kimg``, as in
Karras et al.'s StyleGAN2-ADA and EDM), so a GAN and a DDPM can be given the same budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from radsynth.config import arg, config_to_dict, refuse_changed_config
from radsynth.hardware.flags import device_arg

#: Fields that may change between a run and its ``--resume`` without changing what is learned.
RESUMABLE_CHANGES = frozenset(
    {"data", "out", "resume", "total_kimg", "checkpoint_every_steps", "log_every_steps"}
    | {"keep_state_checkpoints", "device", "cpu_threads"}
)


@dataclass(frozen=True)
class GanTrainConfig:
    """Train an R3GAN (Huang et al. 2024) on a folder written by `radsynth ingest`."""

    #: The stage continues a half-written output folder of the same config.
    RESUMABLE: ClassVar[bool] = True

    data: Path = arg(
        help="ingested data folder (manifest.csv, train/*.png, val/*.png)", positional=True
    )
    out: Path = arg(help="output folder for checkpoints and losses.csv", positional=True)
    preset: Literal["paper", "small", "tiny"] = arg(
        "paper", help="paper: 256 px; small: 64 px on a CPU; tiny: tests"
    )
    resume: bool = arg(False, help="continue from the latest checkpoint in OUT")
    # Model (see radsynth.gan.model).
    image_size_px: int = arg(256, help="image side in pixels; a power of two >= 8")
    stage_channels: tuple[int, ...] = arg(
        (512, 512, 512, 256, 256, 128, 64), help="channels per resolution, from 4 px up"
    )
    blocks_per_stage: int = arg(2, help="residual blocks per resolution")
    expansion: int = arg(2, help="channel expansion inside a residual block")
    group_channels: int = arg(16, help="channels per group of the grouped 3x3 convolution")
    latent_dim: int = arg(128, help="dimension of the latent z and of the mapped latent w")
    mapping_layers: int = arg(2, help="layers of the MLP mapping (z, class) to w")
    # Conditioning (see radsynth.training.conditioning).
    condition_on: tuple[str, ...] = arg(
        (), help="manifest label columns forming one joint class (empty: unconditional)"
    )
    # Optimisation (RpGAN + R1 + R2, Huang et al. 2024 eq. 5).
    batch_size: int = arg(64, help="global batch size in images (split across devices)")
    total_kimg: float = arg(10_000.0, help="training budget in thousands of real images seen")
    lr: float = arg(2e-4, help="Adam learning rate of generator and discriminator")
    adam_beta1: float = arg(0.0, help="Adam beta1")
    adam_beta2: float = arg(0.99, help="Adam beta2")
    gamma: float = arg(0.5, help="R1 and R2 weight: gamma/2 * E||grad D||^2 on real and fake")
    ema_kimg: float = arg(10.0, help="EMA half-life of the generator in thousands of images")
    ema_rampup: float = arg(0.05, help="EMA half-life at most this fraction of images seen")
    augment_p: float = arg(0.25, help="probability of each augmentation per image (0 = off)")
    seed: int = arg(0, help="seed of model init, data order, latents and augmentation")
    # Checkpoints and logging.
    checkpoint_every_steps: int = arg(2000, help="save a checkpoint every N steps")
    keep_state_checkpoints: int = arg(
        2, help="newest checkpoints keeping optimizer state (0 = all)"
    )
    log_every_steps: int = arg(10, help="progress bar / NaN check interval in steps")
    # Hardware.
    device: str = device_arg()
    cpu_threads: int = arg(0, help="torch CPU threads during training (0 = torch's default)")

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        # 256 px, as the StyleGAN2 of the published reader study; for a GPU.
        "paper": {},
        # 64 px on a CPU: minutes to hours.
        "small": {
            "image_size_px": 64,
            "stage_channels": (128, 128, 64, 32, 16),
            "blocks_per_stage": 1,
            "group_channels": 8,
            "latent_dim": 64,
            "batch_size": 16,
            "total_kimg": 16.0,
            "gamma": 0.1,
            "ema_kimg": 1.0,
            "checkpoint_every_steps": 250,
            "keep_state_checkpoints": 1,
        },
        # For tests: seconds on a CPU.
        "tiny": {
            "image_size_px": 16,
            "stage_channels": (16, 8, 8),
            "blocks_per_stage": 1,
            "group_channels": 4,
            "latent_dim": 8,
            "mapping_layers": 1,
            "batch_size": 4,
            "total_kimg": 0.016,
            "lr": 1e-3,
            "gamma": 0.1,
            "ema_kimg": 0.01,
            "checkpoint_every_steps": 2,
            "log_every_steps": 1,
        },
    }

    def __post_init__(self) -> None:
        for name in ("batch_size", "checkpoint_every_steps", "log_every_steps", "latent_dim"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        for name in ("total_kimg", "lr", "ema_kimg"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        if self.gamma < 0 or not 0.0 <= self.augment_p <= 1.0:
            raise ValueError("gamma must be >= 0 and augment_p in [0, 1]")
        if self.ema_rampup < 0:
            raise ValueError("ema_rampup must be >= 0 (0 = off)")
        model_shape(self)  # raises ValueError for a network that cannot be built


def model_shape(cfg: GanTrainConfig, channels: int = 1, num_classes: int = 0) -> dict[str, Any]:
    """The network shape a config asks for (``num_classes`` from the data), as the plain dict
    :class:`radsynth.gan.model.GanShape` is built from and that checkpoints store."""
    size = cfg.image_size_px
    levels = int(math.log2(size)) - 1 if size >= 8 else 0
    if size < 8 or 2 ** (levels + 1) != size:
        raise ValueError(f"image_size_px must be a power of two >= 8, got {size}")
    if len(cfg.stage_channels) != levels:
        raise ValueError(
            f"stage_channels needs {levels} values (4 px to {size} px), got "
            f"{len(cfg.stage_channels)}"
        )
    for c in cfg.stage_channels:
        if (c * cfg.expansion) % cfg.group_channels:
            raise ValueError(f"{c} x expansion {cfg.expansion} is not a multiple of group_channels")
    return {
        "image_size_px": size,
        "channels": channels,
        "stage_channels": list(cfg.stage_channels),
        "blocks_per_stage": cfg.blocks_per_stage,
        "expansion": cfg.expansion,
        "group_channels": cfg.group_channels,
        "latent_dim": cfg.latent_dim,
        "mapping_layers": cfg.mapping_layers,
        "num_classes": num_classes,
    }


def steps_of(kimg: float, batch_size: int) -> int:
    """Optimizer steps that see ``kimg`` thousand images at ``batch_size`` (at least one)."""
    return max(1, round(kimg * 1000 / batch_size))


def ema_beta(cfg: GanTrainConfig, images_seen: int) -> float:
    """EMA decay per step for a half-life of ``ema_kimg`` thousand images, shortened to
    ``ema_rampup`` x images seen early on (Karras et al. 2020, StyleGAN2-ADA, appendix B)."""
    half_life = cfg.ema_kimg * 1000
    if cfg.ema_rampup > 0:
        half_life = min(half_life, images_seen * cfg.ema_rampup)
    return 0.5 ** (cfg.batch_size / max(half_life, 1e-8))


def check_resumable(saved: dict[str, Any], cfg: GanTrainConfig) -> None:
    """Refuse to resume a run whose saved config differs in a field that matters.

    Raises:
        RadsynthError: naming the differing fields, in one line.
    """
    refuse_changed_config(saved, config_to_dict(cfg), RESUMABLE_CHANGES)
