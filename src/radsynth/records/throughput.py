"""``train/throughput.csv``: how fast a run trained, one row per checkpoint.

Each row covers the training steps since the previous checkpoint (saving and validation time
left out): images/s, the model FLOP/s they mean, MFU (Chowdhery et al. 2022, PaLM, appendix B:
achieved model FLOP/s over the devices' peak; empty where the peak is unknown) and the run's
peak memory so far, with the counter that measured it (``cuda_max_allocated``: torch's tensors
on the GPU; ``cpu_peak_rss``: the whole process's peak resident set). Any generator's training
loop can write it (:func:`radsynth.hardware.figures.peak_memory` measures the memory).

Runs from before this file have none; :func:`read_throughput` gives them no rows, and their
``losses.csv`` is unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from radsynth.io import read_csv_rows
from radsynth.records._csv import cell_float, cell_int, write_csv

THROUGHPUT_COLUMNS = (
    "step",
    "images_per_s",
    "train_tflops",
    "mfu",
    "peak_memory_gib",
    "peak_memory_source",
    "device",
)


@dataclass(frozen=True)
class ThroughputRow:
    """Training speed over the steps up to ``step`` since the previous row."""

    step: int  # optimizer steps done
    images_per_s: float  # training images per second, all devices together
    train_tflops: float  # achieved model TFLOP/s (forward + backward, counted)
    mfu: float  # fraction 0-1 of the devices' peak; NaN where the peak is unknown
    peak_memory_gib: float  # the run's peak memory so far, GiB
    peak_memory_source: str  # "cuda_max_allocated" or "cpu_peak_rss"
    device: str  # the device's name (GPU model, or CPU model and cores), x devices


def _cell(value: object) -> object:
    return "" if isinstance(value, float) and math.isnan(value) else value


def write_throughput(path: Path, rows: Iterable[ThroughputRow]) -> Path:
    """Write ``throughput.csv`` by step, atomically (an unknown MFU is an empty cell)."""
    cells = [{k: _cell(v) for k, v in asdict(r).items()} for r in sorted(rows, key=_step)]
    return write_csv(path, THROUGHPUT_COLUMNS, cells)


def _step(row: ThroughputRow) -> int:
    return row.step


def read_throughput(path: Path) -> list[ThroughputRow]:
    """The rows of ``throughput.csv`` by step; empty when the file does not exist (a run from
    before the file).

    Raises:
        RadsynthError: a missing column or a cell that is not a number (one line).
    """
    if not path.is_file():
        return []
    out = []
    for i, r in enumerate(read_csv_rows(path, "throughput table", THROUGHPUT_COLUMNS), 2):
        where = f"{path} line {i}"
        numbers = ("images_per_s", "train_tflops", "mfu", "peak_memory_gib")
        out.append(
            ThroughputRow(
                step=cell_int(r["step"], where),
                **{k: cell_float(r[k], where, empty_nan=True) for k in numbers},
                peak_memory_source=r["peak_memory_source"],
                device=r["device"],
            )
        )
    return sorted(out, key=_step)
