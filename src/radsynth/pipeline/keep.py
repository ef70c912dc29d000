"""The kept set: the screened synthetic images that go on to the audit and the reader study."""

from __future__ import annotations

import csv
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from radsynth.errors import RadsynthError
from radsynth.stage import StageResult


def collect_kept(kept_csv: Path, images_root: Path, out: Path) -> StageResult:
    """Copy the images listed in the screen's ``kept.csv`` into ``out/<group>/``.

    The folder is rebuilt from scratch in a temporary sibling and swapped in, so it always
    matches the latest screen exactly.

    Args:
        kept_csv: the screen's kept list (columns ``image`` and ``group``).
        images_root: the folder the ``image`` paths are relative to (the oriented samples).
        out: destination, one sub-folder per group.
    """
    if not kept_csv.is_file():
        raise RadsynthError(f"screen output {kept_csv} is missing; run the screen stage first")
    with open(kept_csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise RadsynthError(
            f"the screen kept no synthetic images (see {kept_csv.parent / 'excluded.csv'}); "
            "train longer, review the flags, or set `keep: all` in the pipeline file"
        )
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    groups: dict[str, int] = {}
    for row in rows:
        src = Path(row["image"])
        src = src if src.is_absolute() else images_root / src
        group = row.get("group") or src.parent.name
        dest = tmp / group / src.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)
        groups[group] = groups.get(group, 0) + 1
    tmp.mkdir(parents=True, exist_ok=True)
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    counts = ", ".join(f"{g}: {n}" for g, n in sorted(groups.items()))
    return StageResult(out, f"kept {sum(groups.values())} images ({counts})")


def park_unchosen_samples(samples: Path, parked: Path, chosen: Iterable[str]) -> None:
    """Keep only the chosen checkpoints' folders in ``samples``; park the others in ``parked``.

    Later stages read every sub-folder of ``samples``, so a checkpoint chosen by an earlier run
    must not linger there. Its images are moved, not deleted, and come back (still cached) if
    the checkpoint is chosen again.
    """
    chosen = set(chosen)
    for folder in sorted(samples.iterdir()) if samples.is_dir() else []:
        if folder.is_dir() and folder.name not in chosen:
            parked.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(parked / folder.name, ignore_errors=True)
            os.replace(folder, parked / folder.name)
    for name in chosen:
        if (parked / name).is_dir() and not (samples / name).exists():
            samples.mkdir(parents=True, exist_ok=True)
            os.replace(parked / name, samples / name)
