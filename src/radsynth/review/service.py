"""The review page's logic: plain functions over a SQLAlchemy session and the loaded queues.

Every decision is a new row (:mod:`radsynth.review.models`); the latest row per item stands. A
screening or ingest decision must quote the id of the latest decision its page showed
(``seen``, 0 for none): when someone else decided the item since, the decision is refused (409)
instead of silently replacing theirs. Audit verdicts are per reviewer, so nobody else's can be
replaced. After each decision :func:`export` rewrites the decision files the pipeline reads:
``screen_decisions.csv`` and ``audit_adjudication.csv``
(:mod:`radsynth.fates.records`) and ``review_decisions.csv``
(:mod:`radsynth.data.review_decisions`).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from radsynth.data.review_decisions import (
    IngestDecision,
    make_decision,
    write_ingest_decisions,
)
from radsynth.errors import RadsynthError
from radsynth.fates.records import (
    AuditVerdict,
    ScreenDecision,
    adjudicate,
    write_audit_verdicts,
    write_screen_decisions,
)
from radsynth.review.models import (
    AuditVerdictRow,
    IngestDecisionRow,
    ReviewMeta,
    ScreenDecisionRow,
    utcnow_text,
)
from radsynth.review.queues import Queues

REVIEWER_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
#: PostgreSQL advisory lock key held by every decision's transaction (any constant of our own).
DECISION_LOCK = 0x5EF1E3


class ReviewError(Exception):
    """A refused request: an HTTP status and a one-line message for the page."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass(frozen=True)
class Entry:
    """One past decision, as the page's history lists it."""

    id: int
    reviewer: str
    decision: str
    decided_at: str


def check_reviewer(reviewer: object) -> str:
    """A valid reviewer id (letters, digits, ``_ . @ -``; at most 64), else a 400."""
    if not isinstance(reviewer, str) or not REVIEWER_RE.match(reviewer):
        raise ReviewError(400, "enter a reviewer id (letters, digits, _ . @ -; at most 64)")
    return reviewer


def form_secret(s: Session) -> str:
    """This database's form-token secret, made on first use."""
    row = s.get(ReviewMeta, "csrf_secret")
    if row is None:
        row = ReviewMeta(key="csrf_secret", value=secrets.token_hex(32))
        s.add(row)
        s.flush()
    return row.value


def _seen(value: object) -> int:
    if not isinstance(value, str) or not value.isdigit() or len(value) > 18:
        raise ReviewError(400, "this form is malformed; reload the page")
    return int(value)


def _serialize(s: Session) -> None:
    """Make decisions one at a time, so that a check for a newer decision and the insert that
    follows it cannot interleave with another's. SQLite's ``BEGIN IMMEDIATE`` already does;
    PostgreSQL takes a transaction-scoped advisory lock (released at commit or rollback)."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": DECISION_LOCK})


def _latest(s: Session, column, key: str) -> Entry | None:  # noqa: ANN001 - a mapped column
    """The latest decision row whose ``column`` equals ``key``, as an :class:`Entry`."""
    model = column.class_
    row = s.scalars(select(model).where(column == key).order_by(model.id.desc()).limit(1)).first()
    if row is None:
        return None
    decision = row.decision if model is ScreenDecisionRow else _ingest_decision(row).choice
    return Entry(row.id, row.reviewer, decision, row.decided_at)


def _check_fresh(latest: Entry | None, seen: int) -> None:
    if (latest.id if latest else 0) != seen:
        who = f"{latest.reviewer} ({latest.decision})" if latest else "someone"
        raise ReviewError(
            409,
            f"this item was decided by {who} after this page was loaded; "
            "reload the page and decide again",
        )


# ---------------------------------------------------------------------------------- history


def screen_history(s: Session) -> dict[str, list[Entry]]:
    """Every screening decision per image, oldest first."""
    out: dict[str, list[Entry]] = {}
    for r in s.scalars(select(ScreenDecisionRow).order_by(ScreenDecisionRow.id)):
        out.setdefault(r.image, []).append(Entry(r.id, r.reviewer, r.decision, r.decided_at))
    return out


def audit_history(s: Session) -> dict[str, list[Entry]]:
    """Every audit verdict per synthetic image, oldest first."""
    out: dict[str, list[Entry]] = {}
    for r in s.scalars(select(AuditVerdictRow).order_by(AuditVerdictRow.id)):
        out.setdefault(r.synthetic, []).append(Entry(r.id, r.reviewer, r.verdict, r.decided_at))
    return out


def _ingest_decision(r: IngestDecisionRow) -> IngestDecision:
    return IngestDecision(
        r.source_path,
        r.source_sha256,
        r.final,
        bool(r.invert),  # type: ignore[arg-type]
        r.rotation_deg,
        bool(r.mirror),
        r.reviewer,
        r.decided_at,
    )


def ingest_history(s: Session) -> dict[str, list[Entry]]:
    """Every ingest decision per source path, oldest first (``decision`` is the page choice)."""
    out: dict[str, list[Entry]] = {}
    for r in s.scalars(select(IngestDecisionRow).order_by(IngestDecisionRow.id)):
        choice = _ingest_decision(r).choice
        out.setdefault(r.source_path, []).append(Entry(r.id, r.reviewer, choice, r.decided_at))
    return out


# -------------------------------------------------------------------------------- decisions


def record_screen(
    s: Session, q: Queues, reviewer: str, image: str, decision: str, seen: object
) -> None:
    """Store a keep/exclude decision on a screened image."""
    item = next((i for i in q.screen if i.image == image), None)
    if item is None:
        raise ReviewError(404, "no such screened image")
    if decision not in ("keep", "exclude"):
        raise ReviewError(400, "decision must be keep or exclude")
    _serialize(s)
    _check_fresh(_latest(s, ScreenDecisionRow.image, image), _seen(seen))
    s.add(
        ScreenDecisionRow(
            image=image,
            reviewer=reviewer,
            decision=decision,
            auto_flagged=int(item.flagged),
            decided_at=utcnow_text(),
        )
    )


def record_audit(s: Session, q: Queues, reviewer: str, synthetic: str, verdict: str) -> None:
    """Store one reviewer's verdict on an audit pair (their earlier verdicts stay as history)."""
    pair = next((p for p in q.pairs if p.synthetic == synthetic), None)
    if pair is None:
        raise ReviewError(404, "no such audit pair")
    if verdict not in ("memorized", "not"):
        raise ReviewError(400, "verdict must be memorized or not")
    s.add(
        AuditVerdictRow(
            synthetic=synthetic,
            train=pair.train,
            reviewer=reviewer,
            verdict=verdict,
            decided_at=utcnow_text(),
        )
    )


