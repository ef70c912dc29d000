"""``ema_sweep.csv`` and ``ema_sweep.json``: image quality against EMA length (``radsynth
ema-sweep``), one row per (checkpoint step, EMA): each reconstructed post-hoc EMA length, and the
run's classic EMA as the reference row.

A missing value (precision and recall need more than k images per set; sigma_rel, gamma and
fit error of the classic row) is NaN in the record, an empty cell in the CSV and null in the
JSON. Numbers are written as Python writes them, so a row read back and written again is the
same text and a resumed sweep's files are byte-identical.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from radsynth.errors import RadsynthError
from radsynth.io import read_csv_rows
from radsynth.records._csv import cell_float, cell_int, write_csv
from radsynth.records.curves import SCORE_COLUMNS
from radsynth.stage import atomic_write_text

EMA_COLUMNS = (
    "step",
    "ema",
    "sigma_rel",
    "gamma",
    "fit_error",
    "checkpoint",
    *SCORE_COLUMNS,
)
_NUMBERS = ("sigma_rel", "gamma", "fit_error", *SCORE_COLUMNS[2:])
EMA_KINDS = ("posthoc", "classic")


@dataclass(frozen=True)
class EmaSweepRow:
    """One EMA of one checkpoint step, scored against the real reference set."""

    step: int  # the checkpoint's optimizer step
    ema: str  # "posthoc" (reconstructed, EDM2) or "classic" (the run's own EMA)
    sigma_rel: float  # relative standard deviation of the EMA profile; NaN for classic
    gamma: float  # power-function exponent of that profile; NaN for classic
    fit_error: float  # relative L2 error of the least-squares profile fit; NaN for classic
    checkpoint: str  # the sampled checkpoint folder
    n_real: int  # real images scored
    n_fake: int  # synthetic images scored
    fid: float  # Fréchet distance (Heusel et al. 2017); lower is better
    kid_mean: float  # kernel inception distance (Bińkowski et al. 2018), mean over subsets
    kid_std: float  # its standard deviation over subsets
    precision: float  # fraction 0-1 (Kynkäänniemi et al. 2019)
    recall: float  # fraction 0-1
    # Each extra feature space's scores by column (``fid_<space>``, ``kid_mean_<space>`` ...).
    extra: Mapping[str, float] = field(default_factory=dict)

    def cells(self) -> dict[str, object]:
        """The row by column, NaN as None."""
        values: dict[str, object] = {c: getattr(self, c) for c in EMA_COLUMNS}
        values.update(self.extra)
        return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in values.items()}


def _columns(rows: list[EmaSweepRow]) -> list[str]:
    return [*EMA_COLUMNS, *dict.fromkeys(k for r in rows for k in r.extra)]


def _order(row: EmaSweepRow) -> tuple[int, int, float]:
    return row.step, EMA_KINDS.index(row.ema), row.sigma_rel if row.ema == "posthoc" else 0.0


def write_ema_sweep(csv_path: Path, json_path: Path, rows: Iterable[EmaSweepRow]) -> None:
    """Write the table as CSV and as JSON (``{"columns": [...], "rows": [{...}]}``), atomically,
    ordered by step, then posthoc rows by sigma_rel, then the classic row."""
    rows = sorted(rows, key=_order)
    columns = _columns(rows)
    cells = [r.cells() for r in rows]
    text = [{c: "" if v.get(c) is None else str(v.get(c)) for c in columns} for v in cells]
    write_csv(csv_path, columns, text)
    payload = {"columns": columns, "rows": [{c: v.get(c) for c in columns} for v in cells]}
    atomic_write_text(json_path, json.dumps(payload, indent=2) + "\n")


def read_ema_sweep(path: Path) -> list[EmaSweepRow]:
    """The rows of ``ema_sweep.csv``; empty when the file does not exist.

    Raises:
        RadsynthError: a missing column, an unknown EMA kind, or a cell that is not a number.
    """
    if not path.is_file():
        return []
    rows = read_csv_rows(path, "EMA sweep table", EMA_COLUMNS)
    out = []
    for i, r in enumerate(rows, 2):
        where = f"{path} line {i}"
        if r["ema"] not in EMA_KINDS:
            raise RadsynthError(f"{where}: ema {r['ema']!r} is not one of {', '.join(EMA_KINDS)}")
        extra = {
            c: cell_float(v, where, empty_nan=True) for c, v in r.items() if c not in EMA_COLUMNS
        }
        out.append(
            EmaSweepRow(
                step=cell_int(r["step"], where),
                ema=r["ema"],
                checkpoint=r["checkpoint"],
                n_real=cell_int(r["n_real"], where),
                n_fake=cell_int(r["n_fake"], where),
                extra=extra,
                **{c: cell_float(r[c], where, empty_nan=True) for c in _NUMBERS},
            )
        )
    return sorted(out, key=_order)
