"""Reviewer decisions as typed records: the one reader and writer of the review folder's CSVs.

``radsynth review`` writes two files into its folder, and ``keep``, the report and the release
read them back through this module only:

- ``screen_decisions.csv``: one :class:`ScreenDecision` per screened image (the automatic flag,
  the final decision and who made it; ``decided_by = auto`` when nobody reviewed the image);
- ``audit_adjudication.csv``: one :class:`AuditVerdict` per audit pair (every reviewer's latest
  verdict, the agreed verdict and the status); ``audit_disagreements.csv`` repeats the pairs
  whose reviewers disagree.

:func:`decide_images` combines the screen, the reviewers' screening decisions and the audit
verdicts into one :class:`ImageFate` per image, and :func:`table_s1` counts them per checkpoint
(the study's Table S1). Like the review page, this module imports neither torch nor numpy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from radsynth.errors import RadsynthError
from radsynth.io import read_csv_rows
from radsynth.records._csv import write_csv
from radsynth.records.screen import read_screen_rows

SCREEN_DECISIONS = "screen_decisions.csv"
AUDIT_ADJUDICATION = "audit_adjudication.csv"
AUDIT_DISAGREEMENTS = "audit_disagreements.csv"

ScreenChoice = Literal["keep", "exclude"]
Verdict = Literal["memorized", "not"]
Status = Literal["agreed", "disagreement", "pending"]

SCREEN_DECISION_COLUMNS = (
    "image",
    "group",
    "score",
    "auto",
    "final",
    "decided_by",
    "decided_at",
    "overridden",
)
AUDIT_COLUMNS = (
    "rank",
    "synthetic",
    "train",
    "similarity",
    "flagged",
    "reviewers",
    "verdicts",
    "final",
    "status",
)
FATE_COLUMNS = (
    "image",
    "group",
    "score",
    "auto",
    "final",
    "decided_by",
    "copy",
    "kept",
    "flagged",
)
TABLE_S1_COLUMNS = (
    "group",
    "generated",
    "flagged_by_screen",
    "excluded_by_screen",
    "overridden_by_reviewer",
    "excluded_as_copy",
    "kept",
)


@dataclass(frozen=True)
class ScreenDecision:
    """The final screening decision on one image."""

    image: str  # path as screen.csv names it, relative to the screened folder
    group: str  # checkpoint folder, e.g. step-0068000
    score: float  # the screen's implausibility score (higher = more implausible)
    auto: ScreenChoice  # the screen's automatic decision (exclude = flagged)
    final: ScreenChoice  # the decision that stands: the latest reviewer's, else ``auto``
    decided_by: str  # reviewer id, or "auto" when nobody reviewed the image
    decided_at: str = ""  # UTC ISO time of the reviewer's decision; empty for "auto"

    @property
    def reviewed(self) -> bool:
        """A person decided this image (whether or not they agreed with the screen)."""
        return self.decided_by != "auto"

    @property
    def overridden(self) -> bool:
        """The final decision differs from the automatic one."""
        return self.final != self.auto


@dataclass(frozen=True)
class AuditVerdict:
    """The reviewers' verdicts on one audit pair (synthetic image, nearest training image)."""

    rank: int  # 1 = most similar pair of the audit
    synthetic: str  # synthetic image as pairs.csv names it (relative to the audited folder)
    train: str  # its nearest training image
    similarity: float  # cosine similarity of the pair
    flagged: bool  # the audit flagged it as a memorization candidate
    verdicts: tuple[tuple[str, Verdict], ...]  # (reviewer, latest verdict), sorted by reviewer
    final: Verdict | Literal[""]  # the agreed verdict; empty unless status is "agreed"
    status: Status  # agreed: >= 2 reviewers, all the same; disagreement: any differ

    @property
    def memorized(self) -> bool:
        """The reviewers agreed that the synthetic image copies its training neighbour."""
        return self.final == "memorized"


def adjudicate(verdicts: Mapping[str, Verdict]) -> tuple[Verdict | Literal[""], Status]:
    """The agreed verdict and status of one pair from each reviewer's latest verdict."""
    values = set(verdicts.values())
    if len(values) > 1:
        return "", "disagreement"
    if len(verdicts) >= 2:
        return values.pop(), "agreed"
    return "", "pending"


@dataclass(frozen=True)
class ImageFate:
    """What happened to one synthetic image on its way to the reader study."""

    image: str  # as screen.csv names it
    group: str  # checkpoint folder
    score: float  # screen score
    auto: ScreenChoice  # the screen's automatic decision under the pipeline's ``keep`` mode
    final: ScreenChoice  # after the reviewers' screening decisions
    decided_by: str  # reviewer id or "auto"
    copy: bool  # reviewers agreed that the image is a memorized copy (always excluded)
    kept: bool  # goes on to the reader study
    flagged: bool = False  # the screen flagged it, whatever the keep mode (keep: all carries it)

    @property
    def overridden(self) -> bool:
        return self.final != self.auto


# ------------------------------------------------------------------------------ writers


def _screen_row(d: ScreenDecision) -> dict[str, object]:
    return {**asdict(d), "score": f"{d.score:.6f}", "overridden": int(d.overridden)}


