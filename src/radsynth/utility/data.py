"""Images and labels for the utility benchmark: real splits, synthetic samples, an external set.

Real images come from an ingest folder whose manifest.csv carries the label column (ingest
with ``--labels`` or ``--label-from-folder``) and a ``test`` split (``--test-fraction``).
Synthetic images come from a ``radsynth sample`` folder (or a kept subset of one): each PNG's
class is the ``label`` in its sidecar ``meta/{stem}.json``. Images that the memorization audit
flagged as possible copies (``neighbours.csv`` with ``flagged`` = 1) are left out, so that
copying the training set cannot earn utility.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from radsynth.data.imageio import list_images, read_gray
from radsynth.data.leaks import (
    digest_folder,
    pixel_overlaps,
    read_groups,
    refuse_overlap,
    shared_patients,
)
from radsynth.errors import RadsynthError
from radsynth.records.audit import read_neighbours
from radsynth.records.manifest import ManifestRow, read_manifest


@dataclass(frozen=True)
class LabelledImages:
    """Images (N, 1, H, W) float16 in [0, 1], their 0/1 labels and patient keys."""

    images: torch.Tensor
    labels: torch.Tensor  # (N,) int64: 1 = the positive class
    patients: list[str]  # patient key per image (the image itself when unknown)
    names: list[str]  # image path or file name, for tables


def _stack(paths: list[Path], size_px: int | None) -> torch.Tensor:
    arrays = [read_gray(p) for p in paths]
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1 or (size_px is not None and shapes and shapes != {(size_px, size_px)}):
        raise RadsynthError(f"images differ in size ({sorted(shapes)[:2]}); expected {size_px}")
    return torch.from_numpy(np.stack(arrays)[:, None]).to(torch.float16)


def read_rows(data: Path, required: tuple[str, ...] = ("image", "split")) -> list[ManifestRow]:
    """The rows of an ingest folder's manifest.csv (``required``: the columns needed)."""
    path = Path(data) / "manifest.csv"
    if not path.is_file():
        raise RadsynthError(f"{data} is not an ingest folder (no manifest.csv)")
    return read_manifest(path, required, hint="ingest with --labels or --label-from-folder")


def class_names(rows: list[ManifestRow], column: str, where: Path) -> tuple[str, str]:
    """The two classes of ``column`` (sorted; the second is the positive class)."""
    names = sorted({r.value(column) for r in rows if r.value(column)})
    if len(names) != 2:
        raise RadsynthError(
            f"{where}: the utility task needs two classes in {column!r}, "
            f"found {len(names)} ({', '.join(names[:5])})"
        )
    return names[0], names[1]


def load_split(
    data: Path, split: str | None, column: str, classes: tuple[str, str], size_px: int | None = None
) -> LabelledImages:
    """The images of one split (None: every image) of an ingest folder."""
    need = ("image", "split", column) if split is not None else ("image", column)
    rows = [r for r in read_rows(data, need) if split is None or r.split == split]
    if not rows:
        raise RadsynthError(f"{data} has no {split or ''} images")
    unknown = sorted({r.value(column) for r in rows} - set(classes))
    if unknown:
        raise RadsynthError(f"{data}: labels {unknown} are not the task's classes {classes}")
    return LabelledImages(
        images=_stack([Path(data) / r.image for r in rows], size_px),
        labels=torch.tensor([classes.index(r.value(column)) for r in rows], dtype=torch.long),
        patients=[r.group or r.image for r in rows],
        names=[r.image for r in rows],
    )


def flagged_copies(audit: Path | None) -> set[str]:
    """Synthetic image names (relative paths) that the audit flagged as possible copies."""
    if audit is None:
        return set()
    path = Path(audit) / "neighbours.csv"
    if not path.is_file():
        raise RadsynthError(f"{audit} holds no audit neighbours.csv")
    return {r.synthetic for r in read_neighbours(path) if r.flagged}


def load_synthetic(
    folder: Path,
    classes: tuple[str, str],
    size_px: int,
    meta: Path | None = None,
    drop: set[str] = frozenset(),
) -> LabelledImages:
    """Synthetic images with the class their sidecar names, minus the names in ``drop``.

    Args:
        folder: PNGs (a sample folder or a kept subset of one).
        meta: folder of the sidecars (default ``folder/meta``).
    """
    meta = Path(meta) if meta is not None else Path(folder) / "meta"
    paths, labels = [], []
    for p in list_images(Path(folder), (".png",)):
        rel = p.relative_to(folder).as_posix()
        if {p.name, rel, f"{Path(folder).name}/{rel}"} & drop:  # audit paths may name the group
            continue
        side = meta / f"{p.stem}.json"
        try:
            label = json.loads(side.read_text()).get("label")
        except (OSError, json.JSONDecodeError):
            raise RadsynthError(
                f"synthetic image {p.name} has no readable sidecar {side}"
            ) from None
        if label not in classes:
            raise RadsynthError(
                f"synthetic image {p.name} has class {label!r}, not one of {classes}"
            )
        paths.append(p)
        labels.append(classes.index(label))
    if not paths:
        raise RadsynthError(f"no usable synthetic images in {folder}")
    return LabelledImages(
        _stack(paths, size_px),
        torch.tensor(labels),
        [p.name for p in paths],
        [p.name for p in paths],
    )


def check_test_leaks(data: Path) -> None:
    """Refuse a test split that shares a patient id or pixels with train or val."""
    groups = read_groups(Path(data) / "manifest.csv")
    patients = shared_patients(groups, "test", "train") | shared_patients(groups, "test", "val")
    reference = {}
    for split in ("val", "train"):  # val may be absent (--val-fraction 0)
        if (Path(data) / split).is_dir():
            reference |= digest_folder(Path(data) / split)
    pixels = pixel_overlaps(list_images(Path(data) / "test", (".png",)), reference)
    refuse_overlap("the test split", pixels, patients)


def check_external_leaks(external: Path, data: Path) -> None:
    """Refuse an external set that shares pixels with the generator's training images."""
    reference = digest_folder(Path(data) / "train")
    images = [Path(external) / r.image for r in read_rows(external, ("image",))]
    refuse_overlap(f"the external set {external}", pixel_overlaps(images, reference))


def subset(images: LabelledImages, n_max: int, seed: int) -> LabelledImages:
    """At most ``n_max`` images (0: all), each class cut in proportion, seeded."""
    n = len(images.labels)
    if not n_max or n_max >= n:
        return images
    gen = torch.Generator().manual_seed(seed)
    keep = []
    for c in (0, 1):
        idx = torch.nonzero(images.labels == c).flatten()
        k = round(n_max * len(idx) / n)
        keep.append(idx[torch.randperm(len(idx), generator=gen)[:k]])
    pick = torch.sort(torch.cat(keep)).values
    return LabelledImages(
        images.images[pick],
        images.labels[pick],
        [images.patients[i] for i in pick],
        [images.names[i] for i in pick],
    )


def resized(images: LabelledImages | None, size_px: int) -> LabelledImages | None:
    """The same images area-resampled to size_px x size_px."""
    if images is None or images.images.shape[-1] == size_px:
        return images
    x = torch.nn.functional.interpolate(images.images.float(), size=(size_px, size_px), mode="area")
    return LabelledImages(x.half(), images.labels, images.patients, images.names)
