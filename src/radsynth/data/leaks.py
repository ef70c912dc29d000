"""Leak checks between image sets: the same pixels, or the same patient, on two sides.

A held-out set (val, test, calibration) is only held out if it shares no image and no patient
with the set a model or threshold was fitted on, and a released synthetic set must contain no
training image. These checks are shared by every stage that relies on such a separation
(audit, release, utility); each raises or reports, none of them fixes anything.

Pixel identity is the sha256 of the decoded 8-bit grey pixels and their shape
(:func:`pixel_digest`), so a PNG re-saved with other chunks or compression still matches; a
mirrored copy is caught by also hashing the left-right flip (:func:`pixel_digests`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from radsynth.data.imageio import list_images, read_gray, to_uint
from radsynth.errors import RadsynthError
from radsynth.records.manifest import read_manifest


def pixel_digest(pixels: np.ndarray) -> str:
    """sha256 of an (H, W) [0, 1] image quantised to 8 bits, with its shape."""
    digest = hashlib.sha256(repr(pixels.shape).encode())
    digest.update(np.ascontiguousarray(to_uint(pixels, 8)).tobytes())
    return digest.hexdigest()


def pixel_digests(pixels: np.ndarray, mirror: bool = False) -> tuple[str, ...]:
    """The image's digest, and with ``mirror`` also its left-right flip's."""
    if not mirror:
        return (pixel_digest(pixels),)
    return pixel_digest(pixels), pixel_digest(pixels[:, ::-1])


def digest_folder(folder: Path, mirror: bool = False) -> dict[str, Path]:
    """digest -> image for every PNG/JPEG/TIFF directly in ``folder`` (read once each)."""
    table: dict[str, Path] = {}
    for path in list_images(folder, (".png", ".jpg", ".jpeg", ".tif", ".tiff")):
        for d in pixel_digests(read_gray(path), mirror):
            table.setdefault(d, path)
    return table


@dataclass(frozen=True)
class PixelOverlap:
    """One image of the checked set whose pixels (or mirrored pixels) are in the reference."""

    image: Path  # in the checked set
    matches: Path  # in the reference set
    mirrored: bool  # True when the match is the checked image's left-right flip


def pixel_overlaps(
    images: Iterable[Path], reference: Mapping[str, Path], mirror: bool = False
) -> list[PixelOverlap]:
    """Images whose pixels equal a reference image's (``reference`` from :func:`digest_folder`).

    Each image is read and hashed once; with ``mirror`` its flip is hashed as well.
    """
    found = []
    for path in images:
        pixels = read_gray(path)
        for mirrored, d in enumerate(pixel_digests(pixels, mirror)):
            if d in reference:
                found.append(PixelOverlap(path, reference[d], bool(mirrored)))
                break
    return found


def read_groups(manifest_csv: Path) -> dict[str, str]:
    """image (relative to the ingest folder) -> patient id, from an ingest ``manifest.csv``;
    images without an id are left out."""
    rows = read_manifest(manifest_csv, required=("image", "group"))
    return {r.image: r.group for r in rows if r.group}


def shared_patients(groups: Mapping[str, str], side_a: str, side_b: str) -> set[str]:
    """Patient ids with images in both splits (``image`` keys start with ``split/``)."""

    def ids(split: str) -> set[str]:
        return {g for image, g in groups.items() if image.split("/", 1)[0] == split}

    return ids(side_a) & ids(side_b)


def refuse_overlap(
    what: str, pixel: list[PixelOverlap], patients: Iterable[str] = (), limit: int = 3
) -> None:
    """Raise one line naming the first shared images and patients, if there are any."""
    patients = sorted(patients)
    if not pixel and not patients:
        return
    parts = []
    if pixel:
        names = ", ".join(
            f"{p.image.name}={p.matches.name}{' (mirrored)' if p.mirrored else ''}"
            for p in pixel[:limit]
        )
        parts.append(f"{len(pixel)} image(s) with identical pixels ({names})")
    if patients:
        parts.append(f"{len(patients)} patient id(s) ({', '.join(patients[:limit])})")
    raise RadsynthError(f"{what} shares {' and '.join(parts)}")
