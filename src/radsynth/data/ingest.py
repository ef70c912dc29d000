"""``radsynth ingest SRC OUT``: turn a folder of radiographs into a clean, split training set.

Every file below SRC is read (PNG, JPEG, TIFF at 8 or 16 bits; DICOM with its display pipeline),
exact pixel duplicates are dropped, negative scans are detected and inverted
(:mod:`radsynth.data.polarity`), each image is resampled to size x size, and the set is split
train/val by patient. Output (the contract other stages read)::

    OUT/train/000000.png ...   OUT/val/000007.png ...   (numbered in source order; no PHI)
    OUT/manifest.csv           one row per kept image, linking it back to its source
    OUT/rejected.csv           source_path, reason (unreadable, unsupported, duplicate of ...)
    OUT/config.json, OUT/manifest.json

Output images carry no DICOM tags and no source names; only manifest.csv links to the sources.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from radsynth.config import arg
from radsynth.data.dicom import DICOM_SUFFIXES, is_dicom_file, read_dicom
from radsynth.data.imageio import RASTER_SUFFIXES, read_image, to_uint, write_png
from radsynth.data.polarity import detect_polarity
from radsynth.data.resample import pad_to_square, scale_to_fit
from radsynth.data.splits import compile_group_regex, extract_group, split_groups
from radsynth.errors import RadsynthError
from radsynth.progress import bar
from radsynth.stage import StageResult, atomic_write_text, prepare_output_dir, sha256_file
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


@dataclass
class Row:
    """One kept image: a row of manifest.csv."""

    image: str  # path relative to OUT, e.g. train/000012.png
    split: str  # train | val
    source_path: str  # path relative to SRC
    source_sha256: str  # sha256 of the source file's bytes
    pixel_sha256: str  # sha256 of the decoded pixels (shape + 16-bit values); dedupe key
    orig_width: int  # source width in pixels
    orig_height: int  # source height in pixels
    bit_depth: int  # source bit depth (BitsStored for DICOM)
    inverted: int  # 1 when the polarity detector inverted a negative scan
    polarity_confidence: float  # tanh(|score| / 0.05) in [0, 1)
    group: str  # patient id from --group-by, or empty
    polarity_score: float  # > 0 for a positive film, see radsynth.data.polarity
    format: str  # png | jpeg | tiff | dicom
    monochrome1: int  # 1 when a DICOM MONOCHROME1 source was inverted by its header


def read_any(path: Path) -> tuple[np.ndarray, int, str, bool]:
    """Read a raster or DICOM file as (float32 (H, W) in [0, 1], bit depth, format, mono1).

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
    if cfg.out.resolve().is_relative_to(cfg.src.resolve()):
        raise RadsynthError(f"output folder {cfg.out} must not lie inside the source folder")


def _process(path: Path, cfg: IngestConfig, seen: dict[str, str], rel: str):
    """Read one file; return (final image, partial row fields) or raise the rejection reason."""
    pixels, bits, fmt, mono1 = read_any(path)
    h, w = pixels.shape
    if min(h, w) < MIN_SIDE_PX:
        raise RadsynthError(f"image too small ({w}x{h} px)")
    if float(pixels.max()) <= float(pixels.min()):
        raise RadsynthError("blank image (constant pixel values)")
    digest = pixel_hash(pixels)
    if digest in seen:
        raise RadsynthError(f"duplicate of {seen[digest]}")
    # Polarity is decided on the resampled content, before padding adds black borders.
    scaled = scale_to_fit(pixels, cfg.size_px, cfg.resize)
    polarity = detect_polarity(scaled)
    if polarity.negative:
        scaled = 1.0 - scaled
    fields = dict(
        source_path=rel,
        source_sha256=sha256_file(path),
        pixel_sha256=digest,
        orig_width=w,
        orig_height=h,
        bit_depth=bits,
        inverted=int(polarity.negative),
        polarity_confidence=round(polarity.confidence, 6),
        polarity_score=round(polarity.score, 6),
        format=fmt,
        monochrome1=int(mono1),
    )
    return pad_to_square(scaled, cfg.size_px), fields


