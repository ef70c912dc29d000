"""The curves a run is judged by: loss per training step and FID per checkpoint.

``train/losses.csv`` (written by train, read by the checkpoint choice and the report) and
``fid_sweep/fid.csv`` (written by the checkpoint sweep, read by the checkpoint choice, the report
and a release's card).

A missing value (precision and recall need more than k images per set) is NaN in the record
and an empty cell in the file; numbers are written as Python writes them (``str``), so a float
read back and written again is the same text and a resumed sweep's file is byte-identical.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from radsynth.errors import RadsynthError
from radsynth.io import read_csv_rows
from radsynth.records._csv import cell_float, cell_int, write_csv

LOSS_COLUMNS = ("step", "train_loss", "val_loss")
#: The scores of one synthetic set against the real set, in every table that holds them
#: (fid.csv, ema_sweep.csv, the sampler sweep's sweep.csv).
SCORE_COLUMNS = ("n_real", "n_fake", "fid", "kid_mean", "kid_std", "precision", "recall")
FID_COLUMNS = ("step", "checkpoint", *SCORE_COLUMNS, "diversity", "collapse")
#: Columns a fid.csv from before the collapse flag lacks; it reads with NaN and "" there.
FID_LATER_COLUMNS = ("diversity", "collapse")
FID_EXTRA_METRICS = ("fid", "kid_mean", "kid_std")  # per extra feature space: fid_<space>, ...


@dataclass(frozen=True)
class LossRow:
    """Mean losses at one logged training step (MSE of the prediction target)."""

    step: int  # optimizer steps done
    train_loss: float  # mean training loss since the previous row
    val_loss: float  # validation loss; NaN where validation did not run


@dataclass(frozen=True)
class FidRow:
    """One checkpoint's scores against the real reference set."""

    step: int  # the checkpoint's optimizer step
    checkpoint: str  # the checkpoint folder
    n_real: int  # real images scored
    n_fake: int  # synthetic images scored
    fid: float  # Fréchet distance (Heusel et al. 2017); lower is better
    kid_mean: float  # kernel inception distance (Bińkowski et al. 2018), mean over subsets
    kid_std: float  # its standard deviation over subsets
    precision: float  # fraction 0-1 (Kynkäänniemi et al. 2019)
    recall: float  # fraction 0-1
    # Each extra feature space's scores, by column (``fid_<space>``, ``kid_mean_<space>``,
    # ``kid_std_<space>``), in the order the sweep scored them.
    extra: Mapping[str, float] = field(default_factory=dict)
    diversity: float = math.nan  # mean pairwise feature distance, synthetic over real
    collapse: str = ""  # why the checkpoint looks collapsed (evaluation.collapse); "" when not


def write_losses(path: Path, rows: Iterable[LossRow]) -> Path:
    """Write ``losses.csv`` (6 significant digits), atomically."""
    text_rows = [
        {"step": r.step, "train_loss": f"{r.train_loss:.6g}", "val_loss": f"{r.val_loss:.6g}"}
        for r in rows
    ]
    return write_csv(path, LOSS_COLUMNS, text_rows)


def read_losses(path: Path) -> list[LossRow]:
    """The rows of ``losses.csv``, by step; empty when the file does not exist."""
    if not path.is_file():
        return []
    rows = read_csv_rows(path, "loss history", LOSS_COLUMNS)
    out = []
    for i, r in enumerate(rows, 2):
        where = f"{path} line {i}"
        out.append(
            LossRow(
                cell_int(r["step"], where),
                cell_float(r["train_loss"], where),
                cell_float(r["val_loss"], where, empty_nan=True),
            )
        )
    return sorted(out, key=lambda r: r.step)


def fid_columns(rows: Iterable[FidRow]) -> list[str]:
    """The columns of ``fid.csv``: :data:`FID_COLUMNS`, then the extra columns in first-seen
    order."""
    extra = dict.fromkeys(k for r in rows for k in r.extra)
    return [*FID_COLUMNS, *extra]


def _cell(value: object) -> str:
    if isinstance(value, float) and math.isnan(value):
        return ""
    return str(value)


def write_fid(path: Path, rows: Iterable[FidRow]) -> Path:
    """Write ``fid.csv`` by step, atomically (a missing value is an empty cell)."""
    rows = sorted(rows, key=lambda r: r.step)
    columns = fid_columns(rows)
    cells = [
        {c: _cell(getattr(r, c) if c in FID_COLUMNS else r.extra.get(c, math.nan)) for c in columns}
        for r in rows
    ]
    return write_csv(path, columns, cells)


def _extra_columns(path: Path, columns: Iterable[str]) -> list[str]:
    extra = [c for c in columns if c not in FID_COLUMNS]
    known = tuple(f"{k}_" for k in FID_EXTRA_METRICS)
    for c in extra:
        if not c.startswith(known):
            raise RadsynthError(
                f"{path}: unknown column {c!r} (fid.csv holds {', '.join(FID_COLUMNS)} "
                "and fid_/kid_mean_/kid_std_<space> per extra feature space)"
            )
    return extra


def read_fid(path: Path) -> list[FidRow]:
    """The rows of ``fid.csv``, by step; empty when the file does not exist.

    Raises:
        RadsynthError: a missing or unknown column, or a cell that is not a number (one line).
    """
    if not path.is_file():
        return []
    required = [c for c in FID_COLUMNS if c not in FID_LATER_COLUMNS]
    rows = read_csv_rows(path, "FID table", required)
    extra = _extra_columns(path, rows[0] if rows else ())
    out = []
    for i, r in enumerate(rows, 2):
        where = f"{path} line {i}"
        num = {c: cell_float(r.get(c, ""), where, empty_nan=True) for c in FID_COLUMNS[4:-1]}
        more = {c: cell_float(r[c], where, empty_nan=True) for c in extra}
        out.append(
            FidRow(
                step=cell_int(r["step"], where),
                checkpoint=r["checkpoint"],
                n_real=cell_int(r["n_real"], where),
                n_fake=cell_int(r["n_fake"], where),
                **num,
                extra=more,
                collapse=r.get("collapse", ""),
            )
        )
    return sorted(out, key=lambda r: r.step)
