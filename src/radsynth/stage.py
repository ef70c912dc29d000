"""What every pipeline stage shares: its output folder, its provenance record, atomic writes.

A stage is a typed function ``stage(cfg) -> StageResult``. It reads its inputs, writes only into
its output folder, and next to its outputs writes

- ``config.json``: the resolved config (every field, after presets, file and flags);
- ``manifest.json``: the stage name, input files with their sha256, seeds, and package versions.

Nothing already written is silently overwritten: :func:`prepare_output_dir` refuses a folder
that holds another stage's or another config's output.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import platform
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from radsynth.config import config_json, config_to_dict
from radsynth.errors import RadsynthError

#: Packages whose versions go into every manifest.
TRACKED_PACKAGES = (
    "radsynth", "numpy", "scipy", "pillow", "pydicom", "torch", "diffusers", "accelerate",
    "fastapi", "sqlalchemy",
)  # fmt: skip


@dataclass(frozen=True)
class StageResult:
    """What a stage did: where its output is and a one-line summary for the CLI."""

    out: Path  # the stage's output folder
    summary: str  # one line, e.g. "ingested 3,306 images (12 rejected) into data/"


def sha256_file(path: Path, chunk_bytes: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that decide a stage's numbers."""
    versions = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success, rename it over ``path``.

    The rename is atomic on POSIX, so a reader (or a ``kill -9`` mid-write) never sees a
    half-written file. On an exception the temporary file is removed and ``path`` is untouched.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def atomic_write_text(path: Path, text: str) -> None:
    """Write text to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write bytes to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def prepare_output_dir(out: Path, stage: str, cfg: Any, *, resume: bool = False) -> bool:
    """Create or check a stage's output folder.

    Args:
        out: the output folder.
        stage: the stage name recorded in ``manifest.json``.
        cfg: the resolved config; written to ``config.json``.
        resume: allow continuing into a folder written by the same stage with the same config.

    Returns:
        True when the folder already held this stage's output with the same config (a resume).

    Raises:
        RadsynthError: when ``out`` is a file, or holds other output (never mixed silently).
    """
    if out.exists() and not out.is_dir():
        raise RadsynthError(f"output path {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        previous = out / "config.json"
        manifest = out / "manifest.json"
        same_stage = manifest.is_file() and _read_json(manifest).get("stage") == stage
        same_cfg = previous.is_file() and previous.read_text() == config_json(cfg)
        if resume and same_stage and same_cfg:
            return True
        why = "a different config" if same_stage else "other files"
        raise RadsynthError(
            f"output folder {out} already holds {why}; choose a new folder or remove it first"
        )
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.json", config_json(cfg))
    # A stub manifest marks the folder as this stage's, so an interrupted run can resume.
    atomic_write_text(out / "manifest.json", json.dumps({"stage": stage, "complete": False}) + "\n")
    return False


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def write_manifest(
    out: Path,
    stage: str,
    cfg: Any,
    inputs: Iterable[Path] = (),
    seeds: Any = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``config.json`` and ``manifest.json`` next to a stage's outputs.

    Args:
        out: the stage's output folder.
        stage: stage name, e.g. ``"ingest"``.
        cfg: the resolved config dataclass.
        inputs: input files; each is recorded with its sha256 (folders are expanded).
        seeds: the seeds used (an int, a range description, or a list).
        extra: any other stage-specific facts worth keeping (counts, checkpoint ids).

    Returns:
        The manifest path.
    """
    files: list[Path] = []
    for p in inputs:
        p = Path(p)
        files.extend(sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p])
    manifest = {
        "stage": stage,
        "complete": True,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": sys.argv,
        "config": config_to_dict(cfg),
        "inputs": [{"path": str(p), "sha256": sha256_file(p)} for p in files if p.is_file()],
        "seeds": seeds,
        "versions": package_versions(),
        **(extra or {}),
    }
    atomic_write_text(out / "config.json", config_json(cfg))
    path = out / "manifest.json"
    atomic_write_text(path, json.dumps(manifest, indent=2, default=str) + "\n")
    return path


def is_complete(out: Path, stage: str, cfg: Any) -> bool:
    """True when ``out`` holds a finished run of ``stage`` with exactly this config."""
    manifest = _read_json(out / "manifest.json")
    previous = out / "config.json"
    return (
        manifest.get("stage") == stage
        and manifest.get("complete") is True
        and previous.is_file()
        and previous.read_text() == config_json(cfg)
    )
