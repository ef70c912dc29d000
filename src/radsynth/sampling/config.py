"""The ``radsynth sample`` config (see :mod:`radsynth.sampling.sample` for the stage)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

from radsynth.config import arg
from radsynth.errors import RadsynthError
from radsynth.hardware.flags import bf16_arg, channels_last_arg, compile_arg, device_arg
from radsynth.sampling.samplers import DEFAULT_SPACING, SAMPLERS, get_sampler

#: Fields that apply to diffusion checkpoints only, with the value "not given" stands for.
DIFFUSION_DEFAULTS = {
    "sampler": "dpmpp",
    "steps": 25,
    "spacing": "auto",
    "eta": 0.0,
    "clip_x0": True,
}
#: Every diffusion-only field; a GAN checkpoint refuses each one that is given.
DIFFUSION_ONLY = (*DIFFUSION_DEFAULTS, "guidance")
#: Fields that apply to GAN checkpoints only; a diffusion checkpoint refuses them.
GAN_ONLY = ("truncation_psi",)


@dataclass(frozen=True)
class SampleConfig:
    """Sample synthetic images from a checkpoint: {seed:06d}.png, image n from seed n alone."""

    #: The stage continues a half-written output folder of the same config (``radsynth run``
    #: resumes it in place after an interruption instead of moving it aside).
    RESUMABLE: ClassVar[bool] = True
    #: Fields of one generator family only (a pipeline generator of the other family refuses
    #: them before anything runs).
    FAMILY_ONLY: ClassVar[dict[str, tuple[str, ...]]] = {
        "diffusion": DIFFUSION_ONLY,
        "gan": GAN_ONLY,
    }

    ckpt: Path = arg(
        help="checkpoint folder, or a training run folder (its latest checkpoint)", positional=True
    )
    out: Path = arg(help="output folder for {seed:06d}.png and metadata", positional=True)
    n: int = arg(16, help="number of images: seeds seed_start .. seed_start + n - 1")
    # Diffusion checkpoints only: None means "not given" (the default in brackets), so a GAN
    # checkpoint can refuse a diffusion setting that was given, even at its default value.
    sampler: str | None = arg(
        None,
        help="ddpm (ancestral), ddim, dpmpp (DPM-Solver++ 2M), heun [dpmpp]",
        choices=tuple(SAMPLERS),
    )
    steps: int | None = arg(
        None, help="sampler steps; ddpm with steps = T is the 1000-step reference [25]"
    )
    spacing: Literal["auto", "time", "karras"] | None = arg(
        None, help="noise levels: time-uniform or Karras; auto: time for ddpm/ddim, else karras"
    )
    eta: float | None = arg(
        None, help="DDIM noise: 0 deterministic, 1 = DDPM posterior (ddim only) [0]"
    )
    clip_x0: bool | None = arg(
        None, help="clamp each x0 estimate to [-1, 1] (Ho et al. 2020; the study) [true]"
    )
    batch: int = arg(32, help="images per denoiser call, per device (hundreds on a big GPU)")
    seed_start: int = arg(0, help="first seed")
    weights: Literal["ema", "online"] = arg("ema", help="EMA (default) or online weights")
    bits: Literal[8, 16] = arg(8, help="PNG bit depth")
    device: str = device_arg()
    bf16: bool = bf16_arg(True)
    channels_last: bool = channels_last_arg(True)
    compile: Literal["auto", "on", "off"] = compile_arg(
        "auto", auto="on a GPU for 512+ images per process"
    )
    progress: bool | None = arg(
        None,
        help="progress bar (count, images/s, ETA) on stderr; not given: on a terminal only",
    )
    # Class-conditional checkpoints only (see radsynth.sampling.guidance).
    label: str | None = arg(None, help="class of every image (a conditional checkpoint's name)")
    label_mix: tuple[str, ...] = arg(
        (), help="NAME=N ...: N images per class, in consecutive seed blocks (sum = --n)"
    )
    guidance: float | None = arg(
        None, help="classifier-free guidance S (default 1: the plain conditional model)"
    )
    # GAN checkpoints only.
    truncation_psi: float | None = arg(
        None, help="GAN truncation towards the class's average latent: 1 = none, 0 = the average"
    )


def with_diffusion_defaults(cfg: SampleConfig) -> SampleConfig:
    """``cfg`` with every diffusion setting that was not given set to its default.

    Raises:
        RadsynthError: a GAN-only setting was given (this is a diffusion checkpoint).
    """
    given = [f for f in GAN_ONLY if getattr(cfg, f) is not None]
    if given:
        flag = "--" + given[0].replace("_", "-")
        raise RadsynthError(f"{flag} is a GAN setting; {cfg.ckpt} is a diffusion checkpoint")
    unset = {k: v for k, v in DIFFUSION_DEFAULTS.items() if getattr(cfg, k) is None}
    return dataclasses.replace(cfg, **unset)


def resolved_spacing(cfg: SampleConfig) -> str:
    """The noise-level spacing the sampler runs: ``auto`` is time for ddpm/ddim, else karras."""
    cfg = with_diffusion_defaults(cfg)
    return DEFAULT_SPACING[cfg.sampler] if cfg.spacing == "auto" else cfg.spacing


def check_config(cfg: SampleConfig) -> None:
    """One-line errors for settings that cannot work, for either family."""
    if cfg.sampler is not None:
        get_sampler(cfg.sampler)
    if cfg.n < 1:
        raise RadsynthError(f"--n must be at least 1, got {cfg.n}")
    if cfg.batch < 1:
        raise RadsynthError(f"--batch must be at least 1, got {cfg.batch}")
    if cfg.seed_start < 0:
        raise RadsynthError(f"--seed-start must be 0 or more, got {cfg.seed_start}")
    if cfg.eta not in (None, 0) and cfg.sampler != "ddim":
        raise RadsynthError("--eta applies to the ddim sampler only")
