"""What the diffusion UNet learns from: the films themselves, or their autoencoder latents.

``radsynth train DATA OUT --autoencoder AE`` trains in latent space (Rombach et al. 2022,
sec. 3.2): each film is encoded once into its posterior N(mean, std^2), the two are cached in
:func:`radsynth.layout.latent_cache`, and every draw of a film during training is a fresh latent
z = scale_factor * (mean + std * eps), with the autoencoder's scale factor (1 / std of its
training latents) bringing z to unit scale.

The eps of stream position p (the p-th image the run draws, see
:class:`radsynth.training.data.DataOrder`) comes from its own generator seeded by (seed, p), so
a draw depends neither on the batch split, nor on the process count, nor on a resume, and never
touches the global RNG (MONAI's ``encode_stage_2_inputs`` does). Validation uses the posterior
means, so the val loss is a fixed function of the weights.

The cache records the sha256 of the autoencoder's weights and of the films (names and
contents); a cache whose key differs from the run's is rebuilt, never read.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from radsynth.errors import RadsynthError
from radsynth.layout import latent_cache
from radsynth.stage import atomic_path, sha256_file
from radsynth.training.autoencoder_checkpoint import LoadedAutoencoder
from radsynth.training.data import TrainingData

#: Seeds of the latent draws: generator of stream position p is seeded LATENT_SEED + seed * M + p.
LATENT_SEED = 0x1A7E_0000
SEED_STRIDE = 1_000_000_007
#: Films encoded per forward pass when the cache is built (the encoder is per-image: GroupNorm).
ENCODE_BATCH = 16


@dataclass(frozen=True)
class PixelSet:
    """Films as the UNet sees them in pixel space: x0 = 2 x - 1, x the film in [0, 1]."""

    data: TrainingData

    @property
    def item_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one training example."""
        return tuple(self.data.train.shape[1:])  # type: ignore[return-value]

    def train_batch(
        self, idx: torch.Tensor, first_position: int, seed: int, device: torch.device | str = "cpu"
    ) -> torch.Tensor:
        """(B, C, H, W) float32 in [-1, 1] of training films ``idx``, on ``device`` (moved as
        float16, converted there)."""
        return self.data.train[idx].to(device, non_blocking=True).float() * 2 - 1

    def val_examples(self, count: int) -> torch.Tensor:
        """The first ``count`` val films, (count, C, H, W) float32 in [-1, 1]."""
        return self.data.val[:count].float() * 2 - 1


@dataclass(frozen=True)
class LatentSet:
    """Films as scaled autoencoder latents: z = scale_factor * (mean + std * eps)."""

    train_mean: torch.Tensor  # (N_train, C, h, w) float32, unscaled posterior means
    train_std: torch.Tensor  # (N_train, C, h, w) float32, unscaled posterior stds
    val_mean: torch.Tensor  # (N_val, C, h, w) float32
    scale_factor: float  # 1 / std of the autoencoder's training latents

    @property
    def item_shape(self) -> tuple[int, int, int]:
        """(C, h, w) of one latent."""
        return tuple(self.train_mean.shape[1:])  # type: ignore[return-value]

    def train_batch(
        self, idx: torch.Tensor, first_position: int, seed: int, device: torch.device | str = "cpu"
    ) -> torch.Tensor:
        """(B, C, h, w) float32 latents of training films ``idx``, drawn on the CPU at stream
        positions ``first_position ..`` (each eps from its own position's generator), on
        ``device``."""
        eps = torch.stack(
            [
                torch.randn(self.item_shape, generator=latent_generator(seed, first_position + i))
                for i in range(len(idx))
            ]
        )
        z = self.scale_factor * (self.train_mean[idx] + self.train_std[idx] * eps)
        return z.to(device, non_blocking=True)

    def val_examples(self, count: int) -> torch.Tensor:
        """The scaled posterior means of the first ``count`` val films."""
        return self.scale_factor * self.val_mean[:count]


def latent_generator(seed: int, position: int) -> torch.Generator:
    """The CPU generator of the latent draw at stream position ``position`` of run ``seed``."""
    return torch.Generator().manual_seed(LATENT_SEED + seed * SEED_STRIDE + position)


def data_digest(data: TrainingData) -> str:
    """sha256 over the films' names and contents, in the order training stacks them."""
    h = hashlib.sha256()
    for path in data.files:
        h.update(f"{path.name}\0{sha256_file(path)}\n".encode())
    h.update(f"train={len(data.train)} val={len(data.val)}".encode())
    return h.hexdigest()


def cache_key(ae: LoadedAutoencoder, data: TrainingData) -> str:
    """What a cache must match to be read: the autoencoder's weights and the films."""
    return f"ae={ae.checkpoint_id};data={data_digest(data)}"


@torch.no_grad()
def encode_all(
    ae: LoadedAutoencoder, films: torch.Tensor, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior mean and std, (N, C, h, w) float32 on the CPU, of films (N, 1, H, W) in [0, 1]."""
    means, stds = [], []
    for start in range(0, len(films), ENCODE_BATCH):
        x = films[start : start + ENCODE_BATCH].to(device).float() * 2 - 1
        mean, std = ae.encode_moments(x)
        means.append(mean.float().cpu())
        stds.append(std.float().cpu())
    if not means:
        empty = torch.zeros((0, *ae.shape.latent_shape))
        return empty, empty.clone()
    return torch.cat(means), torch.cat(stds)


def read_cache(path: Path, key: str) -> dict[str, torch.Tensor] | None:
    """The cached tensors when ``path`` holds a cache of ``key``; None when it is absent, stale
    (another key) or unreadable: the caller rebuilds it."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as fh:
            if (fh.metadata() or {}).get("key") != key:
                return None
        return load_file(path)
    except Exception:  # a truncated or foreign file is rebuilt like a stale one
        return None


def build_cache(
    train_dir: Path, ae: LoadedAutoencoder, data: TrainingData, device: torch.device
) -> bool:
    """Make sure ``latent_cache(train_dir)`` holds this autoencoder's latents of these films;
    encodes and writes it (atomically) only when it is absent or stale. Returns True when it
    was (re)built."""
    from safetensors.torch import save_file

    path, key = latent_cache(train_dir), cache_key(ae, data)
    if read_cache(path, key) is not None:
        return False
    train_mean, train_std = encode_all(ae, data.train, device)
    val_mean, _ = encode_all(ae, data.val, device)
    tensors = {"train_mean": train_mean, "train_std": train_std, "val_mean": val_mean}
    meta = {"key": key, "autoencoder": str(ae.path), "shape": json.dumps(ae.shape.to_dict())}
    with atomic_path(path) as tmp:
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata=meta)
    return True


def load_latent_set(train_dir: Path, ae: LoadedAutoencoder, data: TrainingData) -> LatentSet:
    """The run's latents from its cache (which :func:`build_cache` wrote)."""
    cached = read_cache(latent_cache(train_dir), cache_key(ae, data))
    if cached is None:
        raise RadsynthError(f"{latent_cache(train_dir)} is missing or stale after it was built")
    return LatentSet(cached["train_mean"], cached["train_std"], cached["val_mean"], ae.scale_factor)


def autoencoder_record(ae: LoadedAutoencoder) -> dict[str, Any]:
    """What a latent diffusion checkpoint records of its autoencoder, for sampling to load and
    check it: the folder, the sha256 of its weights, its shape and scale factor."""
    return {
        "path": str(Path(ae.path).resolve()),
        "sha256": ae.checkpoint_id,
        "shape": ae.shape.to_dict(),
        "scale_factor": ae.scale_factor,
    }
