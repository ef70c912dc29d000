"""``radsynth study export``: the answers as one long-format CSV, straight from the database.

One row per (rater, screen, image) of the latest accepted answer (or of every answer with
``--history``). ``group`` is the unblinding key, joined in only here and in the admin export.
``rater_kind`` says whether a row came from a person (``human``) or a simulated rater.
``item_kind`` is main, attention, repeat or practice; the statistics analyse main items only.

Where going back was allowed, ``first_picked``/``first_rating``/``first_answer`` keep the first
answer next to the final one, ``visits`` counts the openings of the screen, ``visit_times``
lists their server times (ISO 8601, ``;``-separated), and
``total_seconds`` adds up the time of every answered visit (``seconds`` is the last one's).
``original_image_id`` maps an image of a repeat item to the same picture in its original item.
``label`` is the image's class in a class-conditional study (``--finding-per-class``), where
``finding`` answers whether the image shows that class's finding; it is empty otherwise (and
for attention-check noise).

A second file, ``NAME-raters.csv`` next to the export, holds one row per rater: the
questionnaire (role, years, subspecialty), when instructions and consent were done, progress
and total time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from radsynth.config import arg
from radsynth.records._csv import csv_text
from radsynth.stage import StageResult, atomic_write_text
from radsynth.study import db as t
from radsynth.study.migrate import open_study

COLUMNS = (
    "rater",
    "rater_kind",
    "item",
    "item_kind",
    "repeat_of",
    "seq",
    "image_id",
    "group",
    "position",
    "picked",
    "rating",
    "answer",
    "finding",
    "cue",
    "version",
    "started_at",
    "answered_at",
    "seconds",
    "original_image_id",
    "first_picked",
    "first_rating",
    "first_answer",
    "visits",
    "visit_times",
    "total_seconds",
    "label",
)
RATER_COLUMNS = (
    "rater",
    "rater_kind",
    "role",
    "years",
    "subspecialty",
    "started_at",
    "consented_at",
    "answered",
    "total",
    "total_seconds",
)


@dataclass(frozen=True)
class ExportConfig:
    """Export a reader study's answers as a long-format CSV (no server needed)."""

    study: Path = arg(help="study folder made by 'radsynth study create'", positional=True)
    out: Path | None = arg(None, help="CSV path; default STUDY/export.csv")
    db: str | None = arg(None, help="database URL; default the one the study was created with")
    history: bool = arg(False, help="every submitted version, not only the latest answer")
    rater_kind: Literal["all", "human", "simulated"] = arg(
        "all", help="which raters to export (the rater_kind column always says which)"
    )


def export_rows(session: Session, *, history: bool = False, rater_kind: str = "all") -> list[dict]:
    """Long-format rows (see :data:`COLUMNS`), ordered by rater, screen, version, position."""
    r, a, i, ii, im = t.Rater, t.Response, t.Item, t.ItemImage, t.Image
    query = (
        select(r, a, i, ii, im, t.Rating)
        .join(a, a.rater_id == r.id)
        .join(i, i.id == a.item_id)
        .join(ii, ii.item_id == a.item_id)
        .join(im, im.id == ii.image_id)
        .join(t.Rating, (t.Rating.response_id == a.id) & (t.Rating.image_id == ii.image_id))
        .order_by(r.name, a.seq, a.version, ii.position)
    )
    if not history:
        latest = (
            select(a.rater_id, a.seq, func.max(a.version).label("v"))
            .group_by(a.rater_id, a.seq)
            .subquery()
        )
        query = query.join(
            latest,
            (latest.c.rater_id == a.rater_id) & (latest.c.seq == a.seq) & (latest.c.v == a.version),
        )
    if rater_kind != "all":
        query = query.where(r.kind == rater_kind)
    design = session.get(t.Meta, "design").value
    first, spent, visits = _per_screen(session)
    rows = []
    for rater, resp, item, slot, image, rating in session.execute(query):
        picked = "" if design != "quartet" else int(resp.picked == image.id)
        key = (resp.rater_id, resp.seq)
        f_resp, f_rating = first.get((*key, image.id), (resp, rating))
        rows.append(
            {
                "rater": rater.name,
                "rater_kind": rater.kind,
                "item": item.id,
                "item_kind": item.kind,
                "repeat_of": item.repeat_of or "",
                "seq": resp.seq,
                "image_id": image.id,
                "group": image.group,
                "position": slot.position,
                "picked": picked,
                "rating": rating.rating,
                "answer": resp.answer or "",
                "finding": rating.finding or "",
                "cue": rating.cue or "",
                "version": resp.version,
                "started_at": _iso(resp.opened_at),
                "answered_at": _iso(resp.answered_at),
                "seconds": round(_seconds(resp.opened_at, resp.answered_at), 3),
                "original_image_id": image.original_id or "",
                "first_picked": "" if design != "quartet" else int(f_resp.picked == image.id),
                "first_rating": f_rating.rating,
                "first_answer": f_resp.answer or "",
                "visits": len(visits.get(key, [])),
                "visit_times": ";".join(visits.get(key, [])),
                "total_seconds": round(spent.get(key, 0.0), 3),
                "label": image.label or "",
            }
        )
    return rows


