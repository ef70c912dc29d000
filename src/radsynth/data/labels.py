"""Per-image labels at ingest: from a CSV table or from each image's parent folder name.

A label is any categorical value an image carries: a finding (NORMAL / PNEUMONIA), a sex, an
age bin. ``--labels FILE.csv`` reads a table whose first column is the key (a source path
relative to SRC, or a bare file name) and whose other columns are labels; ``--label-from-folder``
takes the name of the folder holding each image (``train/NORMAL/IM-0115-0001.png`` -> ``NORMAL``)
as the column ``label``. Labels go into manifest.csv beside each image; training conditions on
them (``radsynth train --condition-on``) and the utility benchmark predicts them.

Every kept image must have a non-empty value in every label column, and every column must hold
at least two classes; otherwise ingest refuses with one line and writes nothing.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from radsynth.errors import RadsynthError

#: The column that ``--label-from-folder`` fills.
FOLDER_COLUMN = "label"


@dataclass(frozen=True)
class LabelTable:
    """Labels read from a CSV: the label columns, and key -> one value per column."""

    columns: tuple[str, ...]  # label column names, in file order
    by_key: dict[str, tuple[str, ...]]  # source path or file name -> values


def read_label_table(path: Path, reserved: Sequence[str] = ()) -> LabelTable:
    """Read ``--labels FILE.csv``: first column the key, the others label columns.

    Args:
        path: the CSV file (UTF-8, a header row).
        reserved: manifest column names a label column may not take.

    Raises:
        RadsynthError: unreadable file, no label column, a label column named like a manifest
            column, or a key listed twice with different labels (one line each).
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except FileNotFoundError:
        raise RadsynthError(f"labels file not found: {path}") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise RadsynthError(f"cannot read labels file {path}: {exc}".splitlines()[0]) from None
    if not rows or len(rows[0]) < 2:
        raise RadsynthError(f"{path} needs a header with a key column and a label column")
    columns = tuple(c.strip() for c in rows[0][1:])
    clash = sorted(set(columns) & set(reserved))
    if clash or "" in columns or len(set(columns)) < len(columns):
        raise RadsynthError(f"{path}: label columns must be unique, named, not {clash or '...'}")
    by_key: dict[str, tuple[str, ...]] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not row or not row[0].strip():
            continue
        values = tuple(v.strip() for v in row[1:]) + ("",) * (len(columns) - len(row) + 1)
        key = row[0].strip().replace("\\", "/")
        if by_key.get(key, values) != values:
            raise RadsynthError(f"{path} line {line}: {key!r} is listed with other labels")
        by_key[key] = values[: len(columns)]
    return LabelTable(columns, by_key)


def lookup(table: LabelTable, source_path: str) -> tuple[str, ...] | None:
    """The labels of an image by its source path relative to SRC, else by its file name."""
    found = table.by_key.get(source_path)
    return found if found is not None else table.by_key.get(PurePosixPath(source_path).name)


def folder_label(source_path: str) -> str:
    """The name of the folder holding the image (empty for a file directly in SRC)."""
    parent = PurePosixPath(source_path).parent.name
    return parent


def check_labels(columns: Sequence[str], values: Sequence[Sequence[str]], paths: Sequence[str]):
    """Refuse empty labels and single-class columns.

    Args:
        columns: label column names.
        values: per kept image, one value per column.
        paths: per kept image, its source path (for the message).

    Raises:
        RadsynthError: naming the column and the first images without a label, or the column
            with a single class.
    """
    for j, column in enumerate(columns):
        empty = [p for p, v in zip(paths, values, strict=True) if not v[j]]
        if empty:
            raise RadsynthError(
                f"label column {column!r} is empty for {len(empty)} of {len(paths)} images "
                f"(e.g. {', '.join(empty[:3])})"
            )
        classes = sorted({v[j] for v in values})
        if len(classes) < 2:
            raise RadsynthError(
                f"label column {column!r} has a single class ({classes[0]!r}); "
                "a label needs at least two"
            )


def stratum_of(values: Sequence[str]) -> str:
    """One string for a joint class, e.g. ('PNEUMONIA', 'F') -> 'PNEUMONIA|F'."""
    return "|".join(values)
