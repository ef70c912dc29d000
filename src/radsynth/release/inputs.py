"""Where the parts of a release come from, and typed readers of the tables they hold.

A ``radsynth run`` folder holds every part at a fixed place (``samples/``, ``oriented/``,
``screen/``, ``review/``, ``audit/``, ``data/``); users who ran the stages one by one name the
parts with flags instead. Images are keyed everywhere by their path relative to the samples
folder, ``<checkpoint>/<seed>.png``: the screen, the orient stage and the audit all write that
key (the audit's synthetic folder is a copy of the samples, as generated).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from radsynth.errors import RadsynthError
from radsynth.fates.records import read_rows
from radsynth.layout import RunLayout
from radsynth.records.audit import NeighbourRow, read_neighbours
from radsynth.records.manifest import read_manifest


@dataclass(frozen=True)
class ReleaseInputs:
    """The folders and files a release reads."""

    run: Path | None  # the run folder, when there is one
    images: Path  # samples as generated: <checkpoint>/<seed>.png and <checkpoint>/meta/*.json
    orient: Path | None  # orient output (orientation.csv); None: images go out as generated
    screen: Path  # screen output: screen.csv, threshold.json
    review: Path | None  # review page output: screen_decisions.csv, audit_adjudication.csv
    audit: Path  # audit output: neighbours.csv, manifest.json (hashes of what it audited)
    ingest: Path  # ingest output: manifest.csv, manifest.json, train/, val/
    fid: Path | None  # fid.csv of the FID sweep
    stats: Path | None  # stats.json of the reader study
    fates: Path | None = None  # the keep stage's fates record (keep/images.csv), in a run


def _part(given: Path | None, path: Path | None, optional: bool) -> Path | None:
    if given is not None:
        return given
    if path is None:
        return None
    return path if path.exists() or not optional else None


def resolve_inputs(run: Path | None, **given: Path | None) -> ReleaseInputs:
    """Fill in each part from the run folder unless a flag names it.

    Args:
        run: the run folder, or None when every required part is named.
        given: ``images``, ``orient``, ``screen``, ``review``, ``audit``, ``ingest``, ``fid``,
            ``stats``: paths given by flags (None when not given). ``fates``, the keep stage's
            record, is read from the run folder when it has one and the screen and review are
            the run's own.

    Raises:
        RadsynthError: the run folder is missing, or a required part is neither given nor in it.
    """
    if run is not None and not run.is_dir():
        raise RadsynthError(f"run folder not found: {run}")
    at = RunLayout(run) if run is not None else None
    defaults = {
        "images": (at and at.samples, False),
        "orient": (at and at.oriented, True),
        "screen": (at and at.screen, False),
        "review": (at and at.review, True),
        "audit": (at and at.audit, False),
        "ingest": (at and at.data, False),
        "fid": (at and at.generator(None).fid, True),
        "stats": (at and at.stats_json, True),
        "fates": (at and at.fates_record, True),
    }
    parts = {k: _part(given.get(k), path, opt) for k, (path, opt) in defaults.items()}
    if given.get("screen") is not None or given.get("review") is not None:
        parts["fates"] = None  # the record decided the run's own screen and review, not these
    missing = [k for k in ("images", "screen", "audit", "ingest") if parts[k] is None]
    if missing:
        flags = " ".join(f"--{k} DIR" for k in missing)
        raise RadsynthError(f"name the run folder (release RUN OUT) or the parts: {flags}")
    return ReleaseInputs(run=run, **parts)  # type: ignore[arg-type]


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from a file (one-line errors)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RadsynthError(f"{path} is missing") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RadsynthError(f"cannot read {path}: {exc}".splitlines()[0]) from None
    if not isinstance(data, dict):
        raise RadsynthError(f"{path} does not hold a JSON object")
    return data


def finished(folder: Path, stage: str) -> bool:
    """True when ``folder`` holds a completed run of ``stage`` (its manifest says so)."""
    path = folder / "manifest.json"
    if not path.is_file():
        return False
    try:
        manifest = read_json(path)
    except RadsynthError:
        return False
    return manifest.get("stage") == stage and manifest.get("complete") is True


def orientation_flips(orient: Path) -> dict[str, bool]:
    """image -> whether the orient stage flipped it, from ``orientation.csv``."""
    rows = read_rows(orient / "orientation.csv", ("image", "flipped"))
    return {r["image"]: r["flipped"] == "1" for r in rows}


def audit_rows(audit: Path) -> dict[str, NeighbourRow]:
    """image -> its audit result, from ``neighbours.csv`` (:mod:`radsynth.records.audit`)."""
    return {r.synthetic: r for r in read_neighbours(audit / "neighbours.csv")}


def audited_hashes(audit: Path) -> dict[str, str]:
    """image -> sha256 of the file the audit read, from the audit's manifest inputs.

    Paths are compared as written (relative or absolute), never resolved, so a run folder that
    was moved still matches.
    """
    manifest = read_json(audit / "manifest.json")
    synthetic = manifest.get("config", {}).get("synthetic")
    if not synthetic:
        raise RadsynthError(f"{audit / 'manifest.json'} does not name the audited images")
    root = PurePath(synthetic)
    hashes = {}
    for item in manifest.get("inputs", []):
        path = PurePath(item.get("path", ""))
        if path.is_relative_to(root):
            hashes[path.relative_to(root).as_posix()] = item.get("sha256", "")
    return hashes


@dataclass(frozen=True)
class IngestRecord:
    """What the release needs from the ingest stage."""

    source_licence: str | None  # as recorded by ingest --source-licence
    attribution: str | None  # as recorded by ingest --attribution
    size_px: int | None  # the trained image size
    n_train: int | None
    n_val: int | None
    phantoms: bool  # the source was radsynth's own phantoms, not patients
    sources: list[dict[str, str]]  # manifest.csv rows: source_path, group
    source_root: str  # the source folder as ingest was given it


def ingest_record(ingest: Path) -> IngestRecord:
    """Read the ingest folder's manifest.json and manifest.csv."""
    manifest = read_json(ingest / "manifest.json")
    rows = read_manifest(ingest / "manifest.csv", ("image", "source_path", "group"))
    config = manifest.get("config", {})
    src = str(config.get("src") or manifest.get("source_root") or "")
    return IngestRecord(
        source_licence=config.get("source_licence") or manifest.get("source_licence"),
        attribution=config.get("attribution") or manifest.get("attribution"),
        size_px=config.get("size_px"),
        n_train=manifest.get("n_train"),
        n_val=manifest.get("n_val"),
        phantoms=bool(src) and finished(Path(src).parent, "phantoms"),
        sources=[{"source_path": r.source_path, "group": r.group} for r in rows],
        source_root=src,
    )


def sidecar(images: Path, image: str) -> dict[str, Any]:
    """The sample stage's metadata sidecar of one image (``<checkpoint>/meta/<seed>.json``)."""
    rel = PurePath(image)
    return read_json(images / rel.parent / "meta" / f"{rel.stem}.json")


def sampling_record(images: Path, group: str) -> dict[str, Any]:
    """What every image of one checkpoint folder shares (``sampling.json``)."""
    return read_json(images / group / "sampling.json")