def _per_screen(session: Session) -> tuple[dict, dict, dict]:
    """First answers per (rater, seq, image); seconds summed over answers and the visit times
    per (rater, seq)."""
    first = {}
    query = (
        select(t.Response, t.Rating)
        .join(t.Rating, t.Rating.response_id == t.Response.id)
        .where(t.Response.version == 1)
    )
    for resp, rating in session.execute(query):
        first[resp.rater_id, resp.seq, rating.image_id] = (resp, rating)
    spent: dict[tuple[int, int], float] = {}
    for resp in session.scalars(select(t.Response)):
        key = (resp.rater_id, resp.seq)
        spent[key] = spent.get(key, 0.0) + _seconds(resp.opened_at, resp.answered_at)
    visits: dict[tuple[int, int], list[str]] = {}
    for v in session.scalars(select(t.Visit).order_by(t.Visit.id)):
        visits.setdefault((v.rater_id, v.seq), []).append(_iso(v.opened_at))
    return first, spent, visits


def rater_rows(session: Session, rater_kind: str = "all") -> list[dict]:
    """One row per rater (see :data:`RATER_COLUMNS`)."""
    about = {q.rater_id: q for q in session.scalars(select(t.Questionnaire))}
    _, spent, _ = _per_screen(session)
    rows = []
    for rater in session.scalars(select(t.Rater).order_by(t.Rater.name)):
        if rater_kind not in ("all", rater.kind):
            continue
        q = about.get(rater.id)
        total = session.scalar(select(func.count()).where(t.Assignment.rater_id == rater.id))
        answered = session.scalar(
            select(func.count()).where(t.Assignment.rater_id == rater.id, t.Assignment.version > 0)
        )
        rows.append(
            {
                "rater": rater.name,
                "rater_kind": rater.kind,
                "role": q.role if q else "",
                "years": q.years if q else "",
                "subspecialty": q.subspecialty if q else "",
                "started_at": _iso(rater.started_at) if rater.started_at else "",
                "consented_at": _iso(rater.consented_at) if rater.consented_at else "",
                "answered": answered,
                "total": total,
                "total_seconds": round(sum(v for (r, _), v in spent.items() if r == rater.id), 3),
            }
        )
    return rows


def _utc(ts):  # noqa: ANN001, ANN202
    # SQLite returns naive datetimes; every stored time is UTC.
    from datetime import UTC

    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _iso(ts) -> str:  # noqa: ANN001
    return _utc(ts).isoformat(timespec="milliseconds")


def _seconds(start, end) -> float:  # noqa: ANN001
    return (_utc(end) - _utc(start)).total_seconds()


def rows_to_csv(rows: list[dict], columns: tuple[str, ...] = COLUMNS) -> str:
    return csv_text(columns, rows)


def export_responses(cfg: ExportConfig) -> StageResult:
    """Write the long-format CSV of a study's answers (see module docstring)."""
    engine = open_study(t.resolve_url(cfg.study, cfg.db))
    try:
        with Session(engine) as session:
            rows = export_rows(session, history=cfg.history, rater_kind=cfg.rater_kind)
            raters = rater_rows(session, cfg.rater_kind)
    finally:
        engine.dispose()
    out = cfg.out or cfg.study / "export.csv"
    atomic_write_text(out, rows_to_csv(rows))
    atomic_write_text(out.with_name(f"{out.stem}-raters.csv"), rows_to_csv(raters, RATER_COLUMNS))
    answers = len({(row["rater"], row["seq"], row["version"]) for row in rows})
    return StageResult(out.parent, f"exported {len(rows)} rows ({answers} answers) to {out}")
