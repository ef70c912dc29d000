"""Training data: the images of a `radsynth ingest` folder, and a seeded, resumable data order.

The ingest contract: ``DATA/manifest.csv`` (columns ``image`` = path relative to DATA and
``split`` = train | val), the PNGs under ``DATA/train/`` and ``DATA/val/``, and
``DATA/manifest.json`` with ``{"stage": "ingest"}``. All images are read once into memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from radsynth.data.imageio import read_gray
from radsynth.errors import RadsynthError
from radsynth.io import read_json
from radsynth.records.manifest import read_manifest


@dataclass(frozen=True)
class TrainingData:
    """Images in [0, 1] as float16 (N, 1, H, W) tensors on the CPU, and where they came from."""

    train: torch.Tensor  # (N_train, 1, H, W)
    val: torch.Tensor  # (N_val, 1, H, W); may be empty
    files: list[Path]  # every image read, for the manifest
    manifest: Path  # DATA/manifest.csv


def _check_ingest_folder(data: Path) -> Path:
    if not data.exists():
        raise RadsynthError(f"data folder not found: {data}")
    if not data.is_dir():
        raise RadsynthError(f"data path {data} is not a folder")
    if not any(data.iterdir()):
        raise RadsynthError(f"data folder {data} is empty; run `radsynth ingest` into it first")
    csv_path, json_path = data / "manifest.csv", data / "manifest.json"
    if not csv_path.is_file() or not json_path.is_file():
        raise RadsynthError(
            f"{data} was not written by radsynth ingest (no manifest.csv/manifest.json)"
        )
    meta = read_json(json_path, "ingest manifest")
    if not isinstance(meta, dict) or meta.get("stage") != "ingest":
        raise RadsynthError(f"{data} was not written by radsynth ingest (manifest.json stage)")
    if meta.get("complete") is False:
        raise RadsynthError(f"{data} holds an unfinished ingest; finish `radsynth ingest` first")
    return csv_path


def _stack(
    paths: list[Path], size_px: int, hint: str = "ingest at that size or set --image-size-px"
) -> torch.Tensor:
    arrays = []
    for p in paths:
        if not p.is_file():
            raise RadsynthError(f"image listed in manifest.csv is missing: {p}")
        arr = read_gray(p)
        if arr.shape != (size_px, size_px):
            h, w = arr.shape
            raise RadsynthError(
                f"mismatched image size: {p.name} is {w}x{h} px, image_size_px is {size_px}; "
                + hint
            )
        arrays.append(arr)
    if not arrays:
        return torch.zeros((0, 1, size_px, size_px), dtype=torch.float16)
    return torch.from_numpy(np.stack(arrays)[:, None]).to(torch.float16)


def load_ingest(data: Path, size_px: int) -> TrainingData:
    """Read an ingest folder's train and val images.

    Raises:
        RadsynthError: missing/empty folder, a folder ingest did not write, no training images,
            or an image whose size is not ``size_px`` x ``size_px`` (one line each).
    """
    data = Path(data)
    csv_path = _check_ingest_folder(data)
    splits: dict[str, list[Path]] = {"train": [], "val": []}
    for row in read_manifest(csv_path, required=("image", "split")):
        if row.split in splits:
            splits[row.split].append(data / row.image)
    if not splits["train"]:
        raise RadsynthError(f"{csv_path} lists no training images")
    return TrainingData(
        train=_stack(splits["train"], size_px),
        val=_stack(splits["val"], size_px),
        files=splits["train"] + splits["val"],
        manifest=csv_path,
    )


def load_split(
    data: Path, split: str, size_px: int, hint: str = "ingest at that size"
) -> tuple[torch.Tensor, list[Path]]:
    """One split's images (N, 1, H, W) float16 in [0, 1] of an ingest folder, with their files;
    ``hint`` ends the error of an image of another size.

    Raises:
        RadsynthError: as :func:`load_ingest`, or a split with no images.
    """
    data = Path(data)
    csv_path = _check_ingest_folder(data)
    rows = read_manifest(csv_path, required=("image", "split"))
    files = [data / r.image for r in rows if r.split == split]
    if not files:
        raise RadsynthError(f"{csv_path} lists no {split} images")
    return _stack(files, size_px, hint), files


class DataOrder:
    """An endless, seeded stream of training indices: a fresh permutation each epoch.

    Position p of the stream is ``perm(epoch = p // n)[p % n]``, so the order is a pure function
    of (seed, position): resuming needs only the position, and every rank of a multi-device run
    reads a disjoint shard of each global batch.
    """

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.seed = n, seed
        self._epoch, self._perm = -1, torch.empty(0, dtype=torch.long)

    def permutation(self, epoch: int) -> torch.Tensor:
        """Epoch ``epoch``'s permutation of 0..n-1 (n,), on the host."""
        if epoch != self._epoch:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._epoch, self._perm = epoch, torch.randperm(self.n, generator=gen)
        return self._perm

    def indices(self, position: int, count: int) -> torch.Tensor:
        """Indices at stream positions ``position .. position + count - 1``, shape (count,)."""
        out = [self.permutation(p // self.n)[p % self.n] for p in range(position, position + count)]
        return torch.stack(out) if out else torch.empty(0, dtype=torch.long)

    def batch(self, position: int, global_batch: int, rank: int, world: int) -> torch.Tensor:
        """This rank's share of the global batch that starts at ``position``."""
        per_rank = global_batch // world
        return self.indices(position + rank * per_rank, per_rank)
