"""Training checkpoints: write them atomically, list them, load them for sampling or resuming.

Layout of one checkpoint (``TRAIN/checkpoints/step-0002000/``)::

    model.safetensors   online weights (fp32)
    ema.safetensors     exponential-moving-average weights (fp32), used for sampling
    state.pt            optimizer, LR scheduler, step, data-order position, every RNG state,
                        loss history (torch.load(weights_only=True) can read it)
    config.json         {"format", "version", "step", "train": TrainConfig, "model": UNetConfig,
                         "diffusion": DiffusionConfig}

A checkpoint is first written into a hidden temporary folder next to its final place, every file
fsynced, then renamed into place with one ``os.rename``: a crash or ``kill -9`` during a save
leaves at most a stray ``.tmp-*`` folder, which :func:`list_checkpoints` ignores, and never a
half-written ``step-*`` folder. Older checkpoints may drop ``state.pt`` to save disk; they can
still be sampled but not resumed.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from radsynth.diffusion.schedule import DiffusionConfig
from radsynth.errors import RadsynthError
from radsynth.io import read_json
from radsynth.layout import checkpoint_folder, checkpoint_step, checkpoints_root
from radsynth.models.unet import UNetConfig, build_unet
from radsynth.stage import sha256_file

FORMAT = "radsynth-ddpm-checkpoint"
VERSION = 1
WEIGHT_FILES = {"ema": "ema.safetensors", "online": "model.safetensors"}
STATE_FILE = "state.pt"
CONFIG_FILE = "config.json"


@dataclass(frozen=True)
class LoadedCheckpoint:
    """A checkpoint ready for sampling."""

    model: Any  # diffusers UNet2DModel in eval mode, on the requested device
    prediction_type: str  # "epsilon" | "v_prediction"
    num_train_timesteps: int  # T
    betas: torch.Tensor  # (T,) float64, on the CPU
    image_size_px: int  # side of the square images the model was trained on
    channels: int  # image channels
    step: int  # optimizer steps done when it was saved
    checkpoint_id: str  # sha256 of the loaded weights file
    config: dict[str, Any]  # the checkpoint's config.json
    path: Path  # the checkpoint folder


def checkpoint_dir(train_dir: Path, step: int) -> Path:
    """Where the checkpoint of ``step`` lives (:func:`radsynth.layout.checkpoint_folder`)."""
    return checkpoint_folder(train_dir, step)


#: The files a complete DDPM or GAN checkpoint folder holds (the GAN adds its discriminator).
CHECKPOINT_FILES = (CONFIG_FILE, *WEIGHT_FILES.values())


def list_checkpoints(train_dir: Path, required: Sequence[str] = CHECKPOINT_FILES) -> list[Path]:
    """Complete checkpoint folders of a training run, sorted by step: those holding every file
    in ``required`` (by default a DDPM's or GAN's; the autoencoder names its own).

    ``train_dir`` may be the run folder (holding ``checkpoints/``) or ``checkpoints/`` itself.
    Hidden temporary folders left by an interrupted save are ignored.
    """
    root = checkpoints_root(train_dir)
    if not root.is_dir():
        return []
    found = []
    for p in root.iterdir():
        step = checkpoint_step(p.name)
        if step is not None and p.is_dir() and all((p / f).is_file() for f in required):
            found.append((step, p))
    return [p for _, p in sorted(found)]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_fsynced(path: Path, write: Callable[[Path], None]) -> None:
    write(path)
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def module_weights(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A module's state as contiguous CPU tensors, as safetensors writes them."""
    return {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}


def save_checkpoint(
    train_dir: Path,
    step: int,
    *,
    model: torch.nn.Module,
    ema: torch.nn.Module,
    state: dict[str, Any],
    config: dict[str, Any],
    extra_weights: dict[str, torch.nn.Module] | None = None,
    format: str = FORMAT,
) -> Path:
    """Write a checkpoint atomically and return its folder.

    Args:
        train_dir: the training run folder; the checkpoint goes to ``checkpoints/step-NNNNNNN``.
        step: optimizer steps done.
        model, ema: the unwrapped online and EMA networks.
        state: everything else needed to go on (see module docstring); saved with ``torch.save``.
        config: ``{"train": ..., "model": ..., "diffusion": ...}`` plain-JSON dicts.
        extra_weights: more networks, file name -> module (a GAN's discriminator).
        format: the ``format`` recorded in config.json (a GAN checkpoint has its own).
    """
    from safetensors.torch import save_file

    meta = {"format": format, "version": VERSION, "step": step, **config}
    networks = {WEIGHT_FILES["online"]: model, WEIGHT_FILES["ema"]: ema, **(extra_weights or {})}
    files: dict[str, Callable[[Path], None]] = {
        name: (lambda p, net=net: save_file(module_weights(net), p))
        for name, net in networks.items()
    }
    files[STATE_FILE] = lambda p: torch.save(state, p)
    files[CONFIG_FILE] = lambda p: p.write_text(json.dumps(meta, indent=2))
    return write_folder(checkpoint_dir(train_dir, step), files)


def save_sampleable(
    final: Path, *, online_file: Path, ema: dict[str, torch.Tensor], meta: dict[str, Any]
) -> Path:
    """Write a checkpoint that can be sampled but not resumed (no ``state.pt``) atomically
    into ``final``: the online weights copied from ``online_file``, the given EMA weights, and
    ``meta`` (a source checkpoint's config.json, with its format and version) as config.json.
    """
    from safetensors.torch import save_file

    files: dict[str, Callable[[Path], None]] = {
        WEIGHT_FILES["online"]: lambda p: shutil.copyfile(online_file, p),
        WEIGHT_FILES["ema"]: lambda p: save_file({k: v.contiguous() for k, v in ema.items()}, p),
        CONFIG_FILE: lambda p: p.write_text(json.dumps(meta, indent=2)),
    }
    return write_folder(Path(final), files)


