"""``radsynth sample``: draw ``{seed:06d}.png`` images from a checkpoint, one image per seed.

Image n depends on seed n alone (Karras et al. 2022 make the same promise in NVlabs/edm): its
initial noise and every stochastic step's noise come from its own ``torch.Generator``, so the
batch size, the number of GPUs and the resume history do not change it. Finished seeds are
skipped, so the same command resumes after an interruption; each PNG and its metadata sidecar
(``meta/{seed:06d}.json``) are written atomically, so a ``kill -9`` never leaves a truncated file.

Output folder::

    OUT/000000.png ...      8- or 16-bit grey PNGs, rounded from [-1, 1] (never truncated)
    OUT/meta/000000.json    per seed: seed, checkpoint id/step, weights, sampler, steps, device
    OUT/sampling.json       what every image here shares: checkpoint, weights hash, sampler,
                            steps, model and diffusion config; another run must match it
    OUT/samples.jsonl       one line per image (written at the end of each run)
    OUT/config.json, OUT/manifest.json

Several GPUs: ``accelerate launch --multi_gpu --num_processes 8 -m radsynth.cli sample CKPT OUT
--n 27000``; process r samples seeds r, r + 8, ... (tested on CPU only, with 2 gloo processes:
``torchrun --nproc_per_node 2 -m radsynth.cli sample CKPT OUT --config cfg.yaml``; torchrun
mistakes ``--n`` for one of its own flags, so the values go in the config file).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch

from radsynth.config import arg, config_json
from radsynth.data.imageio import write_png
from radsynth.errors import RadsynthError
from radsynth.progress import bar, log_checkpoint
from radsynth.sampling.denoiser import VPDenoiser
from radsynth.sampling.samplers import (
    DEFAULT_SPACING,
    SAMPLERS,
    SeededNoise,
    function_evaluations,
    get_sampler,
    sampling_sigmas,
    start_noise,
)
from radsynth.stage import StageResult, atomic_write_text, write_manifest

log = logging.getLogger(__name__)
STAGE = "sample"
#: Fields of sampling.json that must match for two runs to share an output folder.
IDENTITY_KEYS = (
    "checkpoint_id", "checkpoint_step", "weights", "sampler", "steps", "spacing", "eta", "clip_x0",
    "bits", "noise_device",
)  # fmt: skip


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
    device: str = arg("auto", help="auto: this process's GPU if any, else cpu; or cpu, cuda:1...")
    bf16: bool = arg(True, help="bfloat16 autocast on GPU (CPU always runs float32)")
    channels_last: bool = arg(True, help="channels-last memory format on GPU")
    compile: Literal["auto", "on", "off"] = arg(
        "auto", help="torch.compile the network on GPU; auto: on for 512+ images per process"
    )
    progress: bool = arg(True, help="show a progress bar with images/s")


def seed_png(out: Path, seed: int) -> Path:
    """Where the image of ``seed`` goes."""
    return out / f"{seed:06d}.png"


def seed_meta(out: Path, seed: int) -> Path:
    """Where the metadata sidecar of ``seed`` goes."""
    return out / "meta" / f"{seed:06d}.json"


def is_done(out: Path, seed: int) -> bool:
    """A seed is finished once both its PNG and its sidecar exist (written in that order)."""
    return seed_png(out, seed).is_file() and seed_meta(out, seed).is_file()


def pick_device(device: str, state: Any) -> torch.device:
    """``auto``: the accelerate process's device (its GPU, or cpu); otherwise as given."""
    if device == "auto":
        return torch.device(state.device)
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise RadsynthError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RadsynthError(f"device {device!r} asked for, but no CUDA GPU is available")
    return dev


def identity_of(cfg: SampleConfig, ck: Any, device: torch.device) -> dict[str, Any]:
    """What every image in one output folder shares (``sampling.json``). The device type is
    part of it because CPU and CUDA generators draw different noise for the same seed."""
    meta = ck.config
    return {
        "checkpoint": str(ck.path),
        "checkpoint_id": ck.checkpoint_id,  # sha256 of the sampled weights file
        "checkpoint_step": ck.step,
        "weights": cfg.weights,
        "weights_sha256": ck.checkpoint_id,
        "sampler": cfg.sampler,
        "steps": cfg.steps,
        "spacing": resolved_spacing(cfg),
        "eta": cfg.eta if cfg.sampler == "ddim" else None,
        "clip_x0": cfg.clip_x0,
        "noise_device": device.type,
        "bits": cfg.bits,
        "function_evaluations": function_evaluations(cfg.sampler, cfg.steps),
        "prediction_type": ck.prediction_type,
        "num_train_timesteps": ck.num_train_timesteps,
        "image_size_px": ck.image_size_px,
        "channels": ck.channels,
        "model": meta.get("model"),
        "diffusion": meta.get("diffusion"),
        "pixel_mapping": "png = round(clip((x + 1) / 2, 0, 1) * (2^bits - 1))",
    }


