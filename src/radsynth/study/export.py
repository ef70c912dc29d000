"""``radsynth study export``: the answers as one long-format CSV, straight from the database.

One row per (rater, screen, image) of the latest accepted answer (or of every answer with
``--history``). ``group`` is the unblinding key, joined in only here and in the admin export.
``rater_kind`` says whether a row came from a person (``human``) or a simulated rater.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from radsynth.config import arg
from radsynth.stage import StageResult, atomic_write_text
from radsynth.study import db as t

COLUMNS = (
    "rater", "rater_kind", "item", "item_kind", "repeat_of", "seq", "image_id", "group",
    "position", "picked", "rating", "answer", "finding", "cue", "version", "started_at",
    "answered_at", "seconds",
)  # fmt: skip


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
    rows = []
    for rater, resp, item, slot, image, rating in session.execute(query):
        picked = "" if design != "quartet" else int(resp.picked == image.id)
        rows.append({
            "rater": rater.name, "rater_kind": rater.kind, "item": item.id,
            "item_kind": item.kind, "repeat_of": item.repeat_of or "", "seq": resp.seq,
            "image_id": image.id, "group": image.group, "position": slot.position,
            "picked": picked, "rating": rating.rating, "answer": resp.answer or "",
            "finding": rating.finding or "", "cue": rating.cue or "", "version": resp.version,
            "started_at": _iso(resp.opened_at), "answered_at": _iso(resp.answered_at),
            "seconds": round(_seconds(resp.opened_at, resp.answered_at), 3),
        })  # fmt: skip
    return rows


def _utc(ts):  # noqa: ANN001, ANN202
    # SQLite returns naive datetimes; every stored time is UTC.
    from datetime import UTC

    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _iso(ts) -> str:  # noqa: ANN001
    return _utc(ts).isoformat(timespec="milliseconds")


def _seconds(start, end) -> float:  # noqa: ANN001
    return (_utc(end) - _utc(start)).total_seconds()


def rows_to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def export_csv_text(engine: Engine, *, history: bool = False, rater_kind: str = "all") -> str:
    with Session(engine) as session:
        return rows_to_csv(export_rows(session, history=history, rater_kind=rater_kind))


def export_responses(cfg: ExportConfig) -> StageResult:
    """Write the long-format CSV of a study's answers (see module docstring)."""
    engine = t.make_engine(t.resolve_url(cfg.study, cfg.db))
    try:
        t.check_schema(engine)
        with Session(engine) as session:
            rows = export_rows(session, history=cfg.history, rater_kind=cfg.rater_kind)
    finally:
        engine.dispose()
    out = cfg.out or cfg.study / "export.csv"
    atomic_write_text(out, rows_to_csv(rows))
    answers = len({(row["rater"], row["seq"], row["version"]) for row in rows})
    return StageResult(out.parent, f"exported {len(rows)} rows ({answers} answers) to {out}")
