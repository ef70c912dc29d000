"""Sampling a latent diffusion checkpoint: the UNet samples latents, the autoencoder decodes.

A checkpoint trained with ``radsynth train --autoencoder`` records its autoencoder by reference
(``config.json["autoencoder"]``: folder, sha256 of its weights, shape, scale factor; see
:func:`radsynth.training.latent_data.autoencoder_record`). Sampling loads that folder and
refuses, in one line, when it is gone or its weights changed: latents only mean something to
the decoder they were learned with.

Each latent z is decoded on its own, x = D(z / scale_factor), so image n still depends on seed
n alone whatever the batch size. ``--clip-x0`` would clamp latents to [-1, 1], which they
exceed by design, so a latent checkpoint samples without it and refuses it when given.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from radsynth.errors import RadsynthError
from radsynth.sampling.config import SampleConfig
from radsynth.training.autoencoder_checkpoint import LoadedAutoencoder, load_autoencoder


@dataclass(frozen=True)
class LatentDecoder:
    """The autoencoder half that turns sampled latents into films."""

    ae: LoadedAutoencoder  # the checkpoint's own autoencoder, checked by digest
    scale_factor: float  # the scale the UNet was trained at: z_scaled = scale_factor * z
    record: dict[str, Any]  # the checkpoint's ``autoencoder`` record

    @torch.no_grad()
    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        """Films (B, 1, H, W) in [-1, 1] of scaled latents (B, C, h, w), one at a time."""
        return torch.cat(
            [self.ae.decode(z[i : i + 1].float() / self.scale_factor) for i in range(len(z))]
        )

    @property
    def image_size_px(self) -> int:
        """Side of the decoded films."""
        return self.ae.shape.image_size_px

    def identity(self) -> dict[str, Any]:
        """What ``sampling.json`` records beyond the UNet's own fields."""
        return {"autoencoder": self.record, "decoded_size_px": self.image_size_px}


def latent_decoder(config: dict[str, Any], device: torch.device) -> LatentDecoder | None:
    """The decoder of a checkpoint's config.json (None for a pixel-space checkpoint).

    Raises:
        RadsynthError: the recorded autoencoder is missing, unreadable or changed (one line).
    """
    record = config.get("autoencoder")
    if record is None:
        return None
    path = Path(record["path"])
    try:
        ae = load_autoencoder(path, device=device)
    except RadsynthError as exc:
        raise RadsynthError(
            f"this latent checkpoint's autoencoder cannot be loaded: {exc}"
        ) from None
    if ae.checkpoint_id != record["sha256"]:
        raise RadsynthError(
            f"the autoencoder at {path} has changed since this latent model was trained "
            f"(sha256 {ae.checkpoint_id[:12]}, trained with {record['sha256'][:12]}); restore it"
        )
    return LatentDecoder(ae, float(record["scale_factor"]), record)


def latent_sample_config(given: SampleConfig, cfg: SampleConfig) -> SampleConfig:
    """``cfg`` (with diffusion defaults) for a latent checkpoint: no x0 clamp.

    Raises:
        RadsynthError: ``--clip-x0`` was given (one line).
    """
    if given.clip_x0:
        raise RadsynthError("--clip-x0 clamps to [-1, 1]; a latent checkpoint's latents exceed it")
    return dataclasses.replace(cfg, clip_x0=False)
