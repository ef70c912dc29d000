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

A latent diffusion checkpoint (:mod:`radsynth.sampling.latent`) and a fine-tuned Stable
Diffusion one (:mod:`radsynth.sampling.stable_diffusion`) sample latents the same way, then
decode each to a film of full size, with the same outputs.
A GAN checkpoint (:mod:`radsynth.sampling.gan`) writes the same outputs; a diffusion-only setting
given for it (``--sampler``, ``--steps``, ``--spacing``, ``--eta``, ``--clip-x0``, ``--guidance``)
is refused, as is ``--truncation-psi`` for a diffusion checkpoint.

Several GPUs: ``accelerate launch --multi_gpu --num_processes 8 -m radsynth.cli sample CKPT OUT
--n 27000``; process r samples seeds r, r + 8, ... (tested on CPU only, with 2 gloo processes:
``torchrun --nproc_per_node 2 -m radsynth.cli sample CKPT OUT --config cfg.yaml``; torchrun
mistakes ``--n`` for one of its own flags, so the values go in the config file).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from radsynth.data.imageio import write_png
from radsynth.errors import RadsynthError
from radsynth.hardware.figures import peak_memory
from radsynth.hardware.runtime import Runtime, resolve_runtime
from radsynth.progress import bar, log_checkpoint
from radsynth.sampling.config import (
    SampleConfig,
    check_config,
    resolved_spacing,
    with_diffusion_defaults,
)
from radsynth.sampling.denoiser import VPDenoiser
from radsynth.sampling.guidance import ClassPlan
from radsynth.sampling.latent import latent_decoder, latent_sample_config
from radsynth.sampling.outputs import (
    STAGE,
    finish,
    identity_of,
    is_done,
    open_output,
    seed_png,
    short_identity,
    write_sidecar,
)
from radsynth.sampling.samplers import SeededNoise, get_sampler, sampling_sigmas, start_noise
from radsynth.sampling.stable_diffusion import is_sd_checkpoint, load_sd_checkpoint
from radsynth.stage import StageResult
from radsynth.training.conditioning import ClassSpec

log = logging.getLogger(__name__)
__all__ = ["SampleConfig", "resolved_spacing", "sample", "sample_seeds", "seed_png"]


#: With ``--compile auto``, compile only when there are this many images to amortise it over.
COMPILE_MIN_IMAGES = 512


def wants_compile(flag: str, n_images: int) -> bool:
    """``--compile``: on, off, or auto (on when there are enough images to amortise it)."""
    return flag == "on" or (flag == "auto" and n_images >= COMPILE_MIN_IMAGES)


def prepare_network(model: torch.nn.Module, rt: Runtime) -> Any:
    """The network as sampling runs it: channels-last and compiled when the runtime says so."""
    if rt.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return torch.compile(model) if rt.compile else model


def to_images(x0: torch.Tensor) -> np.ndarray:
    """(B, 1, H, W) model-space images in [-1, 1] -> (B, H, W) float32 in [0, 1]."""
    return ((x0.float().clamp(-1, 1) + 1) / 2)[:, 0].cpu().numpy()


def batches(seeds: list[int], size: int) -> Iterator[list[int]]:
    for i in range(0, len(seeds), size):
        yield seeds[i : i + size]


def sample_seeds(
    den: VPDenoiser,
    cfg: SampleConfig,
    seeds: list[int],
    shape: tuple[int, ...],
    device,
    plan: ClassPlan | None = None,
) -> torch.Tensor:
    """Sample the images of ``seeds``; returns (B, C, H, W) in model space ([-1, 1])."""
    cfg = with_diffusion_defaults(cfg)
    sampler = get_sampler(cfg.sampler)
    sigmas = sampling_sigmas(den.train_sigmas, cfg.steps, resolved_spacing(cfg))
    if plan is not None:
        den = plan.wrap(den, seeds, cfg.clip_x0)
    options = {"eta": cfg.eta} if cfg.sampler == "ddim" else {}
    noise = SeededNoise(seeds, device)
    x = start_noise(noise, shape, float(sigmas[0]))
    return sampler(den, x, sigmas, noise, **options)


