"""``radsynth orient``: detect which way each radiograph faces, without labels, and flip it to a
canonical side.

How it works (details and measured accuracy in docs/screening.md):

Frontal films (``--view frontal``, and the frontal films of ``--view auto``) are decided by
the learned laterality network and side markers of :mod:`radsynth.screening.mirror`; uncertain
ones are left as they were and listed in ``review.csv``. Lateral films are decided by the
hand prior and the self-trained antisymmetric classifier of :mod:`radsynth.screening.facing`.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from PIL import Image

from radsynth.config import arg
from radsynth.data.imageio import list_images
from radsynth.data.imageio import read_gray as _read
from radsynth.errors import RadsynthError
from radsynth.progress import bar
from radsynth.records._csv import write_csv
from radsynth.screening.facing import detect, lateral_prior, resize_grid
from radsynth.stage import (
    StageResult,
    atomic_path,
    prepare_output_dir,
    write_manifest,
)

if TYPE_CHECKING:
    from radsynth.screening.laterality import MirrorModel

log = logging.getLogger(__name__)

#: Columns of orientation.csv.
ORIENTATION_COLUMNS = ("image", "group", "detected", "confidence", "flipped", "review", "view")


@dataclass(frozen=True)
class OrientConfig:
    """Detect the facing direction of each image and flip it to a canonical side."""

    src: Path = arg(help="input PNG folder; first-level sub-folders are groups", positional=True)
    out: Path = arg(help="output folder (mirrors the input's sub-folders)", positional=True)
    view: Literal["lateral", "frontal", "auto"] = arg(
        "lateral",
        help="projection: lateral (facing side), frontal (mirrored-film detection) or auto "
        "(decided per image by radsynth.films.view; undecided images go to review)",
    )
    side: Literal["left", "right"] | None = arg(
        None,
        help="canonical side: laterals are flipped to face this way (default left); frontal films "
        "get the heart on this side (default right, the standard display); not with --view auto",
    )
    grid_px: int = arg(32, help="side of the coarse grid the self-supervised filter works on (px)")
    iterations: int = arg(10, help="hard-EM refinement rounds of the self-supervised filter")
    review_below: float = arg(
        0.9,
        help="frontal: a film is kept without review when the posterior probability (collection "
        "prior, network, side marker) of its side is at least this; a flip needs the network, no "
        "contradicting marker and at least max(0.99, this); anything else goes to review.csv "
        "unflipped (0: nothing does); auto: also the view",
    )
    mirror_model: Path | None = arg(
        None,
        help="frontal/auto: the mirror network's weights (radsynth mirror-model); default: the "
        "shipped model trained on paediatric chest films",
    )


# ----------------------------------------------------------------------------- the stage


def group_of(rel: Path) -> str:
    """An image's group: the folder it is in, relative to the top (one per synthetic set:
    ``step-NNNNNNN``, or ``GEN/step-NNNNNNN`` in a run with several generators), or ``all``
    for an image at the top."""
    return rel.parent.as_posix() if len(rel.parts) > 1 else "all"


def _side_of(score: float, view: str) -> str:
    if view == "lateral":
        return "left" if score >= 0 else "right"
    return "right" if score >= 0 else "left"  # frontal: the side the heart is on


def orient(cfg: OrientConfig) -> StageResult:
    """Detect each image's side and write it, flipped where needed, into ``cfg.out``.

    Writes ``orientation.csv`` (image, group, detected, confidence, flipped, review, view), the
    images under the same relative paths (flipped losslessly, bit depth kept), ``review.csv``,
    ``config.json`` and ``manifest.json``. With ``--view auto`` a folder that mixes frontal and
    lateral films gets a one-line warning naming how many of each were detected.
    """
    if cfg.grid_px < 4 or cfg.grid_px % 2:
        raise RadsynthError(f"grid_px must be an even number >= 4, got {cfg.grid_px}")
    if not 0.0 <= cfg.review_below <= 1.0:
        raise RadsynthError(f"review_below must be in [0, 1], got {cfg.review_below}")
    if cfg.mirror_model is not None and cfg.view == "lateral":
        raise RadsynthError("--mirror-model is for frontal films: use --view frontal or auto")
    if cfg.view == "auto" and cfg.side is not None:
        raise RadsynthError(
            "--side needs --view lateral or frontal (auto uses each view's default)"
        )
    paths = list_images(cfg.src)
    if not paths:
        raise RadsynthError(f"no PNG images found in {cfg.src}")
    if cfg.out.resolve() == cfg.src.resolve():
        raise RadsynthError("orient needs an output folder different from its input folder")
    from radsynth.screening.laterality import SHIPPED, load_model

    # A bad weights file is refused before anything is written.
    model = load_model(cfg.mirror_model) if cfg.view != "lateral" else None
    prepare_output_dir(cfg.out, "orient", cfg)
    images = (_read(p) for p in bar(paths, desc="orient: detect"))
    heart_left = cfg.view == "frontal" and cfg.side == "left"
    found = detect_all(
        images, cfg.view, cfg.grid_px, cfg.iterations, cfg.review_below, model, heart_left
    )
    rows = []
    for i, path in enumerate(bar(paths, desc="orient: write")):
        rel, view = path.relative_to(cfg.src), found.views[i]
        detected = _side_of(float(found.scores[i]), view) if view != "unsure" else "unsure"
        if view == "frontal":  # the mirror rule decided the flip itself (mirror.py)
            flipped = bool(found.flip[i])
        else:
            flipped = view == "lateral" and detected != _default_side(cfg, view)
            flipped = flipped and not found.review[i]
        _write(cfg.out / rel, path, flipped)
        cells = (
            rel.as_posix(),
            group_of(rel),
            detected,
            f"{found.confidence[i]:.4f}",
            int(flipped),
            int(found.review[i]),
            view,
        )
        rows.append(dict(zip(ORIENTATION_COLUMNS, cells, strict=True)))
    _write_tables(cfg.out, rows)
    counts = {v: found.views.count(v) for v in ("frontal", "lateral", "unsure")}
    n_flipped, n_review = sum(r["flipped"] for r in rows), sum(r["review"] for r in rows)
    extra = {"n": len(rows), "flipped": n_flipped, "review": n_review, "views": counts}
    weights = [cfg.mirror_model or SHIPPED] if cfg.view != "lateral" else []
    write_manifest(cfg.out, "orient", cfg, inputs=[cfg.src, *weights], extra=extra)
    if cfg.view == "auto":
        what = (
            f"{n_flipped} flipped ({counts['frontal']} frontal: heart to the right; "
            f"{counts['lateral']} lateral: facing left)"
        )
    else:
        verb = "face" if cfg.view == "lateral" else "have the heart on the"
        what = f"{n_flipped} flipped to {verb} {_default_side(cfg, cfg.view)}"
    message = (
        f"{len(rows)} images, {what}, {n_review} uncertain (left as they were, listed in "
        "review.csv)"
    )
    if found.warning:
        log.warning(found.warning)
        message += f"; {found.warning}"
    return StageResult(cfg.out, message)


def _default_side(cfg: OrientConfig, view: str) -> str:
    return cfg.side or ("left" if view == "lateral" else "right")


def _write_tables(out: Path, rows: list[dict[str, object]]) -> None:
    """``orientation.csv`` (every image) and ``review.csv`` (those left for a person)."""
    write_csv(out / "orientation.csv", ORIENTATION_COLUMNS, rows)
    review = [r for r in rows if r["review"]]
    write_csv(out / "review.csv", ORIENTATION_COLUMNS[:4], review, ignore_extra=True)


@dataclass(frozen=True)
class Detected:
    """Per-image results of :func:`detect_all`."""

    scores: np.ndarray  # (N,) > 0: facing left (lateral) / heart on the image right (frontal)
    confidence: np.ndarray  # (N,)
    review: np.ndarray  # (N,) bool: left unflipped and listed in review.csv
    flip: np.ndarray  # (N,) bool, frontal films: the mirror rule flips it to the canonical side
    views: list[str]  # per image: frontal, lateral or unsure
    warning: str | None  # the mixed-view line (auto only)


def detect_all(
    images: Iterable[np.ndarray],
    view: str,
    grid_px: int = 32,
    iterations: int = 10,
    review_below: float = 0.9,
    model: MirrorModel | None = None,
    heart_left: bool = False,
) -> Detected:
    """Detect every image's view (``view="auto"``) and side, as ``orient`` does.

    Args:
        images: float (H, W) images in [0, 1], positive polarity; consumed once, and only coarse
            copies are kept, so memory is O(N * grid_px^2).
        view: ``frontal``, ``lateral`` or ``auto``.
        grid_px, iterations, review_below: as in :class:`OrientConfig`.
        model: the frontal mirror network (None: the shipped weights, loaded when needed).
        heart_left: frontal films' canonical side is the heart on the image left.

    Returns:
        A :class:`Detected`.
    """
    from radsynth.films.view import (
        classify_views,
        mixed_view_warning,
        symmetry_score,
        view_features,
    )
    from radsynth.screening.laterality import load_model
    from radsynth.screening.mirror import decide_mirrored, marker_asymmetry

    frontal = view in ("frontal", "auto")
    if frontal and model is None:
        model = load_model()
    coarse, lateral, sym, vfeat, marker, z_mirror, batch = [], [], [], [], [], [], []
    for img in images:
        coarse.append(resize_grid(img, grid_px))
        lateral.append(lateral_prior(img) if view in ("lateral", "auto") else 0.0)
        if frontal:
            marker.append(marker_asymmetry(img))
            batch.append(img)
            if len(batch) == 256:  # the network's batch; full films are not kept
                z_mirror.append(model.logit(batch))
                batch = []
        if view == "auto":
            sym.append(symmetry_score(img))
            vfeat.append(view_features(img))
    if batch:
        z_mirror.append(model.logit(batch))
    n, grid = len(coarse), np.stack(coarse)
    views, warning = [view] * n, None
    if view == "auto":
        call = classify_views(np.array(sym), np.stack(vfeat))
        views = call.names(review_below)
        warning = mixed_view_warning(call, review_below)
    kinds = np.array(views)
    scores, confidence, flip = np.zeros(n), np.zeros(n), np.zeros(n, bool)
    review = kinds == "unsure"
    lat = np.flatnonzero(kinds == "lateral")
    if len(lat):
        scores[lat], confidence[lat] = detect(np.array(lateral)[lat], grid[lat], iterations)
    front = np.flatnonzero(kinds == "frontal")
    if len(front):
        z_front, marker_front = np.concatenate(z_mirror)[front], np.array(marker)[front]
        fc = decide_mirrored(z_front, marker_front, review_below, heart_left)
        scores[front] = np.where(fc.mirrored, -1.0, 1.0)
        confidence[front], review[front], flip[front] = fc.confidence, fc.review, fc.flip
    return Detected(scores, confidence, review, flip, views, warning)


def _write(dest: Path, src: Path, flipped: bool) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not flipped:
        shutil.copyfile(src, dest)
        return
    with Image.open(src) as img:
        mirrored = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)  # keeps mode, so 16-bit stays
    with atomic_path(dest) as tmp:
        mirrored.save(tmp, format="PNG")
