"""Shared parts of the record readers and writers: typed cells with one-line errors."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from radsynth.errors import RadsynthError
from radsynth.stage import atomic_write_text


def csv_text(
    columns: Sequence[str], rows: Iterable[Mapping[str, object]], *, ignore_extra: bool = False
) -> str:
    """CSV text with a header line and ``\\n`` line ends: every CSV file radsynth writes.

    Cells are written as ``str`` writes them (None and a missing key: empty), quoted only where
    they hold a comma, a quote or a line break (the ``csv`` module's minimal quoting).

    Args:
        columns: the header, in order.
        rows: one mapping per row, column -> value.
        ignore_extra: leave out keys that are not columns (else they are an error).
    """
    buf = io.StringIO()
    writer = csv.DictWriter(
        buf,
        fieldnames=list(columns),
        lineterminator="\n",
        extrasaction="ignore" if ignore_extra else "raise",
    )
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def write_csv(
    path: Path,
    columns: Sequence[str],
    rows: Iterable[Mapping[str, object]],
    *,
    ignore_extra: bool = False,
) -> Path:
    """Write :func:`csv_text` to ``path`` atomically (a reader never sees half a file)."""
    atomic_write_text(path, csv_text(columns, rows, ignore_extra=ignore_extra))
    return path


def cell_float(value: str, where: str, *, empty_nan: bool = False) -> float:
    """A number cell; empty (or "nan") gives NaN when ``empty_nan``."""
    if empty_nan and value.strip().lower() in ("", "nan"):
        return math.nan
    try:
        return float(value)
    except ValueError:
        raise RadsynthError(f"{where}: {value!r} is not a number") from None


def cell_int(value: str, where: str) -> int:
    """An integer cell ("12" or "12.0")."""
    number = cell_float(value, where)
    if not number.is_integer():
        raise RadsynthError(f"{where}: {value!r} is not a whole number")
    return int(number)


def cell_flag(value: str, where: str) -> bool:
    """A 0/1 cell."""
    if value.strip() not in ("0", "1"):
        raise RadsynthError(f"{where}: {value!r} must be 0 or 1")
    return value.strip() == "1"


def cell_in_range(value: str, where: str, low: float, high: float, unit: str) -> float:
    """A number cell that must lie in [low, high] (e.g. a percentile, 0-100)."""
    number = cell_float(value, where)
    if not low <= number <= high:
        raise RadsynthError(f"{where}: {value} is outside {low:g}-{high:g} ({unit})")
    return number
