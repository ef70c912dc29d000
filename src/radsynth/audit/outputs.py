"""The audit's tables, pair sheets and HTML page."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from radsynth.audit.matchers import Match
from radsynth.audit.sheets import pair_sheet, pairs_html
from radsynth.stage import atomic_write_text

PAIR_COLUMNS = ("rank", "synthetic", "train", "similarity", "percentile", "flagged", "mirrored")


def write_csv(path: Path, columns, rows) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def write_pairs(out: Path, top_k: int, synth: list[Path], names: list[str], train: list[Path],
                train_names: list[str], syn: Match, percentile: np.ndarray, flagged: np.ndarray,
                note: str) -> list[dict]:  # fmt: skip
    """neighbours.csv (every synthetic image), pairs.csv (the ``top_k`` closest, ties by name),
    a sheet per listed pair and pairs.html. Returns the listed rows."""
    rows = [
        {
            "synthetic": names[i],
            "train": train_names[syn.index[i]],
            "similarity": f"{syn.score[i]:.6f}",
            "percentile": f"{percentile[i]:.2f}",
            "flagged": int(flagged[i]),
            "mirrored": int(syn.mirrored[i]),
        }
        for i in range(len(synth))
    ]
    write_csv(out / "neighbours.csv", PAIR_COLUMNS[1:], rows)
    order = sorted(range(len(rows)), key=lambda i: (-float(syn.score[i]), names[i]))[:top_k]
    top = [{"rank": r + 1, **rows[i]} for r, i in enumerate(order)]
    write_csv(out / "pairs.csv", PAIR_COLUMNS, top)
    sheet_names = []
    for row, i in zip(top, order, strict=True):
        name = f"sheets/pair-{row['rank']:04d}.png"
        caption = f"#{row['rank']} score {row['similarity']} pct {row['percentile']}"
        pair_sheet(synth[i], train[syn.index[i]], caption, out / name, bool(syn.mirrored[i]))
        sheet_names.append(name)
    pairs_html(top, sheet_names, out / "pairs.html", note)
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
