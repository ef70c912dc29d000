"""``data/manifest.csv``: one row per image ingest kept, linking it back to its source (written
by ingest; read by training, class conditioning, the leak checks, the audit, the utility
benchmark, the reader study and the release).

The fixed columns come first, in :data:`MANIFEST_COLUMNS` order; the label columns (ingest's
``--labels`` or ``--label-from-folder``) follow in the order ingest wrote them. A reader names
the columns it needs (``required``) and gets a one-line error naming the first one missing; a
fixed column the file lacks (a hand-made manifest of ``image,split`` only) takes its default.
Numbers are written as Python writes them (``str``), so a row read back and written again is
the same text.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from radsynth.errors import RadsynthError
from radsynth.io import read_csv_rows, read_text
from radsynth.records._csv import cell_flag, cell_float, cell_int, write_csv

MANIFEST_COLUMNS = (
    "image",
    "split",
    "source_path",
    "source_sha256",
    "pixel_sha256",
    "orig_width",
    "orig_height",
    "bit_depth",
    "inverted",
    "polarity_confidence",
    "group",
    "polarity_score",
    "format",
    "monochrome1",
    "polarity_source",
    "rotated_deg",
    "rotation_confidence",
    "mirrored",
)
_INTS = ("orig_width", "orig_height", "bit_depth", "rotated_deg")
_FLOATS = ("polarity_confidence", "polarity_score", "rotation_confidence")
_FLAGS = ("inverted", "monochrome1", "mirrored")


@dataclass(frozen=True)
class ManifestRow:
    """One ingested image."""

    image: str  # path relative to the ingest folder, e.g. train/000012.png
    split: str = ""  # train | val | test (empty in a manifest without the column)
    source_path: str = ""  # path relative to the ingested source folder
    source_sha256: str = ""  # sha256 of the source file's bytes
    pixel_sha256: str = ""  # sha256 of the decoded pixels (shape + 16-bit values); dedupe key
    orig_width: int = 0  # source width in pixels
    orig_height: int = 0  # source height in pixels
    bit_depth: int = 0  # source bit depth (BitsStored for DICOM)
    inverted: bool = False  # the film checks inverted a negative scan (never for a DICOM)
    polarity_confidence: float = math.nan  # calibrated probability of the polarity decision
    group: str = ""  # patient id from ingest's --group-by, or empty
    polarity_score: float = math.nan  # hand-made cue, > 0 for a positive film
    format: str = ""  # png | jpeg | tiff | dicom
    monochrome1: bool = False  # a DICOM MONOCHROME1 source was inverted by its header
    polarity_source: str = ""  # header | shipped[+collection] | collection | cue | reviewer
    rotated_deg: int = 0  # counter-clockwise rotation ingest applied to make the film upright
    rotation_confidence: float = math.nan  # calibrated probability of the rotation decision
    mirrored: bool = False  # a reviewer decided the film is stored mirrored (flipped back)
    # Label column -> value (empty when the image has none), in the file's column order.
    labels: Mapping[str, str] = field(default_factory=dict)

    def value(self, column: str) -> str:
        """The text of one column: a label, or a fixed column as the file holds it (a column
        the file lacks is a KeyError: name it in :func:`read_manifest`'s ``required``)."""
        if column in self.labels:
            return self.labels[column]
        return str(_cells(self)[column])


def _cells(r: ManifestRow) -> dict[str, object]:
    """The fixed columns' cells as manifest.csv holds them (flags 0/1, numbers as ``str``, a
    missing number empty)."""
    cells: dict[str, object] = {c: getattr(r, c) for c in MANIFEST_COLUMNS}
    for c in _FLAGS:
        cells[c] = int(cells[c])
    for c in _FLOATS:
        cells[c] = "" if math.isnan(cells[c]) else cells[c]
    return cells


def write_manifest(path: Path, rows: Iterable[ManifestRow], label_columns: Sequence[str]) -> Path:
    """Write ``manifest.csv``: the fixed columns, then ``label_columns``, atomically.

    Raises:
        RadsynthError: a label column that is also a fixed column (one line).
    """
    clash = [c for c in label_columns if c in MANIFEST_COLUMNS]
    if clash:
        raise RadsynthError(f"label column {clash[0]!r} is a manifest column; rename it")
    columns = (*MANIFEST_COLUMNS, *label_columns)
    cells = [{**_cells(r), **{c: r.labels.get(c, "") for c in label_columns}} for r in rows]
    return write_csv(path, columns, cells)


def _row(r: dict[str, str], where: str) -> ManifestRow:
    given: dict[str, object] = {}
    for c in MANIFEST_COLUMNS:
        if c not in r:
            continue
        if c in _INTS:
            given[c] = cell_int(r[c], where)
        elif c in _FLOATS:
            given[c] = cell_float(r[c], where, empty_nan=True)
        elif c in _FLAGS:
            given[c] = cell_flag(r[c], where)
        else:
            given[c] = r[c]
    labels = {c: v for c, v in r.items() if c not in MANIFEST_COLUMNS}
    return ManifestRow(**given, labels=labels)


def read_manifest(
    path: Path, required: Sequence[str] = ("image",), hint: str = ""
) -> list[ManifestRow]:
    """The rows of an ingest ``manifest.csv``, in file order.

    Args:
        path: the manifest.
        required: columns (fixed or label) the caller needs; ``image`` always is.
        hint: what to do about a missing label column, appended to the error.

    Raises:
        RadsynthError: missing, not UTF-8 CSV, a required column missing (naming it and the
            columns the file has), or a number, flag or field count that is wrong (one line).
    """
    path = Path(path)
    need = list(dict.fromkeys(("image", *required)))
    rows = read_csv_rows(path, "ingest manifest")
    header = list(rows[0]) if rows else _header(path)
    missing = [c for c in need if c not in header]
    if missing:
        have = ", ".join(header) or "none"
        fixed = missing[0] in MANIFEST_COLUMNS
        kind, more = ("column", "") if fixed else ("label column", f"; {hint}" if hint else "")
        raise RadsynthError(
            f"ingest manifest {path} has no {kind} {missing[0]!r} (columns: {have}){more}"
        )
    return [_row(r, f"{path} line {i}") for i, r in enumerate(rows, 2)]


def _header(path: Path) -> list[str]:
    """The header of a manifest with no data rows (empty for an empty file)."""
    return next(csv.reader(io.StringIO(read_text(path, "ingest manifest"))), [])
