"""Class conditioning for training: joint classes from manifest label columns, condition dropout.

``radsynth train --condition-on finding [sex ...]`` makes one joint class per distinct tuple of
the named manifest columns (``PNEUMONIA|F``), in sorted order; class k is embedded by the
UNet's class embedding (diffusers ``num_class_embeds``), added to its time embedding. With
probability ``--uncond-prob`` a training image's class is replaced by the extra *null* index
``len(names)``, so one network learns both the conditional and the unconditional denoiser,
which classifier-free guidance combines at sampling time (Ho & Salimans 2022, sec. 3.1).

The checkpoint's ``config.json`` records ``classes`` = ``{"columns", "names", "null_index"}``,
so a sampler maps a class name to its index exactly as training did.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from radsynth.errors import RadsynthError
from radsynth.records.manifest import read_manifest


@dataclass(frozen=True)
class ClassSpec:
    """The classes a conditional model knows, in embedding order."""

    columns: tuple[str, ...]  # manifest label columns that form the joint class
    names: tuple[str, ...]  # joint class names ("A|B"), sorted; index k = embedding k

    @property
    def null_index(self) -> int:
        """The embedding index of "no class" (the unconditional branch)."""
        return len(self.names)

    def index(self, name: str) -> int:
        """The index of a class name; one-line error listing the known ones."""
        if name not in self.names:
            known = ", ".join(self.names)
            raise RadsynthError(f"unknown label {name!r}; this checkpoint knows: {known}")
        return self.names.index(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "columns": list(self.columns),
            "names": list(self.names),
            "null_index": self.null_index,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ClassSpec | None:
        """Inverse of :meth:`to_dict`; None for an unconditional checkpoint."""
        if not data:
            return None
        return cls(tuple(data["columns"]), tuple(data["names"]))


def read_class_labels(
    manifest: Path, columns: Sequence[str]
) -> tuple[ClassSpec, dict[str, torch.Tensor]]:
    """Joint classes of the ingest manifest's train and val images, in manifest order (the
    order :func:`radsynth.training.data.load_ingest` stacks them in).

    Returns:
        The class spec and ``{"train": (N_train,) int64, "val": (N_val,) int64}``.

    Raises:
        RadsynthError: a manifest that is missing, not UTF-8 or not CSV, a missing column, an
            empty value, or fewer than two classes in train (one line each).
    """
    rows = read_manifest(
        manifest,
        required=("image", "split", *columns),
        hint="--condition-on needs label columns: ingest with --labels or --label-from-folder",
    )
    if not rows:
        raise RadsynthError(f"--condition-on: {manifest} lists no images")
    rows = [r for r in rows if r.split in ("train", "val")]
    joint = ["|".join(r.value(c) for c in columns) for r in rows]
    empty = [r.image for r in rows if any(not r.value(c) for c in columns)]
    if empty:
        raise RadsynthError(f"--condition-on: {len(empty)} images have no label (e.g. {empty[0]})")
    names = tuple(sorted({j for r, j in zip(rows, joint, strict=True) if r.split == "train"}))
    if len(names) < 2:
        raise RadsynthError(f"--condition-on {' '.join(columns)}: a single class {names}")
    spec = ClassSpec(tuple(columns), names)
    out = {}
    for split in ("train", "val"):
        idx = [spec.index(j) for r, j in zip(rows, joint, strict=True) if r.split == split]
        out[split] = torch.tensor(idx, dtype=torch.long)
    return spec, out


def drop_condition(
    labels: torch.Tensor, prob: float, null_index: int, gen: torch.Generator
) -> torch.Tensor:
    """Replace each label by ``null_index`` with probability ``prob`` (classifier-free
    guidance's condition dropout); labels (B,) int64 on ``gen``'s device."""
    drop = torch.rand(labels.shape, generator=gen, device=labels.device) < prob
    return torch.where(drop, torch.full_like(labels, null_index), labels)