def record_ingest(
    s: Session, q: Queues, reviewer: str, source_path: str, choice: str, seen: object
) -> None:
    """Store a decision on a film of ingest's review.csv (see :data:`CHOICES`)."""
    item = next((i for i in q.ingest if i.source_path == source_path), None)
    if item is None:
        raise ReviewError(404, "no such film in review.csv")
    try:
        d = make_decision(
            choice,
            source_path,
            item.source_sha256,
            item.suggested_rotation_deg,
            reviewer,
            utcnow_text(),
        )
    except RadsynthError as exc:
        raise ReviewError(400, str(exc)) from None
    _serialize(s)
    _check_fresh(_latest(s, IngestDecisionRow.source_path, source_path), _seen(seen))
    s.add(
        IngestDecisionRow(
            source_path=d.source_path,
            source_sha256=d.source_sha256,
            final=d.final,
            invert=int(d.invert),
            rotation_deg=d.rotation_deg,
            mirror=int(d.mirror),
            reviewer=reviewer,
            decided_at=d.decided_at,
        )
    )


# ------------------------------------------------------------------------------ final state


def screen_final(s: Session, q: Queues) -> list[ScreenDecision]:
    """Per screened image: the automatic decision, the final one and who made it."""
    history = screen_history(s)
    out = []
    for item in q.screen:
        auto = "exclude" if item.flagged else "keep"
        last = history.get(item.image, [None])[-1]
        final, who, when = (
            (last.decision, last.reviewer, last.decided_at) if last else (auto, "auto", "")
        )
        out.append(ScreenDecision(item.image, item.group, item.score, auto, final, who, when))  # type: ignore[arg-type]
    return out


def audit_final(s: Session, q: Queues) -> list[AuditVerdict]:
    """Per pair: each reviewer's latest verdict, the agreed verdict and the status."""
    history = audit_history(s)
    out = []
    for p in q.pairs:
        given = {e.reviewer: e.decision for e in history.get(p.synthetic, [])}  # latest wins
        final, status = adjudicate(given)  # type: ignore[arg-type]
        out.append(
            AuditVerdict(
                p.rank,
                p.synthetic,
                p.train,
                p.similarity,
                p.flagged,
                tuple(sorted(given.items())),
                final,
                status,
            )
        )  # type: ignore[arg-type]
    return out


def ingest_final(s: Session) -> list[IngestDecision]:
    """The latest decision on every film ever decided, including films a later ingest already
    brought back (which its review.csv no longer lists): the next ingest needs them all."""
    latest: dict[str, IngestDecisionRow] = {}
    for r in s.scalars(select(IngestDecisionRow).order_by(IngestDecisionRow.id)):
        latest[r.source_path] = r
    return [_ingest_decision(r) for r in latest.values()]


def counts(s: Session) -> dict[str, int]:
    """How many decisions each queue has received (all rows, history included)."""
    tables = {"screen": ScreenDecisionRow, "audit": AuditVerdictRow, "ingest": IngestDecisionRow}
    return {k: s.scalar(select(func.count()).select_from(t)) or 0 for k, t in tables.items()}


def export(s: Session, q: Queues, out: Path) -> None:
    """Rewrite the decision CSVs in ``out`` from the database (atomically, file by file)."""
    if q.screen:
        write_screen_decisions(out, screen_final(s, q))
    if q.pairs:
        write_audit_verdicts(out, audit_final(s, q))
    decided = ingest_final(s)
    if q.ingest or decided:
        write_ingest_decisions(out, decided)
