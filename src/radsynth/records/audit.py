"""The memorization audit's tables: ``audit/neighbours.csv`` (every audited image's nearest
training image) and ``audit/pairs.csv`` (the closest pairs, ranked). Written by the audit; read
by the report, the release and the utility benchmark.

The ``percentile`` column is 0-100: where the pair's similarity falls among the held-out real
images' nearest-neighbour similarities (:mod:`radsynth.records` states the one unit).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from radsynth.io import read_csv_rows
from radsynth.records._csv import cell_flag, cell_float, cell_in_range, cell_int, write_csv

NEIGHBOUR_COLUMNS = ("synthetic", "train", "similarity", "percentile", "flagged", "mirrored")
PAIR_COLUMNS = ("rank", *NEIGHBOUR_COLUMNS)


@dataclass(frozen=True)
class NeighbourRow:
    """One synthetic image and its nearest training image."""

    synthetic: str  # relative to the audited folder (the audit's config.json ``synthetic``)
    train: str  # relative to the training folder (its config.json ``train``)
    similarity: float  # the copy detector's score (cosine similarity; higher = closer)
    percentile: float  # 0-100, among held-out real images' nearest-neighbour similarities
    flagged: bool  # a memorization candidate (percentile >= the audit's flag_percentile)
    mirrored: bool  # the match is with the mirrored training image
    rank: int | None = None  # 1 = most similar; set in pairs.csv only


def row_cells(r: NeighbourRow) -> dict[str, object]:
    """The row's cells as the files hold them (similarity 6 decimals, percentile 2)."""
    return {
        "rank": r.rank,
        "synthetic": r.synthetic,
        "train": r.train,
        "similarity": f"{r.similarity:.6f}",
        "percentile": f"{r.percentile:.2f}",
        "flagged": int(r.flagged),
        "mirrored": int(r.mirrored),
    }


def write_neighbours(path: Path, rows: Iterable[NeighbourRow], *, ranked: bool = False) -> Path:
    """Write neighbours.csv (``ranked`` False) or pairs.csv (True, with the rank column)."""
    columns = PAIR_COLUMNS if ranked else NEIGHBOUR_COLUMNS
    return write_csv(path, columns, [{c: row_cells(r)[c] for c in columns} for r in rows])


def _read(path: Path, what: str, ranked: bool) -> list[NeighbourRow]:
    required = PAIR_COLUMNS if ranked else NEIGHBOUR_COLUMNS
    rows = read_csv_rows(path, what, required[:-1])  # files from before `mirrored` lack it
    out = []
    for i, r in enumerate(rows, 2):
        where = f"{path} line {i}"
        out.append(
            NeighbourRow(
                synthetic=r["synthetic"],
                train=r["train"],
                similarity=cell_float(r["similarity"], where),
                percentile=cell_in_range(r["percentile"], where, 0, 100, "a percentile is 0-100"),
                flagged=cell_flag(r["flagged"], where),
                mirrored=cell_flag(r.get("mirrored") or "0", where),
                rank=cell_int(r["rank"], where) if ranked else None,
            )
        )
    return out


def read_neighbours(path: Path) -> list[NeighbourRow]:
    """Every audited image's row of ``neighbours.csv``."""
    return _read(path, "audit neighbours", ranked=False)


def read_pairs(path: Path) -> list[NeighbourRow]:
    """The ranked rows of ``pairs.csv``, most similar first."""
    return sorted(_read(path, "audit pairs", ranked=True), key=lambda r: r.rank or 0)
