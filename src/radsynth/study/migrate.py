"""Schema versions of the study database: create at the current version, upgrade older ones.

A study runs for weeks, so a ``pip install -U`` between two sessions must not lock its raters
out. Every database records its version in ``schema_version``; :func:`open_study` upgrades an
older database step by step (``MIGRATIONS[v]`` takes version ``v`` to ``v + 1``) and refuses a
newer one. All steps and the version bump run in one transaction (SQLite and PostgreSQL both have
transactional DDL), so an upgrade is applied whole or not at all; a SQLite file is first copied
to ``study.db.schema-vN.bak`` (mode 0600).

A step creates its tables from frozen definitions kept in this module, never from the current
models, so that a later step may change them again. Adding a column is one line of
:data:`MIGRATIONS`; a new version appends one function.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Callable

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    inspect,
    select,
    text,
)
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeEngine

from radsynth.errors import RadsynthError
from radsynth.study.db import create_private_file, make_engine, sqlite_path
from radsynth.study.models import SCHEMA_VERSION, Base, Meta, SchemaVersion


def _add_column(conn: Connection, table: str, column: str, kind: TypeEngine) -> None:
    """``ALTER TABLE table ADD COLUMN column kind`` (nullable), typed for this dialect."""
    ddl = kind.compile(dialect=conn.dialect)
    prep = conn.dialect.identifier_preparer
    conn.execute(text(f"ALTER TABLE {prep.quote(table)} ADD COLUMN {prep.quote(column)} {ddl}"))


def _v2_tables() -> MetaData:
    """The tables schema version 2 added, frozen as they were in version 2."""
    md = MetaData()
    rater = Table("rater", md, Column("id", Integer, primary_key=True))
    Table(
        "questionnaire",
        md,
        Column("rater_id", Integer, ForeignKey(rater.c.id), primary_key=True),
        Column("role", String(64), nullable=False),
        Column("years", Integer, nullable=False),
        Column("subspecialty", String(128), nullable=False),
        Column("answered_at", DateTime(timezone=True), nullable=False),
    )
    Table(
        "visit",
        md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("rater_id", Integer, ForeignKey(rater.c.id), nullable=False),
        Column("seq", Integer, nullable=False),
        Column("opened_at", DateTime(timezone=True), nullable=False),
    )
    Table(
        "admin_log",
        md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("at", DateTime(timezone=True), nullable=False),
        Column("action", String(16), nullable=False),
        Column("rater", String(64), nullable=False),
        Column("via", String(16), nullable=False),
    )
    return md


#: Settings that version 2 added to ``meta``, with the values that keep a version-1 study
#: behaving as before (going back to edit was allowed; no practice, consent or questionnaire).
V1_SETTINGS = {
    "allow_back": "1",
    "practice": "0",
    "consent": "",
    "questionnaire": "0",
    "base_url": "http://127.0.0.1:8000",
}


def _v1_to_v2(conn: Connection) -> None:
    _add_column(conn, "image", "label", String(64))
    _add_column(conn, "image", "original_id", String(32))
    for column in ("started_at", "consented_at"):
        _add_column(conn, "rater", column, DateTime(timezone=True))
    _add_column(conn, "rater", "token_sealed", String(160))
    md = _v2_tables()
    for name in ("questionnaire", "visit", "admin_log"):
        md.tables[name].create(conn)
    settings = {**V1_SETTINGS, "csrf_secret": secrets.token_hex(32)}
    for key, value in settings.items():
        conn.execute(text("INSERT INTO meta (key, value) VALUES (:k, :v)"), {"k": key, "v": value})
    # A version-1 study's raters have been working: they saw what stood for instructions.
    conn.execute(text("UPDATE rater SET started_at = created_at"))


#: ``MIGRATIONS[v]`` upgrades a database from version ``v`` to ``v + 1``.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {1: _v1_to_v2}


def create_schema(engine: Engine) -> None:
    """Create all tables in an empty database and record :data:`SCHEMA_VERSION`.

    Raises:
        RadsynthError: when the database already holds tables or cannot be opened.
    """
    try:
        existing = inspect(engine).get_table_names()
    except OperationalError as exc:
        raise RadsynthError(f"cannot open database: {exc.orig}".splitlines()[0]) from None
    if existing:
        raise RadsynthError("the database already holds tables; use an empty database per study")
    Base.metadata.create_all(engine)
    with Session(engine) as session, session.begin():
        session.add(SchemaVersion(version=SCHEMA_VERSION))
        session.add(Meta(key="csrf_secret", value=secrets.token_hex(32)))


def read_version(engine: Engine) -> int:
    """The schema version a database records.

    Raises:
        RadsynthError: when it holds no reader study (no or an ambiguous version table).
    """
    try:
        with Session(engine) as session:
            found = session.scalars(select(SchemaVersion.version)).all()
    except (OperationalError, ProgrammingError) as exc:
        msg = str(getattr(exc, "orig", exc)).splitlines()[0]
        raise RadsynthError(f"database holds no reader study ({msg})") from None
    if len(found) != 1:
        raise RadsynthError(f"database holds no single schema version (found {found})")
    return found[0]


def _backup_sqlite(engine: Engine, version: int) -> None:
    path = sqlite_path(engine.url.render_as_string(hide_password=False))
    if path is None:
        return
    backup = path.with_name(f"{path.name}.schema-v{version}.bak")
    if backup.exists():
        raise RadsynthError(f"{backup} already exists; move it away before upgrading again")
    create_private_file(backup)
    src, dst = sqlite3.connect(path), sqlite3.connect(backup)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def upgrade(engine: Engine) -> int:
    """Bring a study database up to :data:`SCHEMA_VERSION`; returns the version it had.

    Concurrent upgraders serialise on the write lock (SQLite ``BEGIN IMMEDIATE``, PostgreSQL
    ``LOCK TABLE``) and re-read the version inside it, so each step runs once.
    """
    before = read_version(engine)
    if before > SCHEMA_VERSION:
        raise RadsynthError(
            f"database schema version {before} is newer than this radsynth's version "
            f"{SCHEMA_VERSION}; upgrade radsynth (pip install -U radsynth)"
        )
    if before == SCHEMA_VERSION:
        return before
    if before not in MIGRATIONS:
        raise RadsynthError(f"no upgrade from database schema version {before}")
    _backup_sqlite(engine, before)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("LOCK TABLE schema_version IN ACCESS EXCLUSIVE MODE"))
        version = conn.execute(text("SELECT version FROM schema_version")).scalar_one()
        while version < SCHEMA_VERSION:
            MIGRATIONS[version](conn)
            version += 1
        conn.execute(text("UPDATE schema_version SET version = :v"), {"v": version})
    return before


def open_study(url: str) -> Engine:
    """An engine on a study database, upgraded to :data:`SCHEMA_VERSION` if it was older.

    Raises:
        RadsynthError: no study there, or one of a newer schema version.
    """
    engine = make_engine(url)
    try:
        upgrade(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine
