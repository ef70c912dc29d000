"""Ingest's second pass: apply the film checks to the staged images and list films for review.

Ingest's first pass stages each kept image unpadded and unchanged (``.staging/NNNNNN.png``) and
keeps its coarse representation. This pass decides polarity and rotation for the whole
collection (:mod:`radsynth.data.filmchecks`), writes each image corrected and padded, and moves
the films it cannot decide confidently into ``OUT/review/`` (as read, padded) with a row in
``review.csv``: they are not in the training set, and a person decides.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from radsynth.data.filmchecks import CheckSettings, FilmCheck, check_films
from radsynth.data.imageio import read_gray, write_png
from radsynth.data.resample import pad_to_square
from radsynth.data.selfsup import Film
from radsynth.screening.view import ViewCall, detect_views

#: Columns of review.csv.
REVIEW_COLUMNS = (
    "review_image", "source_path", "reason", "suggested_inverted", "polarity_confidence",
    "polarity_source", "suggested_rotation_deg", "rotation_confidence",
)  # fmt: skip


def apply_checks(
    kept: list[dict],
    films: list[Film],
    cues: list[float],
    headers: list[bool | None],
    staging: Path,
    out: Path,
    size_px: int,
    bits: int,
    settings: CheckSettings,
) -> tuple[list[dict], list[list], ViewCall | None]:
    """Correct, pad and renumber the staged images; move uncertain ones to ``out/review``.

    Args:
        kept: the first pass's manifest fields, one dict per staged image (in staging order).
        films, cues, headers: per staged image, as :func:`check_films` takes them.
        staging: the folder holding ``NNNNNN.png`` in the same order.
        out: the ingest output folder (``review/`` is made there when needed).
        size_px, bits: the output square size and PNG bit depth.
        settings: the check thresholds.

    Returns:
        (the fields of the images that stay, renumbered ``0..``; the review.csv rows; the view
        of each staying film, upright and positive, from :mod:`radsynth.screening.view`, or
        None when none stays).
    """
    checks = check_films(films, np.asarray(cues, dtype=float), headers, settings)
    stay, review, upright = [], [], []
    for index, (fields, check) in enumerate(zip(kept, checks, strict=True)):
        staged = staging / f"{index:06d}.png"
        img = read_gray(staged)
        os.remove(staged)
        if check.review:
            name = f"review/{len(review):06d}.png"
            write_png(out / name, pad_to_square(img, size_px), bits)
            review.append(_review_row(name, fields["source_path"], check))
            continue
        fixed = correct(img, check)
        upright.append(fixed)
        final = pad_to_square(fixed, size_px)
        write_png(staging / f"{len(stay):06d}.final.png", final, bits)
        stay.append({**fields, **_fields(check)})
    for i in range(len(stay)):
        os.replace(staging / f"{i:06d}.final.png", staging / f"{i:06d}.png")
    return stay, review, (detect_views(upright, settings.seed) if upright else None)


def correct(img: np.ndarray, check: FilmCheck) -> np.ndarray:
    """Undo the detected inversion and rotation of a float (H, W) image."""
    if check.negative:
        img = 1.0 - img
    return np.ascontiguousarray(np.rot90(img, -(check.rotation_deg // 90)))


def _fields(check: FilmCheck) -> dict:
    return {
        "inverted": int(check.negative and check.polarity_source != "header"),
        "polarity_confidence": round(check.polarity_confidence, 6),
        "polarity_source": check.polarity_source,
        "rotated_deg": (360 - check.rotation_deg) % 360,
        "rotation_confidence": round(check.rotation_confidence, 6),
    }


def _review_row(name: str, source: str, check: FilmCheck) -> list:
    return [
        name, source, check.review, int(check.negative), round(check.polarity_confidence, 6),
        check.polarity_source, check.rotation_deg, round(check.rotation_confidence, 6),
    ]  # fmt: skip
