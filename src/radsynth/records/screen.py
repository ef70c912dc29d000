"""``screen/screen.csv``: the plausibility screen's score of every image (written by the screen;
read by keep, the release, the review page and the screen benchmark, the first three through
:func:`radsynth.fates.records.read_screen`).

The ``p_*`` columns are conformal p-values, fractions 0-1 (not percentiles); a reader refuses a
value outside 0-1 in one line.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from radsynth.io import read_csv_rows
from radsynth.records._csv import cell_flag, cell_float, cell_in_range, write_csv

P_COLUMNS = ("p_anatomy", "p_layout", "p_novelty", "p_symmetry", "p_mirror", "p_midline")
#: Columns of screen.csv (the screen's scores; the reviewers' screen decisions have their own).
SCREEN_CSV_COLUMNS = ("image", "group", "score", "flagged", *P_COLUMNS)


@dataclass(frozen=True)
class ScreenRow:
    """One screened image."""

    image: str  # relative to the screened folder (the screen's config.json ``src``)
    group: str  # its checkpoint folder, e.g. step-0068000
    score: float  # implausibility score (higher = more implausible)
    flagged: bool  # the score is above the calibrated threshold
    # Conformal p-values (0-1) of the parts; 1 for a part that did not run (the projection-free
    # three on a small reference, the midline two with --midline off); NaN (an empty cell) in a
    # file from before the part was added.
    p_anatomy: float = 1.0
    p_layout: float = 1.0
    p_novelty: float = 1.0
    p_symmetry: float = 1.0
    p_mirror: float = 1.0  # mirror symmetry (one side mirrored onto the other)
    p_midline: float = 1.0  # midline layout (halves swapped left-right)


def row_cells(r: ScreenRow) -> dict[str, object]:
    """The row's cells as screen.csv holds them (score 6 decimals, p-values 5)."""
    cells: dict[str, object] = {
        "image": r.image,
        "group": r.group,
        "score": f"{r.score:.6f}",
        "flagged": int(r.flagged),
    }
    for c in P_COLUMNS:
        value = getattr(r, c)
        cells[c] = "" if math.isnan(value) else f"{value:.5f}"
    return cells


def write_screen(path: Path, rows: Iterable[ScreenRow]) -> Path:
    """Write ``screen.csv`` in the given order, atomically."""
    return write_csv(path, SCREEN_CSV_COLUMNS, [row_cells(r) for r in rows])


def _p_value(cell: str, where: str) -> float:
    if cell.strip().lower() in ("", "nan"):  # a part the file does not have
        return math.nan
    return cell_in_range(cell, where, 0, 1, "a p-value is a fraction 0-1")


def read_screen_rows(path: Path) -> list[ScreenRow]:
    """The rows of ``screen.csv``, in file order.

    Raises:
        RadsynthError: missing, not UTF-8 CSV, a missing column, a score that is not a number,
            a flag that is not 0/1, or a p-value outside 0-1 (one line).
    """
    rows = read_csv_rows(path, "screen table", SCREEN_CSV_COLUMNS[:4])
    out = []
    for i, r in enumerate(rows, 2):
        where = f"{path} line {i}"
        p = {c: _p_value(r.get(c, ""), where) for c in P_COLUMNS}
        out.append(
            ScreenRow(
                r["image"],
                r["group"],
                cell_float(r["score"], where),
                cell_flag(r["flagged"], where),
                **p,
            )
        )
    return out
