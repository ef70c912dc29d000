"""The resumable results table the sampler sweep writes (``sweep.csv``; the checkpoint sweep's
``fid.csv`` is a record, :mod:`radsynth.records.curves`).

One row per evaluated item (a checkpoint, or a sampler setting), written atomically after each
row, so an interrupted sweep keeps every finished row; rerunning the same config reuses those
rows and evaluates only the missing ones. Rows are held as the strings the file holds, so a
resumed sweep computes from exactly the values an uninterrupted one wrote.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from radsynth.io import read_csv_rows
from radsynth.records._csv import write_csv

Row = dict[str, str]


def full_precision(value: Any) -> str:
    """A cell as Python writes it (floats round-trip exactly); None is empty."""
    return "" if value is None else str(value)


def six_digits(value: Any) -> str:
    """A cell with floats to 6 significant digits; None is empty."""
    if isinstance(value, float):
        return f"{value:.6g}"
    return full_precision(value)


@dataclass
class Table:
    """A CSV results table that is rewritten after each added row.

    Attributes:
        path: the CSV file.
        columns: its header; cells a row lacks are written empty.
        key: the identity of a row (which item it evaluated).
        order: the sort key rows are written in.
        cell: how a value becomes a cell (:func:`full_precision` or :func:`six_digits`).
        rows: the finished rows, as strings.
    """

    path: Path
    columns: Sequence[str]
    key: Callable[[Row], Hashable]
    order: Callable[[Row], Any]
    cell: Callable[[Any], str] = full_precision
    rows: list[Row] = field(default_factory=list)

    def find(self, key: Hashable) -> Row | None:
        """The finished row with this key, or None."""
        return next((r for r in self.rows if self.key(r) == key), None)

    def add(self, values: dict[str, Any]) -> Row:
        """Add one row (values are formatted into cells), write the table, return the row."""
        row = {k: self.cell(v) for k, v in values.items()}
        self.rows.append(row)
        self.write()
        return row

    def write(self) -> None:
        rows = sorted(self.rows, key=self.order)
        write_csv(self.path, self.columns, rows, ignore_extra=True)


def open_table(
    path: Path,
    columns: Sequence[str],
    key: Callable[[Row], Hashable],
    order: Callable[[Row], Any],
    cell: Callable[[Any], str] = full_precision,
    what: str = "results table",
) -> Table:
    """The table at ``path`` with the finished rows an earlier run of the same config wrote
    (rows without an ``fid`` value are unfinished and dropped); empty when there is no file.

    Raises:
        RadsynthError: the file exists but cannot be read as CSV (one line).
    """
    rows = read_csv_rows(path, what) if path.is_file() else []
    return Table(path, columns, key, order, cell, [r for r in rows if r.get("fid")])
