"""The kept set: the screened synthetic images that go on to the audit and the reader study.

An image is kept when the screen passes it (or ``keep: all``), unless a reviewer excluded it on
the review page; a flagged image a reviewer kept is kept. Images that reviewers agreed are
memorized copies of a training image never reach the reader study.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

from radsynth.config import arg
from radsynth.data.imageio import RASTER_SUFFIXES
from radsynth.errors import RadsynthError
from radsynth.fates.records import (
    SCREEN_DECISIONS,
    ImageFate,
    decide_images,
    read_audit_verdicts,
    read_fates,
    read_screen,
    read_screen_decisions,
    table_s1,
    unmatched,
    write_fates,
    write_table_s1,
)
from radsynth.layout import RunLayout, parse_set_name
from radsynth.stage import StageResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KeepConfig:
    """Decide which screened images go on, and copy them into one folder per checkpoint."""

    #: The kept folder is rebuilt beside itself and swapped in whole: never left half-written.
    ATOMIC: ClassVar[bool] = True

    screen: Path = arg(help="screen output folder (screen.csv)")
    review: Path = arg(help="review folder (reviewers' decisions); may not exist yet")
    images: Path = arg(help="folder the screened image paths are relative to")
    out: Path = arg(help="kept images, one sub-folder per checkpoint")
    mode: Literal["screened", "all"] = arg(
        "screened", help="screened: flagged images are excluded; all: they are only marked"
    )
    with_audit: bool = arg(False, help="also exclude reviewer-confirmed memorized copies")
    record: Path | None = arg(None, help="write images.csv and table_s1.csv into this folder")


def keep(cfg: KeepConfig) -> StageResult:
    """The keep stage: each image's fate (:func:`decide_fates`), then the kept copies."""
    fates = decide_fates(
        cfg.screen, cfg.review, cfg.mode, with_audit=cfg.with_audit, images=cfg.images
    )
    if cfg.record is not None:
        write_keep_record(cfg.record, fates)
    return collect_kept(fates, cfg.images, cfg.out)


def decide_kept(run: Path, keep_mode: str, *, with_audit: bool) -> list[ImageFate]:
    """:func:`decide_fates` on a run folder's screen and review folders."""
    layout = RunLayout(run)
    return decide_fates(layout.screen, layout.review, keep_mode, with_audit=with_audit)


def decide_fates(
    screen: Path,
    review: Path | None,
    keep_mode: str,
    *,
    with_audit: bool,
    checkpoints: Sequence[str] = (),
    images: Path | None = None,
) -> list[ImageFate]:
    """Each screened image's fate from the screen and the reviewers' decisions: the one place
    that reads both and applies :func:`~radsynth.fates.records.decide_images`.

    Args:
        screen: the screen's output folder (``screen.csv``).
        review: the folder ``radsynth review`` writes its decisions to (may not exist; None when
            nobody reviewed).
        keep_mode: the pipeline's ``keep``: "screened" (flagged images are excluded) or "all".
        with_audit: also exclude the images that reviewers agreed are memorized copies (the
            audit runs on the images kept without it, so that its pairs stay reviewable).
        checkpoints: the groups to decide (checkpoint folder names); empty = every group.
        images: the folder the screened paths are relative to (``<group>/<file>``); every image
            there in a decided group must have been screened, so that no file goes without a
            fate.

    Raises:
        RadsynthError: a named checkpoint was not screened, an image under ``images`` was not
            (added after the screen ran), or a decision file is unreadable.
    """
    screened = read_screen(screen)
    groups = sorted({s.group for s in screened})
    unknown = sorted(set(checkpoints) - set(groups))
    if unknown:
        raise RadsynthError(
            f"checkpoint(s) {', '.join(unknown)} were not screened; screened: {', '.join(groups)}"
        )
    reviewed = read_screen_decisions(review) if review is not None else {}
    stale = unmatched(reviewed, screened)
    if stale:
        log.warning(
            "%d reviewer decision(s) in %s name images the current screen does not list "
            "(first: %s); they were made on an earlier screen and do not apply",
            len(stale),
            review / SCREEN_DECISIONS if review is not None else "",
            stale[0],
        )
    chosen = set(checkpoints) or set(groups)
    screened = [s for s in screened if s.group in chosen]
    if images is not None:
        _check_all_screened(images, chosen, {s.image for s in screened})
    verdicts = read_audit_verdicts(review) if with_audit and review is not None else {}
    return decide_images(screened, reviewed, verdicts, screen_excludes=keep_mode == "screened")


def _check_all_screened(images: Path, groups: set[str], screened: set[str]) -> None:
    """Refuse when a group folder under ``images`` holds an image the screen never saw: it
    would otherwise be left out of everything without a word."""
    on_disk = [
        p.relative_to(images).as_posix()
        for group in sorted(groups)
        for p in sorted((images / group).glob("*"))
        if p.suffix.lower() in RASTER_SUFFIXES
    ]
    unseen = [name for name in on_disk if name not in screened]
    if unseen:
        raise RadsynthError(
            f"{len(unseen)} image(s) under {images} were not screened (first: {unseen[0]}), "
            "e.g. added after sampling: remove them, or orient and screen them again"
        )