def _csv_text(header: list[str], rows: list[list]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def ingest(cfg: IngestConfig) -> StageResult:
    """Run the ingest stage; see the module docstring for the output layout.

    Raises:
        RadsynthError: for a missing SRC, an occupied OUT, bad settings, or when no file in SRC
            gives a usable image (then OUT is left as it was found).
    """
    _check(cfg)
    regex = compile_group_regex(cfg.group_by)
    files = find_files(cfg.src)
    if not files:
        raise RadsynthError(f"no files found in {cfg.src}")
    created = not cfg.out.exists()
    prepare_output_dir(cfg.out, "ingest", cfg)
    staging = cfg.out / ".staging"
    staging.mkdir()
    seen: dict[str, str] = {}
    kept: list[dict] = []
    rejected: list[list[str]] = []
    for path in bar(files, desc="ingest", unit="file"):
        rel = path.relative_to(cfg.src).as_posix()
        try:
            image, fields = _process(path, cfg, seen, rel)
        except RadsynthError as exc:
            rejected.append([rel, str(exc).replace(str(path), rel)])
            continue
        except Exception as exc:  # any other decoder failure rejects the file, never the run
            rejected.append([rel, f"{type(exc).__name__}: {exc}".splitlines()[0]])
            continue
        write_png(staging / f"{len(kept):06d}.png", image, cfg.bits)
        seen[fields["pixel_sha256"]] = rel  # only a kept image makes later copies duplicates
        kept.append({**fields, "group": extract_group(regex, rel)})
    if not kept:
        _undo(cfg.out, created)
        first = f" (e.g. {rejected[0][0]}: {rejected[0][1]})" if rejected else ""
        raise RadsynthError(f"no usable images in {cfg.src}: {len(rejected)} rejected{first}")
    rows = _place(cfg, kept, staging)
    _write_tables(cfg, rows, rejected)
    n_val = sum(r.split == "val" for r in rows)
    n_dup = sum(reason.startswith("duplicate of") for _, reason in rejected)
    counts = {
        "n_files": len(files),
        "n_images": len(rows),
        "n_train": len(rows) - n_val,
        "n_val": n_val,
        "n_inverted": sum(r.inverted for r in rows),
        "n_duplicates": n_dup,
        "n_rejected": len(rejected),
    }
    write_stage_manifest(
        cfg.out, "ingest", cfg, seeds=cfg.seed, extra={"source_root": str(cfg.src), **counts}
    )
    log.info("ingest counts: %s", counts)
    return StageResult(
        cfg.out,
        f"ingested {len(rows)} images ({len(rows) - n_val} train, {n_val} val, "
        f"{counts['n_inverted']} inverted; {n_dup} duplicates and "
        f"{len(rejected) - n_dup} other files rejected) into {cfg.out}",
    )


def _place(cfg: IngestConfig, kept: list[dict], staging: Path) -> list[Row]:
    """Split the kept images and move them from the staging folder into train/ and val/."""
    splits = split_groups([k["group"] for k in kept], cfg.val_fraction, cfg.seed)
    rows = []
    for index, (fields, split) in enumerate(zip(kept, splits, strict=True)):
        name = f"{split}/{index:06d}.png"
        (cfg.out / split).mkdir(exist_ok=True)
        os.replace(staging / f"{index:06d}.png", cfg.out / name)
        rows.append(Row(image=name, split=split, **fields))
    staging.rmdir()
    return rows


def _write_tables(cfg: IngestConfig, rows: list[Row], rejected: list[list[str]]) -> None:
    header = list(Row.__dataclass_fields__)
    table = [[asdict(r)[k] for k in header] for r in rows]
    atomic_write_text(cfg.out / "manifest.csv", _csv_text(header, table))
    atomic_write_text(cfg.out / "rejected.csv", _csv_text(["source_path", "reason"], rejected))


def _undo(out: Path, created: bool) -> None:
    """Remove what this run wrote into ``out`` (it was empty or absent before)."""
    shutil.rmtree(out / ".staging", ignore_errors=True)
    for name in ("config.json", "manifest.json"):
        (out / name).unlink(missing_ok=True)
    if created:
        shutil.rmtree(out, ignore_errors=True)
