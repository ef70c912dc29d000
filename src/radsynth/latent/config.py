"""``radsynth train-autoencoder`` config: one frozen dataclass, three presets (f8, f4, tiny).

Field defaults are the ``f8`` preset: factor 8 and 4 latent channels, the shape of Stable
Diffusion's VAE and of MONAI's chest X-ray latent model (Medfusion uses 8 channels: set
``--latent-channels 8``). ``f4`` is Cheff's factor 4 with 3 latent channels. Loss weights follow
the latent diffusion autoencoder (Rombach et al. 2022, its ``kl-f8`` config: KL weight 1e-6,
adversarial weight 0.5 with the adaptive weight of Esser et al. 2021, discriminator from step
50001); the SSIM term replaces LPIPS, whose weights radsynth cannot ship.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from radsynth.config import arg, config_to_dict, refuse_changed_config
from radsynth.hardware.flags import device_arg

#: Fields that may change between a run and its ``--resume`` without changing what is learned.
RESUMABLE_CHANGES = frozenset(
    {"data", "out", "resume", "total_steps", "checkpoint_every_steps", "log_every_steps"}
    | {"device", "cpu_threads", "report_feature", "report_max_images"}
)

#: The smallest latent side a preset may be run at (a 3x3 latent leaves the decoder nothing).
MIN_LATENT_SIDE_PX = 4


@dataclass(frozen=True)
class AutoencoderConfig:
    """Train a KL autoencoder (MONAI AutoencoderKL) on a folder written by `radsynth ingest`."""

    #: The stage continues a half-written output folder of the same config.
    RESUMABLE: ClassVar[bool] = True

    data: Path = arg(
        help="ingested data folder (manifest.csv, train/*.png, val/*.png)", positional=True
    )
    out: Path = arg(
        help="output folder for checkpoints, losses.csv, recon.json, recon_sheet.png",
        positional=True,
    )
    preset: Literal["f8", "f4", "f8-512", "f8-1024", "tiny"] = arg(
        "f8",
        help="f8: factor 8, 4 latent channels; f4: factor 4, 3 channels; f8-512, f8-1024: f8 "
        "for 512 or 1024 px films; tiny: tests",
    )
    resume: bool = arg(False, help="continue from the latest checkpoint in OUT")
    # Model: MONAI AutoencoderKL; the factor is 2 ** (levels - 1). No self-attention at any
    # level or in the mid-block: MONAI's attention needs einops (not a radsynth dependency), and
    # at 1024 px a factor-8 mid-block would attend over 16k tokens.
    image_size_px: int = arg(256, help="image side in pixels; must match the ingested images")
    block_channels: tuple[int, ...] = arg(
        (64, 128, 256, 256), help="feature channels per level (factor 2 ** (levels - 1))"
    )
    layers_per_block: int = arg(2, help="ResNet blocks per level")
    latent_channels: int = arg(4, help="channels of the latent")
    norm_groups: int = arg(32, help="GroupNorm groups")
    # Losses (radsynth.latent.losses): L1 + ssim_weight * (1 - SSIM) + kl_weight * KL
    # + adv_weight * lambda * hinge GAN, lambda the adaptive weight.
    ssim_weight: float = arg(1.0, help="weight of 1 - SSIM (MS-SSIM above 160 px)")
    kl_weight: float = arg(1e-6, help="weight of the KL term (summed over latent elements)")
    adv_weight: float = arg(0.5, help="weight of the adaptive-weighted adversarial term")
    disc_start_step: int = arg(50_001, help="step from which the discriminator trains and acts")
    disc_channels: int = arg(64, help="first-layer channels of the PatchGAN discriminator")
    disc_layers: int = arg(3, help="strided layers of the PatchGAN discriminator")
    # Instance norm, not MONAI's default BatchNorm: each image's patch scores then depend on that
    # image alone (not on the rest of its batch, nor on train/eval mode), so a run is the same at
    # any batch split and resumes exactly without running statistics.
    disc_norm: Literal["instance", "none"] = arg("instance", help="discriminator normalisation")
    perceptual_net: Path | None = arg(
        None, help="safetensors weights of radsynth's PerceptualNet for a feature loss (none)"
    )
    perceptual_weight: float = arg(1.0, help="weight of the perceptual loss, if a net is given")
    # Optimisation: Adam for both networks, betas of the latent diffusion autoencoder.
    batch_size: int = arg(8, help="batch size in images")
    lr: float = arg(1e-4, help="Adam learning rate of autoencoder and discriminator")
    adam_beta1: float = arg(0.5, help="Adam beta1")
    adam_beta2: float = arg(0.9, help="Adam beta2")
    total_steps: int = arg(100_000, help="optimizer steps in total (images seen = x batch)")
    seed: int = arg(0, help="seed of init, data order and latent noise")
    checkpoint_every_steps: int = arg(2000, help="save a checkpoint and val loss every N steps")
    log_every_steps: int = arg(10, help="progress and NaN check interval in steps")
    # Reconstruction report on the val split.
    report_feature: Literal["inception", "pixels"] = arg(
        "inception", help="feature space of the reconstructions' FID/KID"
    )
    report_max_images: int = arg(1000, help="at most this many val images in the report")
    # Hardware.
    device: str = device_arg()
    cpu_threads: int = arg(0, help="torch CPU threads (0 = torch's default)")

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "f8": {},
        "f4": {"block_channels": (64, 128, 256), "latent_channels": 3},
        # 512 and 1024 px (MONAI's chest X-ray latent model works at 512 px with factor 8): the
        # same network, fewer images per step. No attention anywhere (see above), so the
        # decoder's cost grows with the pixels only. Not yet measured (docs/latent.md).
        "f8-512": {"image_size_px": 512, "batch_size": 4},
        "f8-1024": {"image_size_px": 1024, "batch_size": 2, "report_max_images": 250},
        # For tests: 32 px, factor 4, seconds on a CPU; the discriminator acts from step 2.
        "tiny": {
            "image_size_px": 32,
            "block_channels": (4, 8, 8),
            "layers_per_block": 1,
            "latent_channels": 3,
            "norm_groups": 2,
            "disc_start_step": 2,
            "disc_channels": 8,
            "disc_layers": 2,
            "batch_size": 4,
            "lr": 1e-3,
            "total_steps": 4,
            "checkpoint_every_steps": 2,
            "log_every_steps": 1,
            "report_feature": "pixels",
        },
    }

    def __post_init__(self) -> None:
        positive = (
            "image_size_px",
            "layers_per_block",
            "latent_channels",
            "norm_groups",
            "batch_size",
            "total_steps",
            "checkpoint_every_steps",
            "log_every_steps",
            "disc_channels",
            "disc_layers",
            "report_max_images",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        for name in ("ssim_weight", "kl_weight", "adv_weight", "perceptual_weight"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0")
        if not self.lr > 0:
            raise ValueError("lr must be positive")
        if any(c <= 0 or c % self.norm_groups for c in self.block_channels) or not (
            self.block_channels
        ):
            raise ValueError(f"block_channels must be multiples of norm_groups {self.norm_groups}")
        side = self.image_size_px // self.factor
        if self.image_size_px % self.factor or side < MIN_LATENT_SIDE_PX:
            raise ValueError(
                f"preset {self.preset} (factor {self.factor}) does not fit {self.image_size_px} px:"
                f" the side must be a multiple of {self.factor} with a latent of at least"
                f" {MIN_LATENT_SIDE_PX} px"
            )

    @property
    def factor(self) -> int:
        """Downsampling factor image side / latent side."""
        return 2 ** (len(self.block_channels) - 1)


def check_resumable(saved: dict[str, Any], cfg: AutoencoderConfig) -> None:
    """Refuse to resume a run whose saved config differs in a field that changes the result.

    Raises:
        RadsynthError: naming the differing fields, in one line.
    """
    refuse_changed_config(saved, config_to_dict(cfg), RESUMABLE_CHANGES)
