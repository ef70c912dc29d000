"""What every pipeline stage shares: its output folder, its provenance record, atomic writes.

A stage is a typed function ``stage(cfg) -> StageResult``. It reads its inputs, writes only into
its output folder, and next to its outputs writes

- ``config.json``: the resolved config (every field, after presets, file and flags);
- ``manifest.json``: the stage name, input files with their sha256, seeds, and package versions.

Nothing already written is silently overwritten: :func:`prepare_output_dir` refuses a folder
that holds another stage's or another config's output, or a finished run. An unfinished run
with the same config (``manifest.json`` says ``complete: false``, e.g. after a crash) is resumed
by stages that can resume, and otherwise moved aside to ``OUT.stale-N`` (never deleted) so
that the stage starts over in ``OUT``.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import logging
import os
import platform
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from radsynth.config import config_json, config_to_dict
from radsynth.errors import RadsynthError
from radsynth.io import read_json, read_text

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Packages whose versions go into every manifest.
TRACKED_PACKAGES = (
    "radsynth",
    "numpy",
    "scipy",
    "pillow",
    "pydicom",
    "torch",
    "diffusers",
    "accelerate",
    "fastapi",
    "sqlalchemy",
)


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


def draw_figure(what: str, draw: Callable[[], T], warnings: list[str] | None = None) -> T | None:
    """Run ``draw()``, which draws one figure; a plotting error becomes a logged warning.

    A figure only shows numbers the stage has already computed (and written), so it must never
    fail the stage: on any exception from the plotting code this logs one line naming the figure
    and the error, and returns None (the caller leaves the figure out).

    Args:
        what: the figure's name for the warning, e.g. ``"accuracy_per_rater.png"``.
        draw: a callable without arguments that draws and saves the figure.
        warnings: the stage's list of warnings, if it keeps one; the message is appended.

    Returns:
        Whatever ``draw`` returned, or None when it failed.
    """
    try:
        return draw()
    except Exception as exc:  # any plotting failure, by design: see the docstring
        message = f"figure {what} not drawn: {type(exc).__name__}: {exc}".replace("\n", " ")
        log.warning("%s", message)
        if warnings is not None:
            warnings.append(message)
        return None


def prepare_output_dir(out: Path, stage: str, cfg: Any, *, resume: bool = False) -> bool:
    """Create or check a stage's output folder.

    The rule for a folder that is not empty:

    - another stage's output, or files that are no stage's: refused;
    - this stage with a different config: refused;
    - this stage with the same config, finished (``complete: true``): resumed when ``resume``
      (the stage finds its work done), otherwise refused, never deleted;
    - this stage with the same config, unfinished: resumed when ``resume``, otherwise moved
      aside to ``OUT.stale-N`` (nothing is deleted) and started over in ``OUT``.

    Args:
        out: the output folder.
        stage: the stage name recorded in ``manifest.json``.
        cfg: the resolved config; written to ``config.json``.
        resume: the stage can continue into a folder of its own with the same config.

    Returns:
        True when the folder already held this stage's output with the same config (a resume).

    Raises:
        RadsynthError: when ``out`` is a file, or holds output that may not be replaced.
    """
    if out.exists() and not out.is_dir():
        raise RadsynthError(f"output path {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        manifest = _read_json(out / "manifest.json")
        if manifest.get("stage") != stage:
            raise RadsynthError(
                f"output folder {out} already holds other files; choose a new folder or "
                "remove it first"
            )
        if not _same_config(out, cfg):
            raise RadsynthError(
                f"output folder {out} already holds a different config; choose a new folder "
                "or remove it first"
            )
        if resume:
            return True
        if manifest.get("complete") is not False:
            raise RadsynthError(
                f"output folder {out} already holds a finished {stage} run with this config; "
                "choose a new folder or remove it first"
            )
        stale = move_aside(out)
        log.warning(
            "%s: unfinished earlier run in %s moved aside to %s; starting over", stage, out, stale
        )
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.json", config_json(cfg))
    # A stub manifest marks the folder as this stage's, so an interrupted run can resume.
    atomic_write_text(out / "manifest.json", json.dumps({"stage": stage, "complete": False}) + "\n")
    return False


def move_aside(path: Path, into: Path | None = None) -> Path:
    """Rename ``path`` to the first free ``NAME.stale-N`` (N = 1, 2, ...) beside it, or in
    ``into`` when given (a folder whose siblings a later stage reads all of)."""
    folder = path.parent if into is None else into
    folder.mkdir(parents=True, exist_ok=True)
    n = 1
    while (stale := folder / f"{path.name}.stale-{n}").exists():
        n += 1
    path.rename(stale)
    return stale


def _same_config(out: Path, cfg: Any) -> bool:
    """True when ``out/config.json`` holds exactly this config."""
    try:
        return read_text(out / "config.json") == config_json(cfg)
    except RadsynthError:
        return False


def _read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``, or {} when it is missing, unreadable or not an object."""
    try:
        data = read_json(path)
    except RadsynthError:
        return {}
    return data if isinstance(data, dict) else {}


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
