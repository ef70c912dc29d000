"""The ``radsynth sample`` config (see :mod:`radsynth.sampling.sample` for the stage)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

from radsynth.config import arg
from radsynth.errors import RadsynthError
from radsynth.hardware.flags import bf16_arg, channels_last_arg, compile_arg, device_arg
from radsynth.sampling.samplers import DEFAULT_SPACING, SAMPLERS, get_sampler


@dataclass(frozen=True)
class SampleConfig:
    """Sample synthetic images from a checkpoint: {seed:06d}.png, image n from seed n alone."""

    #: The stage continues a half-written output folder of the same config (``radsynth run``
    #: resumes it in place after an interruption instead of moving it aside).
    RESUMABLE: ClassVar[bool] = True

    ckpt: Path = arg(
        help="checkpoint folder, or a training run folder (its latest checkpoint)", positional=True
    )
    out: Path = arg(help="output folder for {seed:06d}.png and metadata", positional=True)
    n: int = arg(16, help="number of images: seeds seed_start .. seed_start + n - 1")
    sampler: str = arg(
        "dpmpp",
        help="ddpm (ancestral), ddim, dpmpp (DPM-Solver++ 2M), heun",
        choices=tuple(SAMPLERS),
    )
    steps: int = arg(25, help="sampler steps; ddpm with steps = T is the 1000-step reference")
    spacing: Literal["auto", "time", "karras"] = arg(
        "auto", help="noise levels: time-uniform or Karras; auto: time for ddpm/ddim, else karras"
    )
    eta: float = arg(0.0, help="DDIM noise: 0 deterministic, 1 = DDPM posterior (ddim only)")
    clip_x0: bool = arg(True, help="clamp each x0 estimate to [-1, 1] (Ho et al. 2020; the study)")
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
    progress: bool = arg(True, help="show a progress bar with images/s")
    # Class-conditional checkpoints only (see radsynth.sampling.guidance).
    label: str | None = arg(None, help="class of every image (a conditional checkpoint's name)")
    label_mix: tuple[str, ...] = arg(
        (), help="NAME=N ...: N images per class, in consecutive seed blocks (sum = --n)"
    )
    guidance: float | None = arg(
        None, help="classifier-free guidance S (default 1: the plain conditional model)"
    )


def resolved_spacing(cfg: SampleConfig) -> str:
    """The noise-level spacing the sampler runs: ``auto`` is time for ddpm/ddim, else karras."""
    return DEFAULT_SPACING[cfg.sampler] if cfg.spacing == "auto" else cfg.spacing


def check_config(cfg: SampleConfig) -> None:
    get_sampler(cfg.sampler)
    if cfg.n < 1:
        raise RadsynthError(f"--n must be at least 1, got {cfg.n}")
    if cfg.batch < 1:
        raise RadsynthError(f"--batch must be at least 1, got {cfg.batch}")
    if cfg.seed_start < 0:
        raise RadsynthError(f"--seed-start must be 0 or more, got {cfg.seed_start}")
    if cfg.eta != 0 and cfg.sampler != "ddim":
        raise RadsynthError("--eta applies to the ddim sampler only")