def sample(cfg: SampleConfig) -> StageResult:
    """Write ``cfg.n`` images, seeds ``seed_start..``, skipping those already in ``cfg.out``.

    Seeds are dealt to accelerate processes by index (rank r takes every world-size-th seed),
    so under ``accelerate launch`` each image is written exactly once.

    Raises:
        RadsynthError: n < 1, an unknown sampler, a bad step count, a missing or corrupt
            checkpoint, or an output folder holding images of another setup.
    """
    from accelerate import PartialState

    from radsynth.gan.checkpoint import is_gan_checkpoint
    from radsynth.sampling.gan import sample_gan
    from radsynth.training.checkpoint import load_checkpoint

    check_config(cfg)
    # One runtime for this process: bf16 and channels-last apply on a GPU only. accelerate
    # runs several CPU processes (gloo) only when told cpu=True; with --device auto each
    # process samples on the device accelerate gave it. A bad device name fails first.
    rt = resolve_runtime(cfg.device, bf16=cfg.bf16, channels_last=cfg.channels_last)
    gan = is_gan_checkpoint(cfg.ckpt)
    given = cfg  # config.json records the config as called (the pipeline compares it on resume)
    if not gan:
        cfg = with_diffusion_defaults(cfg)  # refuses a GAN-only setting
    state = PartialState(cpu=not rt.on_gpu)
    rt = rt.for_process(state.device) if cfg.device == "auto" else rt
    device = rt.device
    if gan:
        return _gan_result(cfg, state, *sample_gan(cfg, state, device))
    if is_sd_checkpoint(cfg.ckpt):  # fine-tuned Stable Diffusion: its UNet, VAE and prompts
        ck, decoder = load_sd_checkpoint(cfg.ckpt, cfg.weights, device)
    else:
        ck = load_checkpoint(cfg.ckpt, weights=cfg.weights, device=device)
        decoder = latent_decoder(ck.config, device)  # None: a pixel-space checkpoint
    if decoder is not None:
        cfg = latent_sample_config(given, cfg)
    elif ck.channels != 1:
        raise RadsynthError(f"{ck.path}: {ck.channels}-channel model; radiographs are grey")
    sampling_sigmas(torch.ones(ck.num_train_timesteps), cfg.steps)  # check steps early
    spec = ClassSpec.from_dict(ck.config.get("classes"))
    plan = ClassPlan(spec, cfg.label, cfg.label_mix, cfg.guidance, cfg.seed_start, cfg.n)
    identity = identity_of(cfg, ck, device, plan) | (decoder.identity() if decoder else {})
    out = cfg.out
    open_output(state, out, identity, given)

    # This process's share of the seeds, by index, minus those already finished.
    seeds = list(range(cfg.seed_start, cfg.seed_start + cfg.n))
    share = seeds[state.process_index :: state.num_processes]
    mine = [s for s in share if not is_done(out, s)]
    rt = replace(rt, compile=rt.on_gpu and wants_compile(cfg.compile, len(mine)))
    autocast = rt.dtype if rt.bf16 else None
    net = prepare_network(ck.model, rt)
    den = VPDenoiser(net, ck.betas, ck.prediction_type, autocast, rt.channels_last, cfg.clip_x0)
    base = {
        **short_identity(identity),
        "device": str(device),
        "precision": "bf16" if autocast else "fp32",
        "batch": cfg.batch,
        "processes": state.num_processes,
        "process_index": state.process_index,
    }
    shape = (ck.channels, ck.image_size_px, ck.image_size_px)
    show = cfg.progress is not False and state.is_main_process
    seconds = write_samples(den, cfg, mine, shape, device, base, show, plan, decoder)
    state.wait_for_everyone()

    done = [s for s in seeds if is_done(out, s)]
    peak = peak_memory(device)
    this_run = {
        "images": len(mine),
        "seconds": seconds,
        "seconds_per_image": seconds / len(mine) if mine else None,
        "peak_memory_gib": peak.gib,
        "peak_memory_source": peak.source,
    }
    if state.is_main_process:
        finish(out, given, ck, done, this_run)
    rate = len(mine) / seconds if mine and seconds > 0 else 0.0
    skipped = len(share) - len(mine)
    summary = f"{len(done)}/{cfg.n} images in {out} ({cfg.sampler}, {cfg.steps} steps"
    summary += f", {cfg.weights} weights); this process made {len(mine)} at {rate:.2f} images/s"
    summary += f", peak memory {peak.gib:.2f} GiB ({peak.source})"
    if skipped:
        summary += f", {skipped} already there"
    if state.is_main_process:
        log_checkpoint(log, STAGE, ck.path.name, summary)
    return StageResult(out=out, summary=summary)


def _gan_result(cfg: SampleConfig, state: Any, name: str, made: int, seconds: float):
    """The summary of a GAN checkpoint's sampling (see :func:`radsynth.sampling.gan.sample_gan`)."""
    done = sum(is_done(cfg.out, s) for s in range(cfg.seed_start, cfg.seed_start + cfg.n))
    rate = made / seconds if made and seconds > 0 else 0.0
    summary = f"{done}/{cfg.n} images in {cfg.out} (GAN, {cfg.weights} weights); "
    summary += f"this process made {made} at {rate:.2f} images/s"
    if state.is_main_process:
        log_checkpoint(log, STAGE, name, summary)
    return StageResult(out=cfg.out, summary=summary)


def write_samples(
    den: VPDenoiser,
    cfg: SampleConfig,
    seeds: list[int],
    shape: tuple[int, ...],
    device: torch.device,
    record: dict[str, Any],
    show_progress: bool,
    plan: ClassPlan | None = None,
    decode: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> float:
    """Sample ``seeds`` batch by batch; write each PNG, then its sidecar. Returns seconds.
    ``decode`` maps a latent checkpoint's samples to films (:mod:`radsynth.sampling.latent`)."""
    progress = bar(
        total=len(seeds), desc="sample", enabled=show_progress, force=cfg.progress is True
    )
    start = time.perf_counter()
    for group in batches(seeds, cfg.batch):
        x0 = sample_seeds(den, cfg, group, shape, device, plan)
        images = to_images(x0 if decode is None else decode(x0))  # (B, H, W) in [0, 1]
        for seed, img in zip(group, images, strict=True):
            write_png(seed_png(cfg.out, seed), img, bits=cfg.bits)
            write_sidecar(cfg.out, seed, record, plan)  # after the PNG: the seed is now done
        progress.update(len(group))
    progress.close()
    return time.perf_counter() - start
