"""What the admin dashboard shows per rater: progress, timing, attention checks, practice, outliers.

Times come from the latest answer of each screen: ``seconds`` is the time from the screen's
opening to that answer (server clock). A rater is listed as an *outlier* when their median time
per screen is under :data:`FAST_SECONDS` (too fast to have looked at a quartet), or when they
failed an attention check.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from radsynth.study import db as t
from radsynth.study import service as svc

FAST_SECONDS = 2.0


def _utc(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _latest(s: Session) -> list[tuple]:
    """(rater_id, item kind, seconds, picked group, answer, answered_at) per latest answer."""
    a = t.Response
    latest = (
        select(a.rater_id, a.seq, func.max(a.version).label("v"))
        .group_by(a.rater_id, a.seq)
        .subquery()
    )
    picked = select(t.Image.id, t.Image.group).subquery()
    query = (
        select(a.rater_id, t.Item.kind, a.opened_at, a.answered_at, picked.c.group, a.answer)
        .join(
            latest,
            (latest.c.rater_id == a.rater_id) & (latest.c.seq == a.seq) & (latest.c.v == a.version),
        )
        .join(t.Item, t.Item.id == a.item_id)
        .outerjoin(picked, picked.c.id == a.picked)
    )
    rows = []
    for rater_id, kind, opened, answered, group, answer in s.execute(query):
        seconds = (_utc(answered) - _utc(opened)).total_seconds()
        rows.append((rater_id, kind, seconds, group, answer, _utc(answered)))
    return rows


def admin_progress(s: Session) -> list[dict]:
    """Per rater: name, kind, answered, total, closed, last_answer, practice (done/of),
    attention (passed/of), median and total seconds, questionnaire, outlier reasons."""
    meta = svc.study_meta(s)
    n_practice = svc.n_practice(meta)
    per: dict[int, list[tuple]] = defaultdict(list)
    for row in _latest(s):
        per[row[0]].append(row)
    about = {q.rater_id: q for q in s.scalars(select(t.Questionnaire))}
    rows = []
    for rater in s.scalars(select(t.Rater).order_by(t.Rater.kind, t.Rater.name)):
        answered, total = svc.progress(s, rater.id)
        mine = per.get(rater.id, [])
        timed = [sec for _, kind, sec, *_ in mine if kind != "practice"]
        attention = [(g, ans) for _, kind, _, g, ans, _ in mine if kind == "attention"]
        passed = sum(
            g == "real" if meta["design"] == "quartet" else ans == "fake" for g, ans in attention
        )
        median = statistics.median(timed) if timed else None
        last = max((r[5] for r in mine), default=None)
        q = about.get(rater.id)
        reasons = []
        if median is not None and median < FAST_SECONDS:
            reasons.append(f"median {median:.1f} s per screen")
        if passed < len(attention):
            reasons.append(f"failed {len(attention) - passed} attention check(s)")
        rows.append(
            {
                "rater": rater.name,
                "kind": rater.kind,
                "answered": answered,
                "total": total,
                "closed": rater.closed,
                "last_answer": last.isoformat(timespec="seconds") if last else "",
                "practice_done": sum(kind == "practice" for _, kind, *_ in mine),
                "practice": n_practice if rater.kind == "human" else 0,
                "attention_passed": passed,
                "attention": len(attention),
                "median_seconds": round(median, 1) if median is not None else None,
                "total_seconds": round(sum(timed), 1),
                "about": f"{q.role}, {q.years} y, {q.subspecialty}".rstrip(", ") if q else "",
                "outlier": "; ".join(reasons),
            }
        )
    return rows


def admin_log(s: Session, limit: int = 100) -> list[dict]:
    """The latest admin actions, newest first."""
    entries = s.scalars(select(t.AdminLog).order_by(t.AdminLog.id.desc()).limit(limit))
    return [
        {
            "at": _utc(e.at).isoformat(timespec="seconds"),
            "action": e.action,
            "rater": e.rater,
            "via": e.via,
        }
        for e in entries
    ]
