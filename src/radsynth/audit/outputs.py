"""The audit's tables, pair sheets and HTML page.

``neighbours.csv`` and ``pairs.csv`` are written through :mod:`radsynth.records.audit`, the
definition their readers (report, release, utility, benchmark) use too.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from radsynth.audit.matchers import Match
from radsynth.audit.sheets import pair_sheet, pairs_html
from radsynth.records._csv import write_csv
from radsynth.records.audit import NeighbourRow, row_cells, write_neighbours


def write_pairs(
    out: Path,
    top_k: int,
    synth: list[Path],
    names: list[str],
    train: list[Path],
    train_names: list[str],
    syn: Match,
    percentile: np.ndarray,
    flagged: np.ndarray,
    note: str,
) -> list[NeighbourRow]:
    """neighbours.csv (every synthetic image), pairs.csv (the ``top_k`` closest, ties by name),
    a sheet per listed pair and pairs.html. Returns the listed rows, ranked from 1."""
    rows = [
        NeighbourRow(
            synthetic=names[i],
            train=train_names[syn.index[i]],
            similarity=float(syn.score[i]),
            percentile=float(percentile[i]),
            flagged=bool(flagged[i]),
            mirrored=bool(syn.mirrored[i]),
        )
        for i in range(len(synth))
    ]
    write_neighbours(out / "neighbours.csv", rows)
    order = sorted(range(len(rows)), key=lambda i: (-float(syn.score[i]), names[i]))[:top_k]
    top = [replace(rows[i], rank=r + 1) for r, i in enumerate(order)]
    write_neighbours(out / "pairs.csv", top, ranked=True)
    cells = [row_cells(row) for row in top]
    sheet_names = []
    for row, cell, i in zip(top, cells, order, strict=True):
        name = f"sheets/pair-{row.rank:04d}.png"
        caption = f"#{row.rank} score {cell['similarity']} pct {cell['percentile']}"
        pair_sheet(synth[i], train[syn.index[i]], caption, out / name, row.mirrored)
        sheet_names.append(name)
    pairs_html(cells, sheet_names, out / "pairs.html", note)
    return top


def write_duplicates(path: Path, groups: list[list[int]], names: list[str], within: Match) -> None:
    """synthetic_duplicates.csv: one row per member of each near-duplicate group."""
    rows = [
        {
            "group": g + 1,
            "synthetic": names[i],
            "nearest_other": names[within.index[i]],
            "similarity": f"{within.score[i]:.6f}",
            "mirrored": int(within.mirrored[i]),
        }
        for g, members in enumerate(groups)
        for i in members
    ]
    write_csv(path, ("group", "synthetic", "nearest_other", "similarity", "mirrored"), rows)
