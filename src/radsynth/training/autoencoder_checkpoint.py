"""Autoencoder checkpoints: written atomically, listed, and loaded for a latent model.

Layout of one checkpoint (``OUT/checkpoints/step-0002000/``)::

    autoencoder.safetensors     the autoencoder's weights (fp32)
    discriminator.safetensors   the PatchGAN's weights (fp32), for resuming
    state.pt                    both optimizers, step, data position, the latent-noise RNG,
                                loss history (torch.load(weights_only=True) reads it)
    config.json                 {"format", "version", "step", "autoencoder_train": the config,
                                 "model": AutoencoderShape, "scale_factor": 1 / std or null}

A checkpoint is written by :func:`radsynth.training.checkpoint.write_folder`: into a hidden
temporary folder, fsynced and renamed into place, so a crash leaves no half-written ``step-*``
folder.
``scale_factor`` is set once the run ends (the training latents are encoded then); only a
checkpoint that has it can feed a latent diffusion model.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from radsynth.errors import RadsynthError
from radsynth.io import read_json
from radsynth.layout import checkpoint_folder
from radsynth.models.autoencoder import AutoencoderShape, build_autoencoder, decode, encode_moments
from radsynth.stage import atomic_write_text, sha256_file
from radsynth.training.checkpoint import list_checkpoints as training_checkpoints
from radsynth.training.checkpoint import (
    load_weights,
    module_weights,
    resolve_checkpoint,
    write_folder,
)

FORMAT = "radsynth-autoencoder-checkpoint"
VERSION = 1
AE_FILE, DISC_FILE = "autoencoder.safetensors", "discriminator.safetensors"
STATE_FILE, CONFIG_FILE = "state.pt", "config.json"


@dataclass(frozen=True)
class LoadedAutoencoder:
    """A trained autoencoder ready to encode films into latents and decode them back."""

    model: torch.nn.Module  # MONAI AutoencoderKL in eval mode, frozen
    shape: AutoencoderShape  # image size, channels, factor, latent channels
    scale_factor: float  # 1 / std of the training latents: z_scaled = scale_factor * z
    checkpoint_id: str  # sha256 of autoencoder.safetensors
    path: Path  # the checkpoint folder

    @torch.no_grad()
    def encode_moments(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Unscaled posterior mean and std (B, C, h, w) of images (B, 1, H, W) in [-1, 1]."""
        return encode_moments(self.model, x)

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images (B, 1, H, W) in [-1, 1] (clamped) of unscaled latents (B, C, h, w)."""
        return decode(self.model, z).clamp(-1, 1)


def list_checkpoints(out: Path) -> list[Path]:
    """Complete checkpoint folders of a run (or of its ``checkpoints/``), sorted by step."""
    return training_checkpoints(out, required=(CONFIG_FILE, AE_FILE))


def save_checkpoint(
    out: Path,
    step: int,
    *,
    ae: torch.nn.Module,
    disc: torch.nn.Module,
    state: dict[str, Any],
    config: dict[str, Any],
) -> Path:
    """Write ``out/checkpoints/step-NNNNNNN`` atomically; ``config`` holds
    ``{"autoencoder_train": ..., "model": ..., "scale_factor": ...}``. Returns the folder."""
    from safetensors.torch import save_file

    meta = {"format": FORMAT, "version": VERSION, "step": step, **config}
    files: dict[str, Callable[[Path], None]] = {
        AE_FILE: lambda p: save_file(module_weights(ae), p),
        DISC_FILE: lambda p: save_file(module_weights(disc), p),
        STATE_FILE: lambda p: torch.save(state, p),
        CONFIG_FILE: lambda p: p.write_text(json.dumps(meta, indent=2)),
    }
    return write_folder(checkpoint_folder(Path(out), step), files)


def read_config(folder: Path) -> dict[str, Any]:
    """A checkpoint's ``config.json``, checked for format and version."""
    meta = read_json(Path(folder) / CONFIG_FILE, "autoencoder checkpoint config")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise RadsynthError(f"{folder} is not a radsynth autoencoder checkpoint")
    if meta.get("version") != VERSION:
        raise RadsynthError(f"{folder}: autoencoder checkpoint version is not {VERSION}")
    return meta


def set_scale_factor(folder: Path, scale_factor: float) -> None:
    """Record the latent scale factor in a checkpoint's config.json (atomically)."""
    meta = read_config(folder)
    meta["scale_factor"] = scale_factor
    atomic_write_text(Path(folder) / CONFIG_FILE, json.dumps(meta, indent=2))


def load_state(folder: Path) -> dict[str, Any]:
    """The ``state.pt`` of a checkpoint, or RadsynthError in one line."""
    file = Path(folder) / STATE_FILE
    if not file.is_file():
        raise RadsynthError(f"{folder} has no {STATE_FILE}; it cannot be resumed")
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise RadsynthError(f"corrupt training state {file}: {exc}".splitlines()[0]) from None


def resolve(path: Path) -> Path:
    """A checkpoint folder from itself, a file in it, or a run folder (its latest)."""
    return resolve_checkpoint(path, (CONFIG_FILE, AE_FILE), kind="autoencoder ", contents=AE_FILE)


def load_autoencoder(
    path: Path,
    expect_size_px: int | None = None,
    expect_channels: int | None = None,
    device: str | torch.device = "cpu",
    *,
    need_scale_factor: bool = True,
) -> LoadedAutoencoder:
    """Load a finished autoencoder for a latent model.

    Args:
        path: a checkpoint folder, a file in one, or a ``train-autoencoder`` output folder.
        expect_size_px, expect_channels: the image side and channels the caller's data has;
            an autoencoder trained at another size or channel count is refused.
        device: where to put the model.
        need_scale_factor: refuse a checkpoint without a scale factor (an unfinished run). A
            reconstruction report does not need one; it gets ``scale_factor`` NaN.

    Raises:
        RadsynthError: missing/corrupt checkpoint, no scale factor yet, or a size/channel
            mismatch (one line each).
    """
    folder = resolve(path)
    meta = read_config(folder)
    try:
        shape = AutoencoderShape.from_dict(meta["model"])
    except (KeyError, TypeError) as exc:
        raise RadsynthError(f"{folder}: bad autoencoder shape in config.json: {exc}") from None
    wrong = []
    if expect_size_px is not None and shape.image_size_px != expect_size_px:
        wrong.append(f"{shape.image_size_px} px, not {expect_size_px} px")
    if expect_channels is not None and shape.channels != expect_channels:
        wrong.append(f"{shape.channels} channels, not {expect_channels}")
    if wrong:
        raise RadsynthError(
            f"autoencoder {folder} was trained at {' and '.join(wrong)}; train one at this size"
        )
    scale = meta.get("scale_factor")
    if not isinstance(scale, int | float) and not need_scale_factor:
        scale = float("nan")
    if not isinstance(scale, int | float):
        raise RadsynthError(f"{folder} has no latent scale factor; let train-autoencoder finish")
    model = build_autoencoder(shape)
    load_weights(model, folder / AE_FILE)
    model.to(device).eval().requires_grad_(False)
    return LoadedAutoencoder(model, shape, float(scale), sha256_file(folder / AE_FILE), folder)
