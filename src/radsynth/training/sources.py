"""Which examples ``radsynth train`` learns from: the films (pixel space) or, with
``--autoencoder``, their latents (:mod:`radsynth.training.latent_data`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from radsynth.errors import RadsynthError
from radsynth.training.autoencoder_checkpoint import LoadedAutoencoder, load_autoencoder
from radsynth.training.checkpoint import list_checkpoints, read_checkpoint_config
from radsynth.training.config import TrainConfig
from radsynth.training.data import DataOrder, TrainingData
from radsynth.training.device_data import batch_source
from radsynth.training.latent_data import LatentSet, PixelSet, build_cache, load_latent_set

log = logging.getLogger(__name__)


def open_autoencoder(cfg: TrainConfig, data: TrainingData) -> LoadedAutoencoder | None:
    """The run's autoencoder (None in pixel space), checked against the films before anything
    is written.

    Raises:
        RadsynthError: no such autoencoder, one without a scale factor, one trained at another
            size or channel count, or ``--hflip`` with it (one line each).
    """
    if cfg.autoencoder is None:
        return None
    if cfg.hflip:
        raise RadsynthError(
            "--hflip cannot be used with --autoencoder: the latent of a flipped film is not the "
            "flipped latent (ingest flipped copies instead)"
        )
    channels = int(data.train.shape[1])
    return load_autoencoder(
        cfg.autoencoder, expect_size_px=cfg.image_size_px, expect_channels=channels
    )


def check_resumed_autoencoder(cfg: TrainConfig, ae: LoadedAutoencoder | None) -> None:
    """Refuse ``--resume`` when the autoencoder's weights changed since the run's latest
    checkpoint: its UNet learned the old latents. Reads only; one line."""
    if ae is None or not cfg.resume:
        return
    found = list_checkpoints(Path(cfg.out))
    record = read_checkpoint_config(found[-1]).get("autoencoder") if found else None
    if record is not None and record["sha256"] != ae.checkpoint_id:
        raise RadsynthError(
            f"cannot resume {cfg.out}: the autoencoder {ae.path} changed since its checkpoints "
            f"(sha256 {ae.checkpoint_id[:12]}, trained with {record['sha256'][:12]})"
        )


def training_set(
    cfg: TrainConfig, data: TrainingData, ae: LoadedAutoencoder | None, acc: Any
) -> PixelSet | LatentSet:
    """The examples of this run; in latent space the main process builds the latent cache
    (or finds it current) and every process then reads it."""
    if ae is None:
        return PixelSet(data)
    if acc.is_main_process:
        ae.model.to(acc.device)
        built = build_cache(Path(cfg.out), ae, data, acc.device)
        log.info("latent cache %s", "encoded" if built else "current, read")
    acc.wait_for_everyone()
    return load_latent_set(Path(cfg.out), ae, data)


Draw = Callable[[int, int, int, int], tuple[torch.Tensor, torch.Tensor | None]]


def batch_drawer(
    source: PixelSet | LatentSet,
    labels: torch.Tensor | None,
    seed: int,
    device: torch.device,
    on_device: bool,
) -> Draw:
    """``draw(position, global_batch, rank, world) -> (x0, y)``: this rank's share of the batch
    at stream ``position`` and its classes (or None). Films come from the device copy when
    ``on_device`` (:mod:`radsynth.training.device_data`); latents are drawn at their stream
    positions (:class:`~radsynth.training.latent_data.LatentSet`)."""
    if isinstance(source, PixelSet):
        return batch_source(source.data.train, labels, seed, device, on_device).draw
    order = DataOrder(len(source.train_mean), seed)

    def draw(position: int, global_batch: int, rank: int, world: int):
        idx = order.batch(position, global_batch, rank, world)
        first = position + rank * (global_batch // world)
        x0 = source.train_batch(idx, first, seed, device)
        return x0, None if labels is None else labels[idx].to(device)

    return draw
