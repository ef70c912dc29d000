"""The three review queues, read once when the page starts.

- **screen**: each image of the screen's ``screen.csv``, most implausible first, with its score
  and automatic flag (the images live in the folder the screen's ``config.json`` names);
- **audit**: each pair of the audit's ``pairs.csv`` (possible memorized copies, the flagged ones
  marked) with its contact sheet ``sheets/pair-NNNN.png``;
- **ingest**: each film of ingest's ``review.csv`` (polarity or rotation uncertain, kept out of
  training), shown as read from ``DATA/review/NNNNNN.png``, with the checks' suggested fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from radsynth import records
from radsynth.errors import RadsynthError
from radsynth.io import read_csv_rows, read_json
from radsynth.records.screen import read_screen_rows

INGEST_COLUMNS = (
    "review_image",
    "source_path",
    "reason",
    "suggested_inverted",
    "polarity_confidence",
    "suggested_rotation_deg",
    "rotation_confidence",
)


@dataclass(frozen=True)
class ScreenItem:
    image: str  # relative to the screened folder
    group: str  # checkpoint folder
    score: float  # implausibility (higher = more implausible)
    flagged: bool  # the screen excludes it unless a reviewer keeps it


@dataclass(frozen=True)
class AuditPair:
    rank: int  # 1 = most similar
    synthetic: str  # relative to the audited folder
    train: str  # its nearest training image
    similarity: float  # cosine similarity
    flagged: bool  # the audit's memorization candidate


@dataclass(frozen=True)
class IngestItem:
    review_image: str  # relative to the ingest folder, e.g. review/000003.png
    source_path: str  # relative to ingest's SRC
    source_sha256: str  # "" for a review.csv written before the column existed
    reason: str  # why the checks could not decide
    suggested_inverted: bool  # the checks' polarity guess: the film is a negative
    polarity_confidence: float
    suggested_rotation_deg: int  # counter-clockwise rotation the film seems stored with
    rotation_confidence: float


@dataclass(frozen=True)
class Queues:
    """What the page shows, and where its images are."""

    screen: tuple[ScreenItem, ...]
    screen_images: Path | None  # the folder screen.csv's image paths are relative to
    pairs: tuple[AuditPair, ...]
    audit_dir: Path | None
    ingest: tuple[IngestItem, ...]
    ingest_dir: Path | None


def _number(value: str, where: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise RadsynthError(f"{where}: {value!r} is not a number") from None


def _required(path: Path, what: str, columns: tuple[str, ...]) -> list[dict[str, str]]:
    if not path.is_file():
        raise RadsynthError(f"{what} {path} is missing")
    return read_csv_rows(path, what, columns)


def _truthy(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes")


def read_screen(folder: Path) -> tuple[list[ScreenItem], Path]:
    """``folder/screen.csv`` (most implausible first) and the folder of the screened images."""
    path = folder / "screen.csv"
    if not path.is_file():
        raise RadsynthError(f"screen output {path} is missing")
    rows = read_screen_rows(path)
    images = Path(read_json(folder / "config.json", "screen config")["src"])
    if not images.is_dir():
        raise RadsynthError(
            f"the screened images {images} (from {folder / 'config.json'}) are missing; "
            "run review from the folder the screen ran in"
        )
    items = [ScreenItem(r.image, r.group, r.score, r.flagged) for r in rows]
    return sorted(items, key=lambda i: (-i.score, i.image)), images


def read_pairs(folder: Path) -> list[AuditPair]:
    """``folder/pairs.csv`` (read through :func:`radsynth.records.read_pairs`), in rank order."""
    path = folder / "pairs.csv"
    if not path.is_file():
        raise RadsynthError(f"audit output {path} is missing")
    return [
        AuditPair(r.rank or 0, r.synthetic, r.train, r.similarity, r.flagged)
        for r in records.read_pairs(path)
    ]


def read_ingest_review(folder: Path) -> list[IngestItem]:
    """``folder/review.csv`` written by ``radsynth ingest``, in its order."""
    where = f"{folder}/review.csv"
    items = []
    for r in _required(folder / "review.csv", "ingest review list", INGEST_COLUMNS):
        rotation = int(_number(r["suggested_rotation_deg"], where))
        if rotation not in (0, 90, 180, 270):
            raise RadsynthError(f"{where}: suggested_rotation_deg {rotation} is not 0/90/180/270")
        items.append(
            IngestItem(
                review_image=r["review_image"],
                source_path=r["source_path"],
                source_sha256=r.get("source_sha256", ""),
                reason=r["reason"],
                suggested_inverted=_truthy(r["suggested_inverted"]),
                polarity_confidence=_number(r["polarity_confidence"], where),
                suggested_rotation_deg=rotation,
                rotation_confidence=_number(r["rotation_confidence"], where),
            )
        )
    return items


def load_queues(screen: Path | None, audit: Path | None, ingest: Path | None) -> Queues:
    """Read whichever of the screen, audit and ingest folders are given.

    Raises:
        RadsynthError: when none is given, or a given folder lacks its file or has a bad row.
    """
    if screen is None and audit is None and ingest is None:
        raise RadsynthError("review needs a screen folder, an audit folder or an ingest folder")
    items, images = read_screen(screen) if screen is not None else ([], None)
    pairs = read_pairs(audit) if audit is not None else []
    films = read_ingest_review(ingest) if ingest is not None else []
    return Queues(tuple(items), images, tuple(pairs), audit, tuple(films), ingest)