def _audit_row(v: AuditVerdict) -> dict[str, object]:
    return {
        "rank": v.rank,
        "synthetic": v.synthetic,
        "train": v.train,
        "similarity": f"{v.similarity:.6f}",
        "flagged": int(v.flagged),
        "reviewers": ";".join(r for r, _ in v.verdicts),
        "verdicts": ";".join(f"{r}={x}" for r, x in v.verdicts),
        "final": v.final,
        "status": v.status,
    }


def write_screen_decisions(folder: Path, decisions: Iterable[ScreenDecision]) -> Path:
    """Write ``folder/screen_decisions.csv`` atomically; returns its path."""
    return write_csv(
        folder / SCREEN_DECISIONS, SCREEN_DECISION_COLUMNS, map(_screen_row, decisions)
    )


def write_audit_verdicts(folder: Path, verdicts: Iterable[AuditVerdict]) -> Path:
    """Write ``audit_adjudication.csv`` and ``audit_disagreements.csv`` atomically."""
    verdicts = list(verdicts)
    path = write_csv(folder / AUDIT_ADJUDICATION, AUDIT_COLUMNS, map(_audit_row, verdicts))
    disagree = [v for v in verdicts if v.status == "disagreement"]
    write_csv(folder / AUDIT_DISAGREEMENTS, AUDIT_COLUMNS, map(_audit_row, disagree))
    return path


def write_fates(path: Path, fates: Iterable[ImageFate]) -> None:
    """Write one row per image: its screen, review and audit outcome and whether it was kept."""
    rows = (
        {
            **asdict(f),
            "score": f"{f.score:.6f}",
            "copy": int(f.copy),
            "kept": int(f.kept),
            "flagged": int(f.flagged),
        }
        for f in fates
    )
    write_csv(path, FATE_COLUMNS, rows)


# ------------------------------------------------------------------------------ readers


def read_rows(path: Path, columns: Iterable[str]) -> list[dict[str, str]]:
    """Rows of a UTF-8 CSV file that must have ``columns``; any problem is one RadsynthError."""
    return read_csv_rows(path, "decisions file", tuple(columns))


def _choice(value: str, allowed: tuple[str, ...], where: str) -> str:
    if value not in allowed:
        raise RadsynthError(f"{where}: {value!r} is not one of {', '.join(allowed)}")
    return value


