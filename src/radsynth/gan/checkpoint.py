"""GAN checkpoints: the DDPM checkpoint layout, with a discriminator and a GAN format.

One checkpoint (``TRAIN/checkpoints/step-0002000/``), written atomically by
:func:`radsynth.training.checkpoint.save_checkpoint`::

    model.safetensors          online generator
    ema.safetensors            EMA generator, what samples come from
    discriminator.safetensors  discriminator
    state.pt                   both optimizers, step, data position, RNG states, loss history
    config.json                {"format": "radsynth-gan-checkpoint", "version", "step",
                                "train_gan": GanTrainConfig, "model": GanShape,
                                "classes": {"columns", "names"} (conditional runs),
                                "w_avg": {"ema", "online"}: per-class average mapped latent
                                of each generator, (K or 1, latent_dim)}

The file names of the generators are those of a DDPM checkpoint, so listing and resolving
checkpoints (and the FID sweep over them) works for both families.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from radsynth.errors import RadsynthError
from radsynth.gan.model import GanShape, Generator
from radsynth.stage import sha256_file
from radsynth.training import checkpoint as ckpt

FORMAT = "radsynth-gan-checkpoint"
DISCRIMINATOR_FILE = "discriminator.safetensors"
#: Latents averaged per class for the truncation centre, from a fixed seed.
W_AVG_SAMPLES = 4096
W_AVG_SEED = 0x0A7E
#: Which network's average latent goes with which weights file.
LATENT_OF = {"ema": "ema", "online": "generator"}


@dataclass(frozen=True)
class LoadedGan:
    """A GAN checkpoint ready for sampling."""

    generator: Generator  # in eval mode, on the requested device
    shape: GanShape  # the networks' shape
    w_avg: torch.Tensor  # (K or 1, latent_dim) float32 average mapped latent per class
    step: int  # optimizer steps done when it was saved
    checkpoint_id: str  # sha256 of the loaded weights file
    config: dict[str, Any]  # the checkpoint's config.json
    path: Path  # the checkpoint folder


def is_gan_checkpoint(path: Path) -> bool:
    """Whether ``path`` (a checkpoint folder, a file in one, or a run folder) is a GAN's."""
    return ckpt.checkpoint_format(ckpt.resolve_checkpoint(path)) == FORMAT


@torch.no_grad()
def average_latents(generator: Generator, device: torch.device) -> torch.Tensor:
    """Mean of the mapping output over ``W_AVG_SAMPLES`` fixed latents, per class.

    Returns:
        (K, latent_dim) float32 on the CPU for K classes, or (1, latent_dim) if unconditional.
    """
    shape = generator.shape
    gen = torch.Generator().manual_seed(W_AVG_SEED)
    z = torch.randn(W_AVG_SAMPLES, shape.latent_dim, generator=gen).to(device)
    rows = []
    for k in range(max(1, shape.num_classes)):
        y = torch.full((len(z),), k, device=device) if shape.num_classes else None
        rows.append(generator.mapping(z, y).double().mean(dim=0).float())
    return torch.stack(rows).cpu()


def save_gan_checkpoint(
    out: Path,
    step: int,
    networks: dict[str, torch.nn.Module],
    state: dict[str, Any],
    meta: dict[str, Any],
    device: torch.device,
) -> Path:
    """Write a GAN checkpoint; ``networks`` = {"generator", "ema", "discriminator"}."""
    w_avg = {k: average_latents(networks[n], device).tolist() for k, n in LATENT_OF.items()}
    return ckpt.save_checkpoint(
        out,
        step,
        model=networks["generator"],
        ema=networks["ema"],
        state=state,
        config={**meta, "w_avg": w_avg},
        extra_weights={DISCRIMINATOR_FILE: networks["discriminator"]},
        format=FORMAT,
    )


def load_gan_checkpoint(
    path: Path, weights: str = "ema", device: str | torch.device = "cpu"
) -> LoadedGan:
    """Load a GAN checkpoint's generator for sampling.

    Raises:
        RadsynthError: missing, incomplete or corrupt checkpoint, or an unknown ``weights``.
    """
    if weights not in ckpt.WEIGHT_FILES:
        raise RadsynthError(
            f"weights must be one of {', '.join(ckpt.WEIGHT_FILES)}, not {weights!r}"
        )
    folder = ckpt.resolve_checkpoint(path)
    meta = ckpt.read_checkpoint_config(folder, FORMAT)
    try:
        shape = GanShape.from_dict(meta["model"])
        generator = Generator(shape)
        w_avg = torch.tensor(meta["w_avg"][weights], dtype=torch.float32)
        step = int(meta["step"])
    except (KeyError, TypeError, ValueError) as exc:
        raise RadsynthError(f"{folder}: bad GAN config: {exc}") from None
    if w_avg.shape != (max(1, shape.num_classes), shape.latent_dim):
        raise RadsynthError(f"{folder}: w_avg has shape {tuple(w_avg.shape)}, not per class")
    file = folder / ckpt.WEIGHT_FILES[weights]
    ckpt.load_weights(generator, file)
    generator.to(device).eval()
    return LoadedGan(generator, shape, w_avg, step, sha256_file(file), meta, folder)
