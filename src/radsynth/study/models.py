"""The reader-study database tables (SQLAlchemy 2 models), at schema version :data:`SCHEMA_VERSION`.

One database holds one study. The key that links an image to its group (``Image.group``) lives
only here, on the server; pages and URLs carry opaque image ids.

Answers are append-only: every submission adds a :class:`Response` row (with its per-image
:class:`Rating` rows) and never updates one, so edits keep their history and the latest
submission for an item wins. Each :class:`Assignment` carries a ``version`` that a submission must
quote; an accepted submission bumps it, so a replayed or stale form is refused.

Schema history (each step is a migration in :mod:`radsynth.study.migrate`):

- 1: the first release;
- 2: per-image class ``Image.label`` (conditional generation) and ``Image.original_id`` (repeat
  images re-encoded under new ids); rater ``started_at``/``consented_at``/``token_sealed``;
  tables ``questionnaire``, ``visit`` and ``admin_log``.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

#: The version this code writes; older databases are migrated on open, newer ones refused.
SCHEMA_VERSION = 2


def utcnow() -> datetime:
    """The server's clock in UTC (all stored times come from here, never from the browser)."""
    return datetime.now(UTC)


def token_hash(token: str) -> str:
    """sha256 of an invitation token: the database stores only hashes, never the tokens."""
    return hashlib.sha256(token.encode()).hexdigest()


class Base(DeclarativeBase):
    pass


class SchemaVersion(Base):
    __tablename__ = "schema_version"
    version: Mapped[int] = mapped_column(Integer, primary_key=True)


class Meta(Base):
    """Study-wide settings as key/value text (design, questions, admin token hash, ...)."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Image(Base):
    """One re-encoded image. ``group`` is the blinding key and never leaves the server."""

    __tablename__ = "image"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # opaque random id
    group: Mapped[str] = mapped_column(String(128))  # "real", a synthetic set name, "attention"
    source: Mapped[str] = mapped_column(Text)  # source path relative to its input folder
    source_sha256: Mapped[str] = mapped_column(String(64))
    png: Mapped[bytes] = mapped_column(LargeBinary)
    # v2: the image's class (e.g. NORMAL/PNEUMONIA) for class-conditional studies; server only.
    label: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # v2: for an image of a repeat item, the id of the same picture in the original item.
    original_id: Mapped[str | None] = mapped_column(String(32), nullable=True)


class Item(Base):
    """One screen of the study: a quartet (1 + k images) or a single image."""

    __tablename__ = "item"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # 1..n, in creation order
    kind: Mapped[str] = mapped_column(String(16))  # main | attention | repeat | practice
    repeat_of: Mapped[int | None] = mapped_column(ForeignKey("item.id"), nullable=True)


class ItemImage(Base):
    __tablename__ = "item_image"
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)  # 1-based, left to right
    image_id: Mapped[str] = mapped_column(ForeignKey("image.id"))


class Rater(Base):
    __tablename__ = "rater"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # "human" | "simulated"
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    closed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # v2: instructions read, consent given (None: not yet), and the link sealed for the admin.
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    consented_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    token_sealed: Mapped[str | None] = mapped_column(String(160), nullable=True)


class Assignment(Base):
    """Item ``item_id`` is the ``seq``-th screen of a rater (order seeded per rater)."""

    __tablename__ = "assignment"
    rater_id: Mapped[int] = mapped_column(ForeignKey("rater.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)  # 1-based
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"))
    version: Mapped[int] = mapped_column(Integer, default=0)  # accepted submissions so far
    opened_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    __table_args__ = (UniqueConstraint("rater_id", "item_id"),)


class Response(Base):
    """One accepted submission (append-only; the highest ``version`` per assignment wins)."""

    __tablename__ = "response"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rater_id: Mapped[int] = mapped_column(ForeignKey("rater.id"))
    seq: Mapped[int] = mapped_column(Integer)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"))
    version: Mapped[int] = mapped_column(Integer)  # 1 for the first answer, 2 after one edit...
    picked: Mapped[str | None] = mapped_column(String(32), nullable=True)  # image id (quartet)
    answer: Mapped[str | None] = mapped_column(String(16), nullable=True)  # real|fake|unsure
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    answered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (UniqueConstraint("rater_id", "seq", "version"),)


class Rating(Base):
    """Per-image part of a response: realism rating 1-4 and the optional questions."""

    __tablename__ = "rating"
    response_id: Mapped[int] = mapped_column(ForeignKey("response.id"), primary_key=True)
    image_id: Mapped[str] = mapped_column(ForeignKey("image.id"), primary_key=True)
    rating: Mapped[int] = mapped_column(Integer)
    finding: Mapped[str | None] = mapped_column(String(8), nullable=True)  # "yes" | "no"
    cue: Mapped[str | None] = mapped_column(Text, nullable=True)


class Questionnaire(Base):
    """v2: the optional reader questionnaire, one row per rater."""

    __tablename__ = "questionnaire"
    rater_id: Mapped[int] = mapped_column(ForeignKey("rater.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(64))
    years: Mapped[int] = mapped_column(Integer)  # years of experience reading radiographs
    subspecialty: Mapped[str] = mapped_column(String(128))
    answered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Visit(Base):
    """v2: every opening of a screen (a screen may be visited again when going back is allowed)."""

    __tablename__ = "visit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rater_id: Mapped[int] = mapped_column(ForeignKey("rater.id"))
    seq: Mapped[int] = mapped_column(Integer)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AdminLog(Base):
    """v2: what the admin did (add, close, reopen, reissue), when, and to which rater."""

    __tablename__ = "admin_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    action: Mapped[str] = mapped_column(String(16))
    rater: Mapped[str] = mapped_column(String(64))
    via: Mapped[str] = mapped_column(String(16))  # "web" | "cli"
