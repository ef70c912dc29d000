"""Write small, realistic reader-study exports (the study app's long format) for tests."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

COLUMNS = ["rater", "rater_kind", "item", "image_id", "group", "position", "picked", "rating",
           "answer", "finding", "cue", "started_at", "answered_at", "seconds"]  # fmt: skip
GROUPS = ["real", "step-0001000", "step-0002000", "step-0003000"]


def quartet_rows(
    n_raters: int = 8, n_items: int = 12, seed: int = 0, kind: str = "human", p_real: float = 0.3
) -> list[dict]:
    """Rows of a quartet study: each rater sees every item's 4 images and picks one as real."""
    rng = np.random.default_rng(seed)
    rows = []
    for r in range(n_raters):
        for i in range(n_items):
            order = rng.permutation(len(GROUPS))
            pick = 0 if rng.random() < p_real else int(rng.integers(1, len(GROUPS)))
            for pos, g in enumerate(order):
                rating = int(np.clip(round(rng.normal(3.3 if g == 0 else 3.1, 0.7)), 1, 4))
                rows.append({
                    "rater": f"{kind[0]}{r + 1}", "rater_kind": kind, "item": f"q{i + 1:02d}",
                    "image_id": f"{GROUPS[g]}/{i:04d}.png", "group": GROUPS[g],
                    "position": pos, "picked": int(g == pick), "rating": rating, "answer": "",
                    "finding": "", "cue": "", "started_at": "2026-11-21T10:00:00",
                    "answered_at": "2026-11-21T10:00:09", "seconds": 9.0,
                })  # fmt: skip
    return rows


def write_export(path: Path, rows: list[dict], columns: list[str] = COLUMNS) -> Path:
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path