def write_folder(final: Path, files: dict[str, Callable[[Path], None]]) -> Path:
    """Write a folder atomically (see the module doc): each ``name -> write(path)`` into a
    hidden temporary folder beside ``final``, fsynced, then renamed into place."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-", dir=final.parent))
    try:
        for name, write in files.items():
            _write_fsynced(tmp / name, write)
        _fsync_dir(tmp)
        old = None
        if final.exists():  # re-saving a step: move the old one aside first, drop it after
            old = final.with_name(f".old-{final.name}-{os.getpid()}")
            os.rename(final, old)
        os.rename(tmp, final)
        _fsync_dir(final.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def prune_states(train_dir: Path, keep_last: int) -> None:
    """Drop ``state.pt`` (optimizer moments: 2x the model size) from all but the newest
    ``keep_last`` checkpoints; their weights stay for FID sweeps and sampling."""
    for path in list_checkpoints(train_dir)[: -keep_last if keep_last > 0 else None]:
        (path / STATE_FILE).unlink(missing_ok=True)


def resolve_checkpoint(
    path: Path,
    required: Sequence[str] = CHECKPOINT_FILES,
    *,
    kind: str = "",
    contents: str = "model/ema safetensors + config.json",
) -> Path:
    """A checkpoint folder from a checkpoint folder, a file in one, or a run folder (its latest).

    Args:
        path: what the user named.
        required: the files a complete checkpoint folder holds.
        kind, contents: the family's name ("autoencoder ") and files, for the one-line errors.
    """
    path = Path(path)

    def complete(folder: Path) -> bool:
        return all((folder / f).is_file() for f in required)

    if path.is_file() and complete(path.parent):
        return path.parent
    if complete(path):
        return path
    found = list_checkpoints(path, required)
    if found:
        return found[-1]
    if not path.exists():
        raise RadsynthError(f"{kind}checkpoint not found: {path}")
    raise RadsynthError(f"{path} holds no {kind or 'complete '}checkpoint ({contents})")


def checkpoint_format(path: Path) -> str | None:
    """The ``format`` of a checkpoint folder's config.json (None when it records none)."""
    meta = read_json(Path(path) / CONFIG_FILE, "checkpoint config")
    return meta.get("format") if isinstance(meta, dict) else None


def read_checkpoint_config(path: Path, format: str = FORMAT) -> dict[str, Any]:
    """The ``config.json`` of a checkpoint folder, checked for format and version."""
    meta = read_json(Path(path) / CONFIG_FILE, "checkpoint config")
    if not isinstance(meta, dict) or meta.get("format") != format:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise RadsynthError(f"{path} is not a {format} (its config.json's format: {found!r})")
    if meta.get("version") != VERSION:
        raise RadsynthError(f"{path}: checkpoint version {meta.get('version')} is not {VERSION}")
    return meta


def load_weights(module: torch.nn.Module, file: Path) -> None:
    """Load a safetensors file into ``module`` exactly (strict), or raise RadsynthError."""
    from safetensors.torch import load_file

    try:
        module.load_state_dict(load_file(file), strict=True)
    except Exception as exc:  # safetensors raises several types for truncated/garbled files
        raise RadsynthError(
            f"corrupt or mismatched weights {file}: {exc}".splitlines()[0]
        ) from None


def load_checkpoint(
    path: Path, weights: str = "ema", device: str | torch.device = "cpu"
) -> LoadedCheckpoint:
    """Load a checkpoint's network for sampling.

    Args:
        path: a checkpoint folder (or a file in it), or a training run folder (then its
            latest checkpoint).
        weights: "ema" (default; what samples should come from) or "online".
        device: where to put the model.

    Raises:
        RadsynthError: missing, incomplete or corrupt checkpoint, or an unknown ``weights``.
    """
    if weights not in WEIGHT_FILES:
        raise RadsynthError(f"weights must be one of {', '.join(WEIGHT_FILES)}, not {weights!r}")
    folder = resolve_checkpoint(path)
    meta = read_checkpoint_config(folder)
    try:
        model_cfg = UNetConfig.from_dict(meta["model"])
        diffusion = DiffusionConfig.from_dict(meta["diffusion"])
        model = build_unet(model_cfg)
    except (KeyError, TypeError, ValueError) as exc:
        raise RadsynthError(f"{folder}: bad model/diffusion config: {exc}") from None
    file = folder / WEIGHT_FILES[weights]
    load_weights(model, file)
    model.to(device).eval()
    return LoadedCheckpoint(
        model=model,
        prediction_type=diffusion.prediction_type,
        num_train_timesteps=diffusion.num_train_timesteps,
        betas=diffusion.betas(),
        image_size_px=model_cfg.image_size_px,
        channels=model_cfg.channels,
        step=int(meta["step"]),
        checkpoint_id=sha256_file(file),
        config=meta,
        path=folder,
    )


def load_training_state(folder: Path) -> dict[str, Any]:
    """The ``state.pt`` of a checkpoint folder (optimizer, scheduler, RNG, data position...)."""
    file = Path(folder) / STATE_FILE
    if not file.is_file():
        raise RadsynthError(f"{folder} has no {STATE_FILE}; it can be sampled but not resumed")
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise RadsynthError(f"corrupt training state {file}: {exc}".splitlines()[0]) from None
