"""The reader-study database: SQLAlchemy 2 models, engine set-up and the schema version check.

One database holds one study. The key that links an image to its group (``Image.group``) lives
only here, on the server; pages and URLs carry opaque image ids.

Answers are append-only: every submission adds a :class:`Response` row (with its per-image
:class:`Rating` rows) and never updates one, so edits keep their history and the latest
submission for an item wins. Each :class:`Assignment` carries a ``version`` that a submission must
quote; an accepted submission bumps it, so a replayed or stale form is refused.

SQLite runs in WAL mode and every transaction starts with ``BEGIN IMMEDIATE``, so concurrent
writers wait on ``busy_timeout`` instead of failing on a read-to-write lock upgrade.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import (
    Boolean,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    select,
)
from sqlalchemy.exc import ArgumentError, OperationalError, ProgrammingError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from radsynth.errors import RadsynthError
from radsynth.io import read_json

#: Bump on any change to the tables below; a server refuses a database of another version.
SCHEMA_VERSION = 1


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


class Item(Base):
    """One screen of the study: a quartet (1 + k images) or a single image."""

    __tablename__ = "item"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # 1..n, in creation order
    kind: Mapped[str] = mapped_column(String(16))  # "main" | "attention" | "repeat"
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


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # noqa: ANN001
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own BEGIN is deferred).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # noqa: ANN001
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str) -> Engine:
    """An engine for ``sqlite:///path`` (WAL) or ``postgresql+psycopg://...``.

    Raises:
        RadsynthError: for a URL that is neither.
    """
    try:
        if url.startswith("sqlite"):
            engine = create_engine(
                url,
                connect_args={"check_same_thread": False, "timeout": 30},
                pool_size=8,
                max_overflow=16,
            )
            _sqlite_setup(engine)
            return engine
        if url.startswith("postgresql"):
            return create_engine(url, pool_size=8, max_overflow=16, pool_pre_ping=True)
    except (ArgumentError, ImportError) as exc:
        raise RadsynthError(f"bad database URL {url!r}: {exc}".splitlines()[0]) from None
    raise RadsynthError(f"database URL must start with sqlite:// or postgresql+psycopg://: {url}")


def create_schema(engine: Engine) -> None:
    """Create all tables in an empty database and record :data:`SCHEMA_VERSION`.

    Raises:
        RadsynthError: when the database already holds a study.
    """
    from sqlalchemy import inspect
    from sqlalchemy.orm import Session

    try:
        existing = inspect(engine).get_table_names()
    except OperationalError as exc:
        raise RadsynthError(f"cannot open database: {exc.orig}".splitlines()[0]) from None
    if existing:
        raise RadsynthError("the database already holds tables; use an empty database per study")
    Base.metadata.create_all(engine)
    with Session(engine) as session, session.begin():
        session.add(SchemaVersion(version=SCHEMA_VERSION))


def check_schema(engine: Engine) -> None:
    """Refuse a database whose schema version differs from this code's.

    Raises:
        RadsynthError: missing study tables or a version mismatch (one line, both versions).
    """
    from sqlalchemy.orm import Session

    try:
        with Session(engine) as session:
            found = session.scalars(select(SchemaVersion.version)).all()
    except (OperationalError, ProgrammingError) as exc:
        msg = str(getattr(exc, "orig", exc)).splitlines()[0]
        raise RadsynthError(f"database holds no reader study ({msg})") from None
    if found != [SCHEMA_VERSION]:
        raise RadsynthError(
            f"database schema version {found} does not match this radsynth's version "
            f"{SCHEMA_VERSION}; export the answers with the radsynth that created the study"
        )


def resolve_url(study: Path, db: str | None) -> str:
    """The database of a study folder: ``db`` if given, else the URL its config.json recorded,
    else ``sqlite:///STUDY/study.db``.

    Raises:
        RadsynthError: when the folder holds no study and no URL is given.
    """
    if db:
        return db
    config = study / "config.json"
    if config.is_file():
        recorded = read_json(config, "study config").get("db")
        if recorded:
            return recorded
    path = study / "study.db"
    if not path.is_file():
        raise RadsynthError(f"no study found in {study} (no study.db); run 'radsynth study create'")
    return f"sqlite:///{path.resolve()}"
