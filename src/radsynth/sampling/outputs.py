"""What ``radsynth sample`` writes, and the rule that keeps one folder to one setup.

``sampling.json`` records what every image of a folder shares (checkpoint, weights, sampler,
steps, ...); a later run into the same folder must match it (:data:`IDENTITY_KEYS`), so images
of two setups are never mixed. Each image ``{seed:06d}.png`` has a sidecar
``meta/{seed:06d}.json``, written after it, so a seed is finished once both exist.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from radsynth.config import config_json
from radsynth.errors import RadsynthError
from radsynth.io import read_json, read_text
from radsynth.sampling.config import SampleConfig, resolved_spacing, with_diffusion_defaults
from radsynth.sampling.guidance import ClassPlan
from radsynth.sampling.samplers import function_evaluations
from radsynth.stage import atomic_write_text, write_manifest

STAGE = "sample"
#: Fields of sampling.json that must match for two runs to share an output folder.
IDENTITY_KEYS = (
    "checkpoint_id",
    "checkpoint_step",
    "weights",
    "sampler",
    "steps",
    "spacing",
    "eta",
    "clip_x0",
    "bits",
    "noise_device",
    "label",
    "label_mix",
    "guidance",
)


def seed_png(out: Path, seed: int) -> Path:
    """Where the image of ``seed`` goes."""
    return out / f"{seed:06d}.png"


def seed_meta(out: Path, seed: int) -> Path:
    """Where the metadata sidecar of ``seed`` goes."""
    return out / "meta" / f"{seed:06d}.json"


def is_done(out: Path, seed: int) -> bool:
    """A seed is finished once both its PNG and its sidecar exist (written in that order)."""
    return seed_png(out, seed).is_file() and seed_meta(out, seed).is_file()


def write_sidecar(out: Path, seed: int, record: dict[str, Any], plan: ClassPlan | None) -> None:
    """Write ``meta/{seed:06d}.json``: the image name, its seed, ``record`` (what the run
    shares) and, on a conditional checkpoint, the image's class and guidance."""
    meta = {"image": seed_png(out, seed).name, "seed": seed, **record}
    if plan is not None and plan.spec is not None:
        meta |= {"label": plan.name(seed), "guidance": plan.guidance}
    atomic_write_text(seed_meta(out, seed), json.dumps(meta) + "\n")


def identity_of(
    cfg: SampleConfig, ck: Any, device: torch.device, plan: ClassPlan | None = None
) -> dict[str, Any]:
    """What every image in one output folder shares (``sampling.json``). The device type is
    part of it because CPU and CUDA generators draw different noise for the same seed."""
    cfg = with_diffusion_defaults(cfg)
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
        **(plan.identity() if plan is not None else {}),
    }


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
        previous = read_json(record, "sampling record")
    except RadsynthError as exc:
        raise RadsynthError(f"{exc}; remove the folder to start over") from None
    if not isinstance(previous, dict):
        raise RadsynthError(f"{record} is not a sampling record; remove the folder to start over")
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


def short_identity(identity: dict[str, Any]) -> dict[str, Any]:
    """The identity fields every sidecar repeats."""
    keys = (
        "checkpoint_id",
        "checkpoint_step",
        "weights",
        "weights_sha256",
        "sampler",
        "steps",
        "spacing",
        "eta",
        "clip_x0",
        "bits",
        "noise_device",
    )
    return {k: identity[k] for k in keys}


def finish(
    out: Path, cfg: SampleConfig, ck: Any, done: list[int], this_run: dict[str, Any] | None = None
) -> None:
    """Write ``samples.jsonl`` (every finished image in the folder) and the manifest;
    ``this_run`` (images made by this call, seconds, seconds per image, peak memory) goes into
    the manifest as ``this_run``."""
    from radsynth.training.checkpoint import WEIGHT_FILES

    present = sorted(int(p.stem) for p in (out / "meta").glob("*.json") if p.stem.isdigit())
    lines = [read_text(seed_meta(out, s)).strip() for s in present if is_done(out, s)]
    atomic_write_text(out / "samples.jsonl", "\n".join(lines) + "\n")
    write_manifest(
        out,
        STAGE,
        cfg,
        inputs=[ck.path / "config.json", ck.path / WEIGHT_FILES[cfg.weights]],
        seeds={"start": cfg.seed_start, "n": cfg.n, "finished_in_range": len(done)},
        extra={
            "images_in_folder": len(lines),
            "sampling": read_json(out / "sampling.json", "sampling record"),
        }
        | ({"this_run": this_run} if this_run is not None else {}),
    )
