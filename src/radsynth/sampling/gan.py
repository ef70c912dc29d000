"""Sampling a GAN checkpoint: ``radsynth sample`` on a checkpoint whose format is a GAN's.

Image n depends on seed n alone, whatever the batch size or the number of processes: its latent
z is drawn on the CPU from its own ``torch.Generator().manual_seed(n)`` (never one
``randn(B, ...)`` for the batch), the generator has no batch-dependent layer and no per-layer
noise, and truncation (Karras et al. 2019, sec. 5.1) pulls the mapped latent towards the stored
average latent of the image's own class: w' = w_avg[c] + psi (w - w_avg[c]).

The outputs are those of a DDPM's samples (:mod:`radsynth.sampling.outputs`): ``{seed:06d}.png``,
``meta/{seed:06d}.json``, ``sampling.json``, ``samples.jsonl``, so every later stage reads them
unchanged. ``sampling.json`` records ``"sampler": "gan"`` and one step (one generator call).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import torch

from radsynth.data.imageio import write_png
from radsynth.errors import RadsynthError
from radsynth.gan.checkpoint import LoadedGan, load_gan_checkpoint
from radsynth.gan.sample import generate, seed_latents
from radsynth.progress import bar
from radsynth.sampling.config import DIFFUSION_ONLY, SampleConfig
from radsynth.sampling.guidance import ClassPlan
from radsynth.sampling.outputs import finish, is_done, open_output, seed_png, write_sidecar
from radsynth.training.conditioning import ClassSpec

log = logging.getLogger(__name__)


class GanClassPlan(ClassPlan):
    """Which class each seed gets. A GAN has no null class, hence no guidance and no
    unconditional mode: without ``--label``/``--label-mix``, seed n of a conditional GAN gets
    class n mod K (classes in turn, a function of the seed alone)."""

    def __init__(self, spec: ClassSpec | None, cfg: SampleConfig) -> None:
        super().__init__(spec, cfg.label, cfg.label_mix, None, cfg.seed_start, cfg.n)
        self.guidance = None
        self.cycled = spec is not None and cfg.label is None and not cfg.label_mix

    def name(self, seed: int) -> str | None:
        if self.cycled:
            return self.spec.names[seed % len(self.spec.names)]
        return super().name(seed)

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "classes_by_seed": "seed mod K" if self.cycled else None}

    def labels(self, seeds: Sequence[int]) -> torch.Tensor | None:
        """(B,) int64 class indices of ``seeds``, or None for an unconditional GAN."""
        if self.spec is None:
            return None
        return torch.tensor([self.spec.index(self.name(s)) for s in seeds])


def refuse_diffusion_settings(cfg: SampleConfig) -> None:
    """A diffusion-only setting given explicitly (set, not None) for a GAN checkpoint.

    Raises:
        RadsynthError: naming the first such setting, in one line.
    """
    given = [f for f in DIFFUSION_ONLY if getattr(cfg, f) is not None]
    if given:
        flag = "--" + given[0].replace("_", "-")
        raise RadsynthError(f"{flag} is a diffusion setting; {cfg.ckpt} is a GAN checkpoint")


def gan_identity(cfg: SampleConfig, loaded: LoadedGan, plan: GanClassPlan) -> dict[str, Any]:
    """What every image of one output folder shares (``sampling.json``), with the same keys a
    DDPM's folder has (``sampler`` "gan", one step) plus the truncation."""
    return {
        "checkpoint": str(loaded.path),
        "checkpoint_id": loaded.checkpoint_id,
        "checkpoint_step": loaded.step,
        "weights": cfg.weights,
        "weights_sha256": loaded.checkpoint_id,
        "generator": "gan",
        "sampler": "gan",
        "steps": 1,
        "spacing": None,
        "eta": None,
        "clip_x0": None,
        "truncation_psi": psi_of(cfg),
        "noise_device": "cpu",  # latents are drawn on the CPU whatever the device
        "bits": cfg.bits,
        "function_evaluations": 1,
        "image_size_px": loaded.shape.image_size_px,
        "channels": loaded.shape.channels,
        "model": loaded.config.get("model"),
        "pixel_mapping": "png = round(clip((x + 1) / 2, 0, 1) * (2^bits - 1))",
        **plan.identity(),
    }


def psi_of(cfg: SampleConfig) -> float:
    """The truncation psi (1 = none)."""
    return 1.0 if cfg.truncation_psi is None else float(cfg.truncation_psi)


def sample_gan(cfg: SampleConfig, state: Any, device: torch.device) -> tuple[str, int, int]:
    """Write the images of ``cfg`` from a GAN checkpoint (seeds dealt to processes by index).

    Returns:
        (checkpoint folder name, images this process made, seconds it took).

    Raises:
        RadsynthError: a diffusion-only setting, a bad class or truncation, a bad checkpoint
            or an output folder holding images of another setup.
    """
    refuse_diffusion_settings(cfg)
    if not psi_of(cfg) >= 0:
        raise RadsynthError(f"--truncation-psi must be 0 or more, got {cfg.truncation_psi}")
    loaded = load_gan_checkpoint(cfg.ckpt, weights=cfg.weights, device=device)
    plan = GanClassPlan(ClassSpec.from_dict(loaded.config.get("classes")), cfg)
    identity = gan_identity(cfg, loaded, plan)
    open_output(state, cfg.out, identity, cfg)
    seeds = list(range(cfg.seed_start, cfg.seed_start + cfg.n))
    mine = [s for s in seeds[state.process_index :: state.num_processes] if not is_done(cfg.out, s)]
    keys = ("checkpoint_id", "checkpoint_step", "weights", "weights_sha256", "sampler", "steps")
    record = {k: identity[k] for k in (*keys, "truncation_psi", "bits", "noise_device")}
    record |= {"device": str(device), "precision": "fp32", "batch": cfg.batch}
    record |= {"processes": state.num_processes, "process_index": state.process_index}
    show = cfg.progress is not False and state.is_main_process
    progress = bar(total=len(mine), desc="sample", enabled=show, force=cfg.progress is True)
    start = time.perf_counter()
    for i in range(0, len(mine), cfg.batch):
        group = mine[i : i + cfg.batch]
        z = seed_latents(group, loaded.shape.latent_dim)
        x = generate(loaded, z, plan.labels(group), psi_of(cfg), device)
        images = ((x.float().clamp(-1, 1) + 1) / 2)[:, 0].cpu().numpy()  # (B, H, W) in [0, 1]
        for seed, img in zip(group, images, strict=True):
            write_png(seed_png(cfg.out, seed), img, bits=cfg.bits)
            write_sidecar(cfg.out, seed, record, plan)
        progress.update(len(group))
    progress.close()
    seconds = time.perf_counter() - start
    state.wait_for_everyone()
    if state.is_main_process:
        finish(cfg.out, cfg, loaded, [s for s in seeds if is_done(cfg.out, s)])
    return loaded.path.name, len(mine), seconds
