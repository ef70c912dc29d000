"""The class of each image the generator comparison scores: a real image's from the ingest's
manifest.csv, a synthetic image's from its sampling sidecar (``META/<stem>.json``, key
``label``, as ``radsynth sample`` writes it and :func:`radsynth.utility.data.load_synthetic`
reads it)."""

from __future__ import annotations

import json
from pathlib import Path

from radsynth.errors import RadsynthError
from radsynth.records.manifest import read_manifest


def real_labels(
    paths: list[Path], manifest: Path | None, column: str
) -> tuple[list[str], list[str]]:
    """Each real image's class and the sorted classes; without a manifest, "" and none.

    A real image is found in the manifest by its path relative to the manifest's folder
    (``test/000012.png``).

    Raises:
        RadsynthError: a manifest without the column, a real image outside the manifest's
            folder, not in it, or with no class (one line).
    """
    if manifest is None:
        return [""] * len(paths), []
    manifest = Path(manifest)
    rows = read_manifest(manifest, ("image", column), hint="ingest with --labels")
    by_image = {r.image: r.value(column) for r in rows}
    root = manifest.parent.resolve()
    labels = []
    for p in paths:
        try:
            rel = p.resolve().relative_to(root).as_posix()
        except ValueError:
            raise RadsynthError(
                f"real image {p} is not inside {root}, the manifest's folder"
            ) from None
        label = by_image.get(rel, "")
        if not label:
            raise RadsynthError(f"real image {rel} has no {column!r} class in {manifest}")
        labels.append(label)
    return labels, sorted(set(labels))


def set_labels(paths: list[Path], meta: Path, name: str, classes: list[str]) -> list[str]:
    """Each synthetic image's class from its sidecar; all "" when no classes are scored.

    Raises:
        RadsynthError: a missing or unreadable sidecar, or a class the real images lack.
    """
    if not classes:
        return [""] * len(paths)
    labels = []
    for p in paths:
        side = Path(meta) / f"{p.stem}.json"
        try:
            label = json.loads(side.read_text()).get("label")
        except (OSError, json.JSONDecodeError, AttributeError):
            raise RadsynthError(
                f"set {name}: image {p.name} has no readable sidecar {side}; give the set's "
                "sidecar folder with --sets-meta NAME=METADIR"
            ) from None
        if label not in classes:
            raise RadsynthError(
                f"set {name}: image {p.name} has class {label!r}, which the real images "
                f"lack ({', '.join(classes)})"
            )
        labels.append(label)
    return labels
