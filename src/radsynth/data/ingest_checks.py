"""Ingest's second pass: apply the film checks to the staged images and list films for review.

Ingest's first pass stages each kept image unpadded and unchanged (``.staging/NNNNNN.png``) and
keeps its coarse representation. This pass decides polarity and rotation for the whole
collection (:mod:`radsynth.data.filmchecks`), writes each image corrected and padded, and moves
the films it cannot decide confidently into ``OUT/review/`` (as read, padded) with a row in
``review.csv``: they are not in the training set, and a person decides. A reviewer's decision
(:mod:`radsynth.data.review_decisions`, passed by ``ingest --review-decisions``) overrides the
checks for its film: the film comes back transformed as decided, or is excluded.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from radsynth.data.filmchecks import CheckSettings, FilmCheck, check_films
from radsynth.data.imageio import read_gray, write_png
from radsynth.data.resample import pad_to_square, resize_float
from radsynth.data.review_decisions import IngestDecision
from radsynth.films.selfsup import Film
from radsynth.films.view import ViewCall, detect_views

log = logging.getLogger(__name__)

#: Columns of review.csv.
REVIEW_COLUMNS = (
    "review_image",
    "source_path",
    "reason",
    "suggested_inverted",
    "polarity_confidence",
    "polarity_source",
    "suggested_rotation_deg",
    "rotation_confidence",
    "source_sha256",
)


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
    decisions: Mapping[str, IngestDecision] | None = None,
    thumbs: list[np.ndarray] | None = None,
) -> tuple[list[dict], list[list], list[tuple[str, IngestDecision]], ViewCall | None]:
    """Correct, pad and renumber the staged images; move uncertain ones to ``out/review``.

    Args:
        kept: the first pass's manifest fields, one dict per staged image (in staging order).
        films, cues, headers: per staged image, as :func:`check_films` takes them.
        staging: the folder holding ``NNNNNN.png`` in the same order.
        out: the ingest output folder (``review/`` is made there when needed).
        size_px, bits: the output square size and PNG bit depth.
        settings: the check thresholds.
        decisions: reviewers' decisions by source path; a film with one (and the same source
            sha256, when the decision records it) skips the checks and follows the decision.
        thumbs: per staged image, its :func:`thumbnail`, for the shipped networks (None: the
            collection model alone decides).

    Returns:
        (the fields of the images that stay, renumbered ``0..``; the review.csv rows; the
        (source path, decision) of the films a reviewer excluded; the view of each staying
        film, upright and positive, from :mod:`radsynth.films.view`, or None when none
        stays).
    """
    checks = check_films(films, np.asarray(cues, dtype=float), headers, settings, thumbs)
    stay, review, excluded, upright = [], [], [], []
    for index, (fields, check) in enumerate(zip(kept, checks, strict=True)):
        staged = staging / f"{index:06d}.png"
        img = read_gray(staged)
        os.remove(staged)
        decision = matching_decision(decisions or {}, fields)
        if decision is not None and decision.final == "exclude":
            excluded.append((fields["source_path"], decision))
            continue
        if decision is not None:
            fixed = apply_decision(img, decision)
            upright.append(fixed)
            final = pad_to_square(fixed, size_px)
            write_png(staging / f"{len(stay):06d}.final.png", final, bits)
            stay.append({**fields, **_decided_fields(decision)})
            continue
        if check.review:
            name = f"review/{len(review):06d}.png"
            write_png(out / name, pad_to_square(img, size_px), bits)
            review.append(_review_row(name, fields, check))
            continue
        fixed = correct(img, check)
        upright.append(fixed)
        final = pad_to_square(fixed, size_px)
        write_png(staging / f"{len(stay):06d}.final.png", final, bits)
        stay.append({**fields, **_fields(check)})
    for i in range(len(stay)):
        os.replace(staging / f"{i:06d}.final.png", staging / f"{i:06d}.png")
    views = detect_views(upright, settings.seed) if upright else None
    return stay, review, excluded, views


#: Long side (px) of the thumbnails the shipped film-check networks read.
THUMB_PX = 64


def thumbnail(img: np.ndarray) -> np.ndarray:
    """A float (H, W) film shrunk so that its long side is :data:`THUMB_PX` (aspect kept)."""
    h, w = img.shape
    scale = THUMB_PX / max(h, w)
    return resize_float(img, max(1, round(w * scale)), max(1, round(h * scale)))


def matching_decision(
    decisions: Mapping[str, IngestDecision], fields: dict
) -> IngestDecision | None:
    """The decision on this film: same source path, and same bytes when the decision says."""
    d = decisions.get(fields["source_path"])
    if d is None or (d.source_sha256 and d.source_sha256 != fields["source_sha256"]):
        return None
    return d


def warn_unmatched(decisions: Mapping[str, IngestDecision], applied: set[str]) -> None:
    """Log the reviewers' decisions that no film of this run matched (gone or changed file)."""
    stale = sorted(p for p in decisions if p not in applied)
    if stale:
        log.warning(
            "%d review decision(s) name no film of this source (or a changed file), "
            "e.g. %s; they were not applied",
            len(stale),
            stale[0],
        )


def apply_decision(img: np.ndarray, decision: IngestDecision) -> np.ndarray:
    """A float (H, W) film as read, transformed as the reviewer decided: inverted, turned back
    by its stored counter-clockwise rotation, then flipped left-right."""
    if decision.invert:
        img = 1.0 - img
    img = np.rot90(img, -(decision.rotation_deg // 90))
    if decision.mirror:
        img = img[:, ::-1]
    return np.ascontiguousarray(img)


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
        "mirrored": 0,
    }


def _decided_fields(d: IngestDecision) -> dict:
    return {
        "inverted": int(d.invert),
        "polarity_confidence": 1.0,
        "polarity_source": "reviewer",
        "rotated_deg": (360 - d.rotation_deg) % 360,
        "rotation_confidence": 1.0,
        "mirrored": int(d.mirror),
    }


def _review_row(name: str, fields: dict, check: FilmCheck) -> dict[str, object]:
    """One row of review.csv, keyed by :data:`REVIEW_COLUMNS`."""
    cells = [
        name,
        fields["source_path"],
        check.review,
        int(check.negative),
        round(check.polarity_confidence, 6),
        check.polarity_source,
        check.rotation_deg,
        round(check.rotation_confidence, 6),
        fields["source_sha256"],
    ]
    return dict(zip(REVIEW_COLUMNS, cells, strict=True))