def read_keep_record(
    record: Path,
    keep_mode: str,
    *,
    checkpoints: Sequence[str] = (),
    older_inputs: Sequence[Path] = (),
    images: Path | None = None,
) -> list[ImageFate]:
    """The fates the keep stage recorded (``keep/images.csv``), for the stages after it.

    Args:
        record: the fates record.
        keep_mode: the keep mode the caller applies; the record must have been made with it.
        checkpoints: the groups to take (checkpoint folder names); empty = every group.
        older_inputs: files the record was decided from (screen.csv, the reviewers' decision
            files): one changed after the record was written makes it stale.
        images: as in :func:`decide_fates`.

    Raises:
        RadsynthError: a stale record, one made under the other keep mode, or a named
            checkpoint it does not hold (one line each).
    """
    written = record.stat().st_mtime_ns
    newer = [p for p in older_inputs if p.is_file() and p.stat().st_mtime_ns > written]
    if newer:
        raise RadsynthError(
            f"{record} is older than {newer[0]}: run the pipeline again so that keep applies "
            "the new decisions"
        )
    fates = read_fates(record)
    carried = any(f.flagged and f.auto == "keep" for f in fates)  # only keep: all does this
    excluded = any(f.flagged and f.auto == "exclude" for f in fates)
    if (keep_mode == "screened" and carried) or (keep_mode == "all" and excluded):
        other = "all" if carried else "screened"
        raise RadsynthError(f"{record} was made with keep: {other}, not keep: {keep_mode}")
    groups = sorted({f.group for f in fates})
    unknown = sorted(set(checkpoints) - set(groups))
    if unknown:
        raise RadsynthError(
            f"checkpoint(s) {', '.join(unknown)} are not in {record}; it holds {', '.join(groups)}"
        )
    chosen = set(checkpoints) or set(groups)
    fates = [f for f in fates if f.group in chosen]
    if images is not None:
        _check_all_screened(images, chosen, {f.image for f in fates})
    return fates


def write_keep_record(folder: Path, fates: list[ImageFate]) -> None:
    """``folder/images.csv`` (one row per image) and ``folder/table_s1.csv`` for the report."""
    folder.mkdir(parents=True, exist_ok=True)
    write_fates(folder / "images.csv", fates)
    write_table_s1(folder / "table_s1.csv", table_s1(fates))


def collect_kept(fates: Iterable[ImageFate], images_root: Path, out: Path) -> StageResult:
    """Copy the kept images into ``out/<group>/``.

    The folder is rebuilt from scratch in a temporary sibling and swapped in, so it always
    matches the latest decisions exactly.

    Args:
        fates: every screened image's fate (:func:`decide_kept`); only kept ones are copied.
        images_root: the folder the ``image`` paths are relative to (the oriented samples).
        out: destination, one sub-folder per group.
    """
    fates = list(fates)
    kept = [f for f in fates if f.kept]
    if not kept:
        raise RadsynthError(
            f"no synthetic image is left of {len(fates)} screened (see the screen's "
            "excluded.csv and the review decisions): train longer, review the flags, or set "
            "`keep: all` in the pipeline file"
        )
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    groups: dict[str, int] = {}
    for fate in kept:
        src = Path(fate.image)
        src = src if src.is_absolute() else images_root / src
        group = fate.group or src.parent.name
        dest = tmp / group / src.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)
        groups[group] = groups.get(group, 0) + 1
    tmp.mkdir(parents=True, exist_ok=True)
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    counts = ", ".join(f"{g}: {n}" for g, n in sorted(groups.items()))
    return StageResult(out, f"kept {sum(groups.values())} of {len(fates)} images ({counts})")


def park_unchosen_samples(samples: Path, parked: Path, chosen: Iterable[str]) -> None:
    """Keep only the chosen sets' folders in ``samples``; park the others in ``parked``.

    A set's folder is ``samples/step-NNNNNNN`` or ``samples/GEN/step-NNNNNNN``
    (:class:`radsynth.layout.SyntheticSet`). Later stages read every sub-folder of
    ``samples``, so a set chosen by an earlier run must not linger there. Its images are moved,
    not deleted, and come back (still cached) if the set is chosen again.
    """
    chosen = set(chosen)
    for name in _set_folders(samples):
        if name not in chosen:
            (parked / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(parked / name, ignore_errors=True)
            os.replace(samples / name, parked / name)
            _drop_if_empty(samples / name, samples)
    for name in sorted(chosen):
        if (parked / name).is_dir() and not (samples / name).exists():
            (samples / name).parent.mkdir(parents=True, exist_ok=True)
            os.replace(parked / name, samples / name)
            _drop_if_empty(parked / name, parked)


def _set_folders(samples: Path) -> list[str]:
    """The set names of the folders under ``samples`` (one or two levels deep)."""
    names = []
    for folder in sorted(samples.iterdir()) if samples.is_dir() else []:
        if not folder.is_dir():
            continue
        if parse_set_name(folder.name) is not None:
            names.append(folder.name)
            continue
        names += [f"{folder.name}/{f.name}" for f in sorted(folder.iterdir()) if f.is_dir()]
    return names


def _drop_if_empty(moved: Path, root: Path) -> None:
    """Remove the generator folder a set was moved out of, once it holds nothing."""
    parent = moved.parent
    if parent != root and parent.is_dir() and not any(parent.iterdir()):
        parent.rmdir()
