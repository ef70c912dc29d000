"""``radsynth ingest SRC OUT``: turn a folder of radiographs into a clean, split training set.

Every file below SRC is read (PNG, JPEG, TIFF at 8 or 16 bits; DICOM with its display pipeline),
exact pixel duplicates are dropped, DICOMs that are not projection radiographs are rejected,
each image is resampled to size x size, negative and rotated films are detected and corrected
(:mod:`radsynth.data.filmchecks`; a DICOM header decides polarity), and the set is split
train/val (and with ``--test-fraction`` test) by patient. With ``--labels FILE.csv`` or
``--label-from-folder`` each image's labels become manifest columns and the split is
stratified by them (:mod:`radsynth.data.labels`). ``test/`` is for the utility benchmark
only: no generator, calibration or study stage reads it. Output (the contract other stages
read)::

    OUT/train/000000.png ...   OUT/val/000007.png ...   OUT/test/... (numbered in source order)
    OUT/manifest.csv           one row per kept image, linking it back to its source, then
                               one column per label
    OUT/rejected.csv           source_path, reason (unreadable, unsupported, duplicate of ...)
    OUT/review.csv, OUT/review/ films whose polarity or rotation is uncertain: not in train/val
                               (with ``--review-decisions``, the films a reviewer decided come
                               back as decided, or go to rejected.csv when excluded)
    OUT/config.json, OUT/manifest.json

Output images carry no DICOM tags and no source names; only manifest.csv links to the sources.
``--source-licence`` and ``--attribution`` are kept in manifest.json (and config.json) for the
release's dataset card; a release refuses while the source licence is unknown.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np

from radsynth.config import arg
from radsynth.data.dicom import DICOM_SUFFIXES, check_modality, is_dicom_file, read_dicom
from radsynth.data.filmchecks import CheckSettings, cue_score
from radsynth.data.imageio import RASTER_SUFFIXES, read_image, to_uint, write_png
from radsynth.data.ingest_checks import (
    REVIEW_COLUMNS,
    apply_checks,
    thumbnail,
    warn_unmatched,
)
from radsynth.data.labels import (
    FOLDER_COLUMN,
    check_labels,
    folder_label,
    lookup,
    read_label_table,
    stratum_of,
)
from radsynth.data.resample import scale_to_fit
from radsynth.data.review_decisions import IngestDecision, read_ingest_decisions
from radsynth.data.splits import compile_group_regex, extract_group, split_groups, split_stratified
from radsynth.errors import RadsynthError
from radsynth.films.selfsup import represent
from radsynth.films.view import mixed_view_warning, view_counts
from radsynth.progress import bar
from radsynth.records._csv import write_csv
from radsynth.records.manifest import MANIFEST_COLUMNS, ManifestRow, write_manifest
from radsynth.stage import StageResult, prepare_output_dir, sha256_file
from radsynth.stage import write_manifest as write_stage_manifest

log = logging.getLogger(__name__)

#: Smallest side, in pixels, of an image worth keeping.
MIN_SIDE_PX = 16


@dataclass(frozen=True)
class IngestConfig:
    """Read radiographs (PNG/JPEG/TIFF/DICOM), invert negatives, dedupe, resample and split."""

    src: Path = arg(help="folder of source radiographs, searched recursively", positional=True)
    out: Path = arg(help="new output folder, refused if not empty", positional=True)
    size_px: int = arg(256, help="output images are size_px x size_px pixels")
    resize: Literal["pad", "stretch"] = arg(
        "pad", help="pad: keep the aspect ratio and pad with black; stretch: fill the square"
    )
    val_fraction: float = arg(0.15, help="fraction of images in the val split, in [0, 1)")
    seed: int = arg(0, help="seed of the train/val split")
    group_by: str | None = arg(
        None, help="regex giving a patient id from the source path; a patient stays in one split"
    )
    bits: Literal[8, 16] = arg(8, help="bit depth of the output PNGs")
    source_licence: str | None = arg(
        None, help="SPDX licence of the source images (e.g. CC-BY-4.0); a release needs it"
    )
    attribution: str | None = arg(
        None, help="how the source images must be credited (authors, title, DOI), for a release"
    )
    allow_modality: tuple[str, ...] = arg(
        (),
        help="DICOM modalities to accept besides projection radiographs (e.g. OT; 'none' for "
        "a missing Modality tag)",
    )
    review_below: float = arg(
        0.9,
        help="films whose polarity or rotation confidence is below this go to review.csv (0: "
        "none does; an undecided turn is then not applied)",
    )
    labels: Path | None = arg(
        None, help="CSV: a source-path or file-name key column, then label columns"
    )
    label_from_folder: bool = arg(
        False, help="the name of each image's folder (NORMAL/, PNEUMONIA/) is its 'label'"
    )
    test_fraction: float = arg(
        0.0, help="fraction of images in a test split read only by `radsynth utility`"
    )
    review_decisions: Path | None = arg(
        None,
        help="review_decisions.csv written by `radsynth review --ingest`: each decided film is "
        "kept as decided (inverted, rotated, mirrored) or excluded, whatever the checks say",
    )


def read_any(path: Path, allow_modality: tuple[str, ...] = ()) -> tuple[np.ndarray, int, str, bool]:
    """Read a raster or DICOM file as (float32 (H, W) in [0, 1], bit depth, format, mono1).

    A DICOM must be a projection radiograph (:func:`radsynth.data.dicom.check_modality`)
    unless ``allow_modality`` names its modality.

    Raises:
        RadsynthError: for an unsupported, unreadable or empty file (the rejection reason).
    """
    suffix = path.suffix.lower()
    if suffix in RASTER_SUFFIXES:
        pixels, bits = read_image(path)
        fmt = {".jpg": "jpeg", ".tif": "tiff"}.get(suffix, suffix[1:])
        return pixels, bits, fmt, False
    if suffix in DICOM_SUFFIXES or is_dicom_file(path):
        dcm = read_dicom(path)
        check_modality(dcm.modality, allow_modality)
        return dcm.pixels, dcm.bit_depth, "dicom", dcm.monochrome1
    raise RadsynthError(f"unsupported file type {suffix or '(no extension)'!r}")


def pixel_hash(pixels: np.ndarray) -> str:
    """sha256 of the decoded image: its shape and its values quantised to 16 bits."""
    digest = hashlib.sha256(repr(pixels.shape).encode())
    digest.update(to_uint(pixels, 16).tobytes())
    return digest.hexdigest()


def find_files(src: Path) -> list[Path]:
    """Every non-hidden file below ``src``, sorted by relative path."""
    files = [
        p
        for p in src.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(src).parts)
    ]
    return sorted(files, key=lambda p: p.relative_to(src).as_posix())


def _check(cfg: IngestConfig) -> None:
    if not cfg.src.is_dir():
        raise RadsynthError(f"source folder not found: {cfg.src}")
    if not 8 <= cfg.size_px <= 4096:
        raise RadsynthError(f"--size-px must be in 8..4096, got {cfg.size_px}")
    if not 0.0 <= cfg.val_fraction < 1.0:
        raise RadsynthError(f"--val-fraction must be in [0, 1), got {cfg.val_fraction}")
    if not 0.0 <= cfg.review_below <= 1.0:
        raise RadsynthError(f"--review-below must be in [0, 1], got {cfg.review_below}")
    if not 0.0 <= cfg.test_fraction < 1.0 - cfg.val_fraction:
        raise RadsynthError(
            f"--test-fraction must be >= 0 and below 1 - val fraction, got {cfg.test_fraction}"
        )
    if cfg.labels is not None and cfg.label_from_folder:
        raise RadsynthError("give --labels or --label-from-folder, not both")
    if cfg.out.resolve().is_relative_to(cfg.src.resolve()):
        raise RadsynthError(f"output folder {cfg.out} must not lie inside the source folder")


def _process(path: Path, cfg: IngestConfig, seen: dict[str, str], rel: str):
    """Read one file; return (scaled unpadded image, partial row fields, film-check inputs:
    representation, hand cue, header polarity or None) or raise the rejection reason."""
    pixels, bits, fmt, mono1 = read_any(path, cfg.allow_modality)
    h, w = pixels.shape
    if min(h, w) < MIN_SIDE_PX:
        raise RadsynthError(f"image too small ({w}x{h} px)")
    if float(pixels.max()) <= float(pixels.min()):
        raise RadsynthError("blank image (constant pixel values)")
    digest = pixel_hash(pixels)
    if digest in seen:
        raise RadsynthError(f"duplicate of {seen[digest]}")
    # Polarity and rotation are decided later, on the resampled content before padding.
    scaled = scale_to_fit(pixels, cfg.size_px, cfg.resize)
    cue = cue_score(scaled)
    fields = dict(
        source_path=rel,
        source_sha256=sha256_file(path),
        pixel_sha256=digest,
        orig_width=w,
        orig_height=h,
        bit_depth=bits,
        polarity_score=round(cue, 6),
        format=fmt,
        monochrome1=int(mono1),
    )
    # A DICOM's header already fixed the displayed polarity: no score may invert it back.
    check = (represent(scaled), cue, False if fmt == "dicom" else None, thumbnail(scaled))
    return scaled, fields, check


def ingest(cfg: IngestConfig) -> StageResult:
    """Run the ingest stage; see the module docstring for the output layout.

    Raises:
        RadsynthError: for a missing SRC, an occupied OUT, bad settings, or when no file in SRC
            gives a usable image (then OUT is left as it was found).
    """
    _check(cfg)
    regex = compile_group_regex(cfg.group_by)
    table = None
    if cfg.labels is not None:
        table = read_label_table(cfg.labels, reserved=list(MANIFEST_COLUMNS))
    decisions = read_ingest_decisions(cfg.review_decisions) if cfg.review_decisions else {}
    files = find_files(cfg.src)
    if not files:
        raise RadsynthError(f"no files found in {cfg.src}")
    created = not cfg.out.exists()
    prepare_output_dir(cfg.out, "ingest", cfg)
    staging = cfg.out / ".staging"
    staging.mkdir()
    seen: dict[str, str] = {}
    kept: list[dict] = []
    checks: list[tuple] = []
    rejected: list[list[str]] = []
    for path in bar(files, desc="ingest", unit="file"):
        rel = path.relative_to(cfg.src).as_posix()
        try:
            image, fields, check = _process(path, cfg, seen, rel)
        except RadsynthError as exc:
            rejected.append([rel, str(exc).replace(str(path), rel)])
            continue
        except Exception as exc:  # any other decoder failure rejects the file, never the run
            rejected.append([rel, f"{type(exc).__name__}: {exc}".splitlines()[0]])
            continue
        write_png(staging / f"{len(kept):06d}.png", image, cfg.bits)
        seen[fields["pixel_sha256"]] = rel  # only a kept image makes later copies duplicates
        kept.append({**fields, "group": extract_group(regex, rel)})
        checks.append(check)
    excluded: list[tuple[str, IngestDecision]] = []
    views = None
    if kept:
        films, cues, headers, thumbs = (list(c) for c in zip(*checks, strict=True))
        settings = CheckSettings(review_below=cfg.review_below, seed=cfg.seed)
        kept, review, excluded, views = apply_checks(
            kept,
            films,
            cues,
            headers,
            staging,
            cfg.out,
            cfg.size_px,
            cfg.bits,
            settings,
            decisions,
            thumbs,
        )
        view_line = mixed_view_warning(views, cfg.review_below) if views is not None else None
        if view_line:
            log.warning(view_line)
        rejected += [[src, f"excluded by reviewer {d.decided_by}"] for src, d in excluded]
    restored = [k["source_path"] for k in kept if k["polarity_source"] == "reviewer"]
    n_restored = len(restored)
    warn_unmatched(decisions, {*restored, *(src for src, _ in excluded)})
    if not kept:
        _undo(cfg.out, created)
        first = f" (e.g. {rejected[0][0]}: {rejected[0][1]})" if rejected else ""
        raise RadsynthError(f"no usable images in {cfg.src}: {len(rejected)} rejected{first}")
    try:
        columns, values = _labels(cfg, table, kept)
    except RadsynthError:
        _undo(cfg.out, created)
        raise
    rows = _place(cfg, kept, staging, [stratum_of(v) for v in values])
    _write_tables(cfg, rows, rejected, columns, values)
    write_csv(cfg.out / "review.csv", REVIEW_COLUMNS, review)
    n_val = sum(r.split == "val" for r in rows)
    n_test = sum(r.split == "test" for r in rows)
    n_dup = sum(reason.startswith("duplicate of") for _, reason in rejected)
    counts = {
        "n_files": len(files),
        "n_images": len(rows),
        "n_train": len(rows) - n_val - n_test,
        "n_val": n_val,
        "n_test": n_test,
        "label_columns": list(columns),
        "n_inverted": sum(r.inverted for r in rows),
        "n_duplicates": n_dup,
        "n_rejected": len(rejected),
        "n_review": len(review),
        "n_rotated": sum(r.rotated_deg != 0 for r in rows),
        "n_reviewer_decided": n_restored,
        "views": view_counts(views, cfg.review_below),
    }
    write_stage_manifest(
        cfg.out,
        "ingest",
        cfg,
        seeds=cfg.seed,
        extra={
            "source_root": str(cfg.src),
            "source_licence": cfg.source_licence,
            "attribution": cfg.attribution,
            "review_decisions_sha256": (
                sha256_file(cfg.review_decisions) if cfg.review_decisions else None
            ),
            **counts,
        },
    )
    log.info("ingest counts: %s", counts)
    return StageResult(
        cfg.out,
        f"ingested {len(rows)} images ({len(rows) - n_val - n_test} train, {n_val} val, "
        f"{n_test} test, {counts['n_inverted']} inverted, {counts['n_rotated']} rotated; "
        f"{n_restored} kept as reviewers decided; "
        f"{len(review)} uncertain films listed in review.csv; {n_dup} duplicates and "
        f"{len(rejected) - n_dup} other files rejected) into {cfg.out}",
    )


def _labels(cfg: IngestConfig, table, kept: list[dict]) -> tuple[tuple[str, ...], list]:
    """Label columns and, per kept image, its values (empty tuples without labels)."""
    paths = [k["source_path"] for k in kept]
    if table is not None:
        columns = table.columns
        values = [lookup(table, p) or ("",) * len(columns) for p in paths]
    elif cfg.label_from_folder:
        columns, values = (FOLDER_COLUMN,), [(folder_label(p),) for p in paths]
    else:
        return (), [() for _ in kept]
    check_labels(columns, values, paths)
    return columns, values


def _place(
    cfg: IngestConfig, kept: list[dict], staging: Path, strata: list[str]
) -> list[ManifestRow]:
    """Split the kept images and move them from the staging folder into their split folders.

    Without labels or a test split the split is :func:`split_groups`' (as before labels
    existed); otherwise :func:`split_stratified`'s, stratified by the joint label.
    """
    groups = [k["group"] for k in kept]
    if cfg.test_fraction > 0 or any(strata):
        splits = split_stratified(groups, strata, cfg.val_fraction, cfg.test_fraction, cfg.seed)
    else:
        splits = split_groups(groups, cfg.val_fraction, cfg.seed)
    rows = []
    for index, (fields, split) in enumerate(zip(kept, splits, strict=True)):
        name = f"{split}/{index:06d}.png"
        (cfg.out / split).mkdir(exist_ok=True)
        os.replace(staging / f"{index:06d}.png", cfg.out / name)
        rows.append(ManifestRow(image=name, split=split, **fields))
    staging.rmdir()
    return rows


def _write_tables(
    cfg: IngestConfig, rows: list[ManifestRow], rejected: list[list[str]], columns, values
) -> None:
    labelled = [
        replace(r, labels=dict(zip(columns, v, strict=True)))
        for r, v in zip(rows, values, strict=True)
    ]
    write_manifest(cfg.out / "manifest.csv", labelled, columns)
    reasons = [{"source_path": src, "reason": why} for src, why in rejected]
    write_csv(cfg.out / "rejected.csv", ("source_path", "reason"), reasons)


def _undo(out: Path, created: bool) -> None:
    """Remove what this run wrote into ``out`` (it was empty or absent before)."""
    shutil.rmtree(out / ".staging", ignore_errors=True)
    shutil.rmtree(out / "review", ignore_errors=True)
    for name in ("config.json", "manifest.json"):
        (out / name).unlink(missing_ok=True)
    if created:
        shutil.rmtree(out, ignore_errors=True)
