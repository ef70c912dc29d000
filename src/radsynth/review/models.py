"""The review database (SQLAlchemy 2 models): every decision ever made, append-only.

A decision is never updated or deleted: a changed mind adds a row, the latest row per image
(per reviewer, for audit verdicts) is the one that stands, and the earlier rows are the history
the page shows. The ``screen_decision`` and ``audit_verdict`` tables keep the columns of the
first review page (raw SQLite), so its ``review.db`` files open unchanged; times are UTC ISO
text, as they were.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import CheckConstraint, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow_text() -> str:
    """The server's clock as UTC ISO text (stored times never come from the browser)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


class Base(DeclarativeBase):
    pass


class ReviewMeta(Base):
    """Key/value settings of one review database (the form-token secret)."""

    __tablename__ = "review_meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class ScreenDecisionRow(Base):
    """One reviewer's keep/exclude decision on one screened image."""

    __tablename__ = "screen_decision"
    __table_args__ = (CheckConstraint("decision IN ('keep', 'exclude')"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    image: Mapped[str] = mapped_column(Text)  # as screen.csv names it
    reviewer: Mapped[str] = mapped_column(Text)
    decision: Mapped[str] = mapped_column(Text)
    auto_flagged: Mapped[int] = mapped_column(Integer)  # the screen's flag when decided
    decided_at: Mapped[str] = mapped_column(Text)


class AuditVerdictRow(Base):
    """One reviewer's verdict on one audit pair."""

    __tablename__ = "audit_verdict"
    __table_args__ = (CheckConstraint("verdict IN ('memorized', 'not')"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    synthetic: Mapped[str] = mapped_column(Text)  # as pairs.csv names it
    train: Mapped[str] = mapped_column(Text)
    reviewer: Mapped[str] = mapped_column(Text)
    verdict: Mapped[str] = mapped_column(Text)
    decided_at: Mapped[str] = mapped_column(Text)


class IngestDecisionRow(Base):
    """One reviewer's decision on one film of ingest's review.csv."""

    __tablename__ = "ingest_decision"
    __table_args__ = (CheckConstraint("final IN ('keep', 'exclude')"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source_path: Mapped[str] = mapped_column(Text)  # as review.csv names it
    source_sha256: Mapped[str] = mapped_column(String(64))
    final: Mapped[str] = mapped_column(String(16))
    invert: Mapped[int] = mapped_column(Integer)
    rotation_deg: Mapped[int] = mapped_column(Integer)
    mirror: Mapped[int] = mapped_column(Integer)
    reviewer: Mapped[str] = mapped_column(Text)
    decided_at: Mapped[str] = mapped_column(Text)