def resolved_spacing(cfg: SampleConfig) -> str:
    return DEFAULT_SPACING[cfg.sampler] if cfg.spacing == "auto" else cfg.spacing


def check_identity(out: Path, identity: dict[str, Any]) -> bool:
    """True when ``out/sampling.json`` exists and matches ``identity``; False when it is absent.

    Raises:
        RadsynthError: it exists but records another checkpoint, weights, sampler, step count,
            spacing, eta or bit depth (images are never mixed silently), or is unreadable.
    """
    record = out / "sampling.json"
    if not record.is_file():
        return False
    try:
        previous = json.loads(record.read_text())
    except (OSError, json.JSONDecodeError):
        raise RadsynthError(f"{record} is unreadable; remove the folder to start over") from None
    differ = [k for k in IDENTITY_KEYS if previous.get(k) != identity.get(k)]
    if differ:
        detail = ", ".join(f"{k} {previous.get(k)!r} != {identity.get(k)!r}" for k in differ)
        raise RadsynthError(
            f"{out} holds images from another setup ({detail}); choose a new folder"
        )
    return True


def claim_output(out: Path, identity: dict[str, Any], cfg: SampleConfig) -> None:
    """Create ``out`` for these samples, or check that what it holds came from the same setup.

    Raises:
        RadsynthError: ``out`` is a file, holds unrelated files, or holds images of another
            setup (see :func:`check_identity`).
    """
    if out.exists() and not out.is_dir():
        raise RadsynthError(f"output path {out} exists and is not a folder")
    if check_identity(out, identity):
        return
    if out.is_dir() and any(out.iterdir()):
        raise RadsynthError(f"output folder {out} already holds other files; choose a new folder")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "sampling.json", json.dumps(identity, indent=2) + "\n")
    atomic_write_text(out / "config.json", config_json(cfg))
    atomic_write_text(out / "manifest.json", json.dumps({"stage": STAGE, "complete": False}) + "\n")


def open_output(state: Any, out: Path, identity: dict[str, Any], cfg: SampleConfig) -> None:
    """The main process claims ``out`` and clears temporary files a ``kill -9`` left; then every
    process checks it. A refusal is raised on every process, so none waits forever."""
    refused = None
    if state.is_main_process:
        try:
            claim_output(out, identity, cfg)
        except RadsynthError as exc:
            refused = exc
        else:
            for stale in [*out.glob(".*.tmp"), *out.glob("meta/.*.tmp")]:
                stale.unlink(missing_ok=True)  # never a finished file: those are renamed
    state.wait_for_everyone()
    if refused is not None:
        raise refused
    if not check_identity(out, identity):
        raise RadsynthError(f"{out} was not prepared by the main process")


#: With ``--compile auto``, compile only when there are this many images to amortise it over.
COMPILE_MIN_IMAGES = 512


def prepare_network(
    model: torch.nn.Module, device: torch.device, cfg: SampleConfig, n_images: int
) -> Any:
    """The network as sampling runs it: channels-last and compiled on GPU when asked."""
    if device.type != "cuda":
        return model
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if cfg.compile == "on" or (cfg.compile == "auto" and n_images >= COMPILE_MIN_IMAGES):
        model = torch.compile(model)
    return model


def to_images(x0: torch.Tensor) -> np.ndarray:
    """(B, 1, H, W) model-space images in [-1, 1] -> (B, H, W) float32 in [0, 1]."""
    return ((x0.float().clamp(-1, 1) + 1) / 2)[:, 0].cpu().numpy()


def batches(seeds: list[int], size: int) -> Iterator[list[int]]:
    for i in range(0, len(seeds), size):
        yield seeds[i : i + size]


def sample_seeds(
    den: VPDenoiser, cfg: SampleConfig, seeds: list[int], shape: tuple[int, ...], device
) -> torch.Tensor:
    """Sample the images of ``seeds``; returns (B, C, H, W) in model space ([-1, 1])."""
    sampler = get_sampler(cfg.sampler)
    sigmas = sampling_sigmas(den.train_sigmas, cfg.steps, resolved_spacing(cfg))
    options = {"eta": cfg.eta} if cfg.sampler == "ddim" else {}
    noise = SeededNoise(seeds, device)
    x = start_noise(noise, shape, float(sigmas[0]))
    return sampler(den, x, sigmas, noise, **options)


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