def _float(value: str, where: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise RadsynthError(f"{where}: {value!r} is not a number") from None


def read_screen_decisions(folder: Path) -> dict[str, ScreenDecision]:
    """``folder/screen_decisions.csv`` keyed by image (as screen.csv names it).

    Returns an empty mapping when the file does not exist (nobody has opened the review page).

    Raises:
        RadsynthError: for an unreadable file, a missing column or an invalid value.
    """
    path = folder / SCREEN_DECISIONS
    if not path.is_file():
        return {}
    out: dict[str, ScreenDecision] = {}
    for line, row in enumerate(read_rows(path, SCREEN_DECISION_COLUMNS[:-1]), start=2):
        where = f"{path} line {line}"
        out[row["image"]] = ScreenDecision(
            image=row["image"],
            group=row["group"],
            score=_float(row["score"], where),
            auto=_choice(row["auto"], ("keep", "exclude"), where),  # type: ignore[arg-type]
            final=_choice(row["final"], ("keep", "exclude"), where),  # type: ignore[arg-type]
            decided_by=row["decided_by"] or "auto",
            decided_at=row["decided_at"] or "",
        )
    return out


def _parse_verdicts(text: str, where: str) -> tuple[tuple[str, Verdict], ...]:
    pairs = []
    for item in filter(None, text.split(";")):
        who, sep, value = item.partition("=")
        if not sep:
            raise RadsynthError(f"{where}: verdict {item!r} is not reviewer=verdict")
        pairs.append((who, _choice(value, ("memorized", "not"), where)))
    return tuple(sorted(pairs))  # type: ignore[return-value]


def read_audit_verdicts(folder: Path) -> dict[str, AuditVerdict]:
    """``folder/audit_adjudication.csv`` keyed by synthetic image (as pairs.csv names it).

    Returns an empty mapping when the file does not exist (no pair has been adjudicated).

    Raises:
        RadsynthError: for an unreadable file, a missing column or an invalid value.
    """
    path = folder / AUDIT_ADJUDICATION
    if not path.is_file():
        return {}
    out: dict[str, AuditVerdict] = {}
    for line, row in enumerate(read_rows(path, AUDIT_COLUMNS), start=2):
        where = f"{path} line {line}"
        rank = _float(row["rank"], where)
        out[row["synthetic"]] = AuditVerdict(
            rank=int(rank),
            synthetic=row["synthetic"],
            train=row["train"],
            similarity=_float(row["similarity"], where),
            flagged=row["flagged"].strip().lower() in ("1", "true", "yes"),
            verdicts=_parse_verdicts(row["verdicts"], where),
            final=_choice(row["final"], ("memorized", "not", ""), where),  # type: ignore[arg-type]
            status=_choice(row["status"], ("agreed", "disagreement", "pending"), where),  # type: ignore[arg-type]
        )
    return out


def read_screen(screen_dir: Path) -> list[ScreenDecision]:
    """The screen's own decisions (``screen.csv``), as unreviewed :class:`ScreenDecision` s."""
    path = screen_dir / "screen.csv"
    if not path.is_file():
        raise RadsynthError(f"screen output {path} is missing; run the screen stage first")
    out = []
    for row in read_screen_rows(path):  # :mod:`radsynth.records.screen`
        auto: ScreenChoice = "exclude" if row.flagged else "keep"
        out.append(ScreenDecision(row.image, row.group, row.score, auto, auto, "auto"))
    return out


def read_table_s1(path: Path) -> list[dict[str, str]]:
    """Rows of a Table S1 written by :func:`write_table_s1` (one-line errors); a table from
    before the ``flagged_by_screen`` column reads without it."""
    return read_rows(path, [c for c in TABLE_S1_COLUMNS if c != "flagged_by_screen"])


def read_fates(path: Path) -> list[ImageFate]:
    """Read back a file written by :func:`write_fates` (a file from before the ``flagged``
    column reads its flag from ``auto``, which held it under ``keep: screened``)."""
    out = []
    for line, row in enumerate(read_rows(path, FATE_COLUMNS[:-1]), start=2):
        where = f"{path} line {line}"
        out.append(
            ImageFate(
                image=row["image"],
                group=row["group"],
                score=_float(row["score"], where),
                auto=_choice(row["auto"], ("keep", "exclude"), where),  # type: ignore[arg-type]
                final=_choice(row["final"], ("keep", "exclude"), where),  # type: ignore[arg-type]
                decided_by=row["decided_by"],
                copy=row["copy"] == "1",
                kept=row["kept"] == "1",
                flagged=row.get("flagged", "1" if row["auto"] == "exclude" else "0") == "1",
            )
        )
    return out


# ----------------------------------------------------------------------- combining them


def decide_images(
    screened: Iterable[ScreenDecision],
    reviewed: Mapping[str, ScreenDecision],
    verdicts: Mapping[str, AuditVerdict],
    *,
    screen_excludes: bool = True,
) -> list[ImageFate]:
    """Each screened image's fate: screen, then the reviewers' decision, then the audit.

    Args:
        screened: the screen's automatic decisions (:func:`read_screen`).
        reviewed: :func:`read_screen_decisions`; only rows a reviewer decided count, so a stale
            automatic row from an earlier screen never overrides the current screen.
        verdicts: :func:`read_audit_verdicts`; a pair agreed to be memorized excludes its
            synthetic image whatever the screen said.
        screen_excludes: False for the pipeline's ``keep: all``: flagged images are only marked,
            but a reviewer's explicit exclusion still excludes.
    """
    fates = []
    for s in screened:
        auto: ScreenChoice = s.auto if screen_excludes else "keep"
        review = reviewed.get(s.image)
        final, who = (
            (review.final, review.decided_by) if review and review.reviewed else (auto, "auto")
        )
        verdict = verdicts.get(s.image)
        copy = verdict is not None and verdict.memorized
        kept = final == "keep" and not copy
        flagged = s.auto == "exclude"
        fates.append(ImageFate(s.image, s.group, s.score, auto, final, who, copy, kept, flagged))
    return fates


def unmatched(
    reviewed: Mapping[str, ScreenDecision], screened: Iterable[ScreenDecision]
) -> list[str]:
    """Images a reviewer decided that the current screen does not list (a stale review)."""
    names = {s.image for s in screened}
    return sorted(k for k, d in reviewed.items() if d.reviewed and k not in names)


def table_s1(fates: Iterable[ImageFate]) -> list[dict[str, object]]:
    """Table S1 per checkpoint, plus a ``total`` row.

    Columns: generated; flagged_by_screen (whatever the keep mode: under ``keep: all`` flagged
    images are carried on, and this column says how many); excluded_by_screen (automatic
    exclusions); overridden_by_reviewer
    (final decision differs from the automatic one, either way); excluded_as_copy (agreed
    memorized, among images the screen and reviewers would have kept); kept.
    """
    groups: dict[str, list[int]] = {}
    for f in fates:
        g = groups.setdefault(f.group, [0, 0, 0, 0, 0, 0])
        flags = (f.flagged, f.auto == "exclude", f.overridden, f.copy and f.final == "keep")
        counts = (1, *flags, f.kept)
        for i, c in enumerate(counts):
            g[i] += int(c)
    rows = [
        dict(zip(TABLE_S1_COLUMNS, (name, *g), strict=True)) for name, g in sorted(groups.items())
    ]
    total = [sum(g[i] for g in groups.values()) for i in range(len(TABLE_S1_COLUMNS) - 1)]
    rows.append(dict(zip(TABLE_S1_COLUMNS, ("total", *total), strict=True)))
    return rows


def write_table_s1(path: Path, rows: Iterable[dict[str, object]]) -> None:
    """Write :func:`table_s1`'s rows as CSV."""
    write_csv(path, TABLE_S1_COLUMNS, rows)
