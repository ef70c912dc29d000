"""Reviewers' decisions on the films ingest kept out of training (``review_decisions.csv``).

``radsynth ingest`` lists films whose polarity or rotation it cannot decide confidently in
``review.csv`` (:mod:`radsynth.data.ingest_checks`) and keeps them out of the training set. On the
review page (``radsynth review --ingest DATA``) a person decides each one: keep it as read,
inverted, rotated upright, mirrored, or exclude it. The page writes the latest decision per
source file here; ``radsynth ingest --review-decisions FILE`` reads it back and brings each kept
film into the split, transformed as decided (:func:`radsynth.data.ingest_checks.apply_decision`).

A decision names its film by ``source_path`` (relative to ingest's SRC) and, when review.csv
recorded it, the source file's sha256: a file that changed since the review is not matched.
Like the review page, this module imports neither torch nor numpy.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from radsynth.errors import RadsynthError
from radsynth.io import read_csv_rows
from radsynth.records._csv import write_csv

REVIEW_DECISIONS = "review_decisions.csv"
COLUMNS = (
    "source_path",
    "source_sha256",
    "final",
    "invert",
    "rotation_deg",
    "mirror",
    "decided_by",
    "decided_at",
)
QUARTER_TURNS_DEG = (0, 90, 180, 270)

#: The page's choices: (label, invert, undo the suggested rotation, mirror); ``exclude`` aside.
Choice = Literal["as_is", "inverted", "rotated", "inverted_rotated", "mirrored", "exclude"]
CHOICES: dict[str, tuple[str, bool, bool, bool]] = {
    "as_is": ("keep as is", False, False, False),
    "inverted": ("keep inverted", True, False, False),
    "rotated": ("keep rotated upright", False, True, False),
    "inverted_rotated": ("keep inverted and rotated upright", True, True, False),
    "mirrored": ("keep mirrored", False, False, True),
    "exclude": ("exclude", False, False, False),
}


@dataclass(frozen=True)
class IngestDecision:
    """A reviewer's decision on one film of ingest's ``review.csv``."""

    source_path: str  # as review.csv names it, relative to ingest's SRC
    source_sha256: str  # sha256 of the source file's bytes; "" when review.csv had none
    final: Literal["keep", "exclude"]  # keep: back into the split; exclude: rejected.csv
    invert: bool  # invert the film as read (it is a negative)
    rotation_deg: int  # counter-clockwise rotation the film was stored with; ingest undoes it
    mirror: bool  # flip the film left-right (after the rotation)
    decided_by: str  # reviewer id
    decided_at: str  # UTC ISO time

    @property
    def choice(self) -> str:
        """The page's name for this decision (``exclude``, ``as_is``, ``inverted``, ...)."""
        if self.final == "exclude":
            return "exclude"
        key = (self.invert, self.rotation_deg != 0, self.mirror)
        names = [n for n, (_, *flags) in CHOICES.items() if n != "exclude" and tuple(flags) == key]
        return names[0] if names else "custom"


def make_decision(
    choice: str,
    source_path: str,
    source_sha256: str,
    suggested_rotation_deg: int,
    decided_by: str,
    decided_at: str,
) -> IngestDecision:
    """The decision a page choice means for a film whose suggested rotation is given.

    Raises:
        RadsynthError: for an unknown choice, or a rotation the film was not suggested to need.
    """
    if choice not in CHOICES:
        raise RadsynthError(f"decision must be one of {', '.join(CHOICES)}, got {choice!r}")
    _, invert, rotate, mirror = CHOICES[choice]
    if rotate and suggested_rotation_deg == 0:
        raise RadsynthError("this film has no suggested rotation; choose another decision")
    final: Literal["keep", "exclude"] = "exclude" if choice == "exclude" else "keep"
    rotation = suggested_rotation_deg if rotate else 0
    return IngestDecision(
        source_path, source_sha256, final, invert, rotation, mirror, decided_by, decided_at
    )


def write_ingest_decisions(folder: Path, decisions: Iterable[IngestDecision]) -> Path:
    """Write ``folder/review_decisions.csv`` atomically, sorted by source path; returns it."""
    rows = (
        dict(
            zip(
                COLUMNS,
                (
                    d.source_path,
                    d.source_sha256,
                    d.final,
                    int(d.invert),
                    d.rotation_deg,
                    int(d.mirror),
                    d.decided_by,
                    d.decided_at,
                ),
                strict=True,
            )
        )
        for d in sorted(decisions, key=lambda d: d.source_path)
    )
    return write_csv(folder / REVIEW_DECISIONS, COLUMNS, rows)


def _flag(value: str, where: str) -> bool:
    if value not in ("0", "1"):
        raise RadsynthError(f"{where}: {value!r} is not 0 or 1")
    return value == "1"


def read_ingest_decisions(path: Path) -> dict[str, IngestDecision]:
    """A ``review_decisions.csv`` keyed by source path.

    Raises:
        RadsynthError: for a missing or unreadable file, a missing column, an invalid value or
            a source path decided twice.
    """
    if not path.is_file():
        raise RadsynthError(f"review decisions file {path} is missing")
    out: dict[str, IngestDecision] = {}
    for line, row in enumerate(read_csv_rows(path, "review decisions", COLUMNS), start=2):
        where = f"{path} line {line}"
        if row["final"] not in ("keep", "exclude"):
            raise RadsynthError(f"{where}: final {row['final']!r} is not keep or exclude")
        if row["rotation_deg"] not in {str(d) for d in QUARTER_TURNS_DEG}:
            raise RadsynthError(
                f"{where}: rotation_deg {row['rotation_deg']!r} is not 0/90/180/270"
            )
        if row["source_path"] in out:
            raise RadsynthError(f"{where}: {row['source_path']!r} is decided twice")
        out[row["source_path"]] = IngestDecision(
            source_path=row["source_path"],
            source_sha256=row["source_sha256"],
            final=row["final"],  # type: ignore[arg-type]
            invert=_flag(row["invert"], where),
            rotation_deg=int(row["rotation_deg"]),
            mirror=_flag(row["mirror"], where),
            decided_by=row["decided_by"],
            decided_at=row["decided_at"],
        )
    return out