def sample(cfg: SampleConfig) -> StageResult:
    """Write ``cfg.n`` images, seeds ``seed_start..``, skipping those already in ``cfg.out``.

    Seeds are dealt to accelerate processes by index (rank r takes every world-size-th seed),
    so under ``accelerate launch`` each image is written exactly once.

    Raises:
        RadsynthError: n < 1, an unknown sampler, a bad step count, a missing or corrupt
            checkpoint, or an output folder holding images of another setup.
    """
    from accelerate import PartialState

    from radsynth.training.checkpoint import load_checkpoint

    check_config(cfg)
    # accelerate runs several CPU processes (gloo) only when told cpu=True.
    on_cpu = cfg.device == "cpu" or (cfg.device == "auto" and not torch.cuda.is_available())
    state = PartialState(cpu=on_cpu)
    device = pick_device(cfg.device, state)
    ck = load_checkpoint(cfg.ckpt, weights=cfg.weights, device=device)
    if ck.channels != 1:
        raise RadsynthError(f"{ck.path}: {ck.channels}-channel model; radiographs are grey")
    sampling_sigmas(torch.ones(ck.num_train_timesteps), cfg.steps)  # check steps early
    identity = identity_of(cfg, ck, device)
    out = cfg.out
    open_output(state, out, identity, cfg)

    # This process's share of the seeds, by index, minus those already finished.
    seeds = list(range(cfg.seed_start, cfg.seed_start + cfg.n))
    share = seeds[state.process_index :: state.num_processes]
    mine = [s for s in share if not is_done(out, s)]
    on_gpu = device.type == "cuda"
    autocast = torch.bfloat16 if on_gpu and cfg.bf16 else None
    net = prepare_network(ck.model, device, cfg, len(mine))
    channels_last = on_gpu and cfg.channels_last
    den = VPDenoiser(net, ck.betas, ck.prediction_type, autocast, channels_last, cfg.clip_x0)
    base = {
        **_short(identity),
        "device": str(device),
        "precision": "bf16" if autocast else "fp32",
        "batch": cfg.batch,
        "processes": state.num_processes,
        "process_index": state.process_index,
    }
    shape = (ck.channels, ck.image_size_px, ck.image_size_px)
    show = cfg.progress and state.is_main_process
    seconds = write_samples(den, cfg, mine, shape, device, base, show)
    state.wait_for_everyone()

    done = [s for s in seeds if is_done(out, s)]
    if state.is_main_process:
        finish(out, cfg, ck, done)
    rate = len(mine) / seconds if mine and seconds > 0 else 0.0
    skipped = len(share) - len(mine)
    summary = f"{len(done)}/{cfg.n} images in {out} ({cfg.sampler}, {cfg.steps} steps"
    summary += f", {cfg.weights} weights); this process made {len(mine)} at {rate:.2f} images/s"
    if skipped:
        summary += f", {skipped} already there"
    if state.is_main_process:
        log_checkpoint(log, STAGE, ck.path.name, summary)
    return StageResult(out=out, summary=summary)


def write_samples(
    den: VPDenoiser,
    cfg: SampleConfig,
    seeds: list[int],
    shape: tuple[int, ...],
    device: torch.device,
    record: dict[str, Any],
    show_progress: bool,
) -> float:
    """Sample ``seeds`` batch by batch; write each PNG, then its sidecar. Returns seconds."""
    progress = bar(total=len(seeds), desc="sample", enabled=show_progress)
    start = time.perf_counter()
    for group in batches(seeds, cfg.batch):
        images = to_images(sample_seeds(den, cfg, group, shape, device))  # (B, H, W) in [0, 1]
        for seed, img in zip(group, images, strict=True):
            write_png(seed_png(cfg.out, seed), img, bits=cfg.bits)
            meta = {"image": seed_png(cfg.out, seed).name, "seed": seed, **record}
            atomic_write_text(seed_meta(cfg.out, seed), json.dumps(meta) + "\n")
        progress.update(len(group))
    progress.close()
    return time.perf_counter() - start


def _short(identity: dict[str, Any]) -> dict[str, Any]:
    keys = ("checkpoint_id", "checkpoint_step", "weights", "weights_sha256", "sampler", "steps",
            "spacing", "eta", "clip_x0", "bits", "noise_device")  # fmt: skip
    return {k: identity[k] for k in keys}


def finish(out: Path, cfg: SampleConfig, ck: Any, done: list[int]) -> None:
    """Write ``samples.jsonl`` (every finished image in the folder) and the manifest."""
    from radsynth.training.checkpoint import WEIGHT_FILES

    present = sorted(int(p.stem) for p in (out / "meta").glob("*.json") if p.stem.isdigit())
    lines = [seed_meta(out, s).read_text().strip() for s in present if is_done(out, s)]
    atomic_write_text(out / "samples.jsonl", "\n".join(lines) + "\n")
    write_manifest(
        out,
        STAGE,
        cfg,
        inputs=[ck.path / "config.json", ck.path / WEIGHT_FILES[cfg.weights]],
        seeds={"start": cfg.seed_start, "n": cfg.n, "finished_in_range": len(done)},
        extra={
            "images_in_folder": len(lines),
            "sampling": json.loads((out / "sampling.json").read_text()),
        },
    )
