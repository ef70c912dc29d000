"""The curves a run is judged by: loss per training step and FID per checkpoint.

``train/losses.csv`` (written by train, read by the checkpoint choice and the report) and
``fid_sweep/fid.csv`` (written by the checkpoint sweep, read by the same two).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from radsynth.io import read_csv_rows
from radsynth.records._csv import cell_float, cell_int, write_csv

LOSS_COLUMNS = ("step", "train_loss", "val_loss")
FID_COLUMNS = ("step", "checkpoint", "n_real", "n_fake", "fid", "kid_mean", "kid_std",
               "precision", "recall")  # fmt: skip


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


def write_losses(path: Path, rows: Iterable[LossRow]) -> Path:
    """Write ``losses.csv`` (6 significant digits), atomically."""
    text_rows = [{"step": r.step, "train_loss": f"{r.train_loss:.6g}",
                  "val_loss": f"{r.val_loss:.6g}"} for r in rows]  # fmt: skip
    return write_csv(path, LOSS_COLUMNS, text_rows)


def read_losses(path: Path) -> list[LossRow]:
    """The rows of ``losses.csv``, by step; empty when the file does not exist."""
    if not path.is_file():
        return []
    rows = read_csv_rows(path, "loss history", LOSS_COLUMNS)
    out = []
    for i, r in enumerate(rows, 2):
        where = f"{path} line {i}"
        out.append(LossRow(cell_int(r["step"], where), cell_float(r["train_loss"], where),
                           cell_float(r["val_loss"], where, empty_nan=True)))  # fmt: skip
    return sorted(out, key=lambda r: r.step)


def write_fid(path: Path, rows: Iterable[FidRow]) -> Path:
    """Write ``fid.csv``, atomically."""
    return write_csv(path, FID_COLUMNS, [{c: getattr(r, c) for c in FID_COLUMNS} for r in rows])


def read_fid(path: Path) -> list[FidRow]:
    """The rows of ``fid.csv``, by step; empty when the file does not exist."""
    if not path.is_file():
        return []
    rows = read_csv_rows(path, "FID table", FID_COLUMNS)
    out = []
    for i, r in enumerate(rows, 2):
        where = f"{path} line {i}"
        num = {c: cell_float(r[c], where, empty_nan=True) for c in FID_COLUMNS[4:]}
        out.append(FidRow(step=cell_int(r["step"], where), checkpoint=r["checkpoint"],
                          n_real=cell_int(r["n_real"], where), n_fake=cell_int(r["n_fake"], where),
                          **num))  # fmt: skip
    return sorted(out, key=lambda r: r.step)
