"""Sampling a fine-tuned Stable Diffusion checkpoint (:mod:`radsynth.training.stable_diffusion`).

The checkpoint holds the fine-tuned tensors; the rest comes from the SD folder it names, which
must still hold the files it was fine-tuned from (same digest), or sampling refuses in one line.
The checkpoint becomes a :class:`radsynth.training.checkpoint.LoadedCheckpoint` whose network
takes a class index (the prompt of that class; the null class is the empty prompt), so
``--label``, ``--label-mix`` and ``--guidance`` and radsynth's own samplers work as for a
class-conditional DDPM, and image n still depends on seed n alone. Each latent is decoded on its
own and its 3 channels averaged back into one grey film.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from radsynth.errors import RadsynthError
from radsynth.stage import sha256_file
from radsynth.training.checkpoint import (
    WEIGHT_FILES,
    LoadedCheckpoint,
    checkpoint_format,
    read_checkpoint_config,
    resolve_checkpoint,
)
from radsynth.training.sd_folder import (
    PromptUNet,
    add_lora,
    encode_prompts,
    folder_digest,
    load_sd_parts,
    trainable,
)
from radsynth.training.stable_diffusion import SD_FORMAT


def is_sd_checkpoint(path: Path) -> bool:
    """True when ``path`` resolves to a fine-tuned Stable Diffusion checkpoint."""
    try:
        return checkpoint_format(resolve_checkpoint(path)) == SD_FORMAT
    except RadsynthError:
        return False  # the DDPM loader gives the one-line error


@dataclass(frozen=True)
class SDDecoder:
    """The frozen SD VAE's decoder, back to one grey channel."""

    vae: Any  # diffusers AutoencoderKL, eval
    scaling_factor: float  # latents were scaled by it for the UNet
    image_size_px: int  # side of the decoded films
    record: dict[str, Any]  # what sampling.json records of the folder and prompts

    @torch.no_grad()
    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        """Films (B, 1, H, W) in [-1, 1] of scaled latents (B, 4, h, w), one at a time."""
        films = [
            self.vae.decode(z[i : i + 1].float() / self.scaling_factor).sample.mean(1, True)
            for i in range(len(z))
        ]
        return torch.cat(films).clamp(-1, 1)

    def identity(self) -> dict[str, Any]:
        return {**self.record, "decoded_size_px": self.image_size_px}


def load_trainable(unet: torch.nn.Module, file: Path) -> None:
    """Copy the fine-tuned tensors into the UNet; one line when they do not fit it."""
    from safetensors.torch import load_file

    try:
        tensors = load_file(file)
    except Exception as exc:
        raise RadsynthError(f"corrupt weights {file}: {exc}".splitlines()[0]) from None
    params = trainable(unet)
    if set(tensors) != set(params):
        raise RadsynthError(f"{file} does not fit the UNet of its Stable Diffusion folder")
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(tensors[name])


def load_sd_checkpoint(
    path: Path, weights: str, device: torch.device
) -> tuple[LoadedCheckpoint, SDDecoder]:
    """The checkpoint as a class-conditional network over latents, and its decoder.

    Raises:
        RadsynthError: the SD folder is gone or changed, or the weights do not fit (one line).
    """
    if weights not in WEIGHT_FILES:
        raise RadsynthError(f"weights must be one of {', '.join(WEIGHT_FILES)}, not {weights!r}")
    folder = resolve_checkpoint(path)
    meta = read_checkpoint_config(folder, format=SD_FORMAT)
    base = Path(meta["stable_diffusion"]["path"])
    if not base.is_dir():
        raise RadsynthError(f"the Stable Diffusion folder {base} of {folder} is gone; restore it")
    if folder_digest(base) != meta["stable_diffusion"]["sha256"]:
        raise RadsynthError(f"the Stable Diffusion folder {base} changed since {folder} was made")
    parts = load_sd_parts(base)
    if meta["lora_rank"]:
        add_lora(parts.unet, meta["lora_rank"])
    file = folder / WEIGHT_FILES[weights]
    load_trainable(parts.unet, file)
    states = encode_prompts(parts, meta["prompts"]).to(device)
    net = PromptUNet(parts.unet.to(device), states).eval()
    factor = 2 ** (len(parts.vae.config.block_out_channels) - 1)
    size = int(meta["image_size_px"])
    ck = LoadedCheckpoint(
        model=net,
        prediction_type=parts.prediction_type,
        num_train_timesteps=len(parts.betas),
        betas=parts.betas,
        image_size_px=size // factor,
        channels=int(parts.unet.config.in_channels),
        step=int(meta["step"]),
        checkpoint_id=sha256_file(file),
        config=meta,
        path=folder,
    )
    record = {"stable_diffusion": meta["stable_diffusion"], "prompts": meta["prompts"]}
    return ck, SDDecoder(parts.vae.to(device).eval(), parts.scaling_factor, size, record)
