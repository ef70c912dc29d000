"""``compare/generators.csv``: image quality of each generator's synthetic set against the real
test split, at matched N (``radsynth compare-generators``; read by the report).

One row per (set, class), the class ``all`` first. Every set is scored on the same number of
images per class, ``n``, so that FID's small-N bias is the same for every generator. KID is a
distance (0: same distribution) with its bootstrap 95% CI; precision and recall are fractions
0-1. A missing value (precision/recall need more than k images) is an empty cell and NaN here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from radsynth.io import read_csv_rows
from radsynth.records._csv import cell_float, cell_int, write_csv

#: The class of the row over every image.
ALL = "all"

GENERATOR_COLUMNS = (
    "set",
    "generator",
    "class",
    "n",
    "n_real",
    "n_synthetic",
    "fid",
    "kid",
    "kid_low",
    "kid_high",
    "kid_std",
    "precision",
    "recall",
    "diversity",
    "feature",
)
_NUMBERS = ("fid", "kid", "kid_low", "kid_high", "kid_std", "precision", "recall", "diversity")


@dataclass(frozen=True)
class GeneratorRow:
    """One synthetic set's scores for one class (or ``all``) at matched N."""

    set: str  # the set's name, e.g. gan/step-0000400 (step-NNNNNNN with one generator)
    generator: str  # the generator part of the name ("" without one)
    cls: str  # the class, or "all"
    n: int  # images per side scored (matched: the same for every set of this class)
    n_real: int  # real images of this class available
    n_synthetic: int  # synthetic images of this class available in the set
    fid: float  # Fréchet distance (Heusel et al. 2017) at n; lower is better
    kid: float  # KID (Bińkowski et al. 2018) at n, mean over subsets; lower is better
    kid_low: float  # bootstrap 95% percentile interval of KID
    kid_high: float
    kid_std: float  # KID's std over subsets (0 when every subset is the whole set)
    precision: float  # fraction 0-1 (Kynkäänniemi et al. 2019, k = 3); NaN when n <= k
    recall: float  # fraction 0-1; NaN when n <= k
    diversity: float  # synthetic / real mean pairwise feature distance (1: as diverse)
    feature: str  # the feature space's identity (network and preprocessing)

    def cells(self) -> dict[str, object]:
        """The row by column: numbers to 6 significant digits, NaN as an empty cell."""
        values = asdict(self)
        values["class"] = values.pop("cls")
        for key in _NUMBERS:
            v = values[key]
            values[key] = "" if v is None or math.isnan(v) else f"{v:.6g}"
        return values


def write_generators(path: Path, rows: Iterable[GeneratorRow]) -> Path:
    """Write generators.csv atomically, rows in the order given."""
    return write_csv(path, GENERATOR_COLUMNS, [r.cells() for r in rows])


def read_generators(path: Path) -> list[GeneratorRow]:
    """The rows of generators.csv, in file order.

    Raises:
        RadsynthError: a missing file or column, or a cell that is not a number (one line).
    """
    out = []
    for i, r in enumerate(read_csv_rows(path, "generator comparison", GENERATOR_COLUMNS), 2):
        where = f"{path} line {i}"
        out.append(
            GeneratorRow(
                set=r["set"],
                generator=r["generator"],
                cls=r["class"],
                n=cell_int(r["n"], where),
                n_real=cell_int(r["n_real"], where),
                n_synthetic=cell_int(r["n_synthetic"], where),
                feature=r["feature"],
                **{k: cell_float(r[k], where, empty_nan=True) for k in _NUMBERS},
            )
        )
    return out
