"""The reader-study database: engines, sessions, file permissions and the database password.

The tables are in :mod:`radsynth.study.models` (re-exported here, so ``db.Image`` works) and
their upgrades in :mod:`radsynth.study.migrate`.

SQLite runs in WAL mode. A transaction that writes starts with ``BEGIN IMMEDIATE`` (so
concurrent writers queue for the lock instead of failing on a read-to-write upgrade); a read-only
one starts with a plain deferred ``BEGIN`` and never waits for writers. Answers are committed
with ``synchronous=FULL`` (fsync before the rater hears "saved"). The database file is
created mode 0600 before SQLite opens it, and SQLite gives its ``-wal`` and ``-shm`` files the
mode of the database file.

A PostgreSQL password never reaches ``config.json``, ``manifest.json`` or the logs: the URL is
recorded without it, and the password is read back from the environment variable
:data:`PASSWORD_ENV` or from the study's ``db-password`` file (mode 0600).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session

from radsynth.errors import RadsynthError
from radsynth.io import read_json
from radsynth.study.models import (
    SCHEMA_VERSION,
    AdminLog,
    Assignment,
    Base,
    Image,
    Item,
    ItemImage,
    Meta,
    Questionnaire,
    Rater,
    Rating,
    Response,
    SchemaVersion,
    Visit,
    token_hash,
    utcnow,
)

__all__ = [
    "SCHEMA_VERSION",
    "AdminLog",
    "Assignment",
    "Base",
    "Image",
    "Item",
    "ItemImage",
    "Meta",
    "Questionnaire",
    "Rater",
    "Rating",
    "Response",
    "SchemaVersion",
    "Visit",
    "token_hash",
    "utcnow",
    "make_engine",
    "session_scope",
    "resolve_url",
    "redact_url",
    "PASSWORD_ENV",
    "PASSWORD_FILE",
    "sqlite_path",
    "create_private_file",
]

#: Environment variable holding the PostgreSQL password of the study database.
PASSWORD_ENV = "RADSYNTH_STUDY_DB_PASSWORD"
#: File in the study folder holding that password (mode 0600), written by ``study create``.
PASSWORD_FILE = "db-password"
_WRITE = "radsynth_write"  # execution option: this transaction writes (BEGIN IMMEDIATE)
_DURABLE = "radsynth_durable"  # execution option: fsync the commit (SQLite synchronous=FULL)


def sqlite_path(url: str) -> Path | None:
    """The database file of a ``sqlite:///PATH`` URL, or None (memory or another database)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def create_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists; make an existing one 0600 too."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        os.close(fd)
    except FileExistsError:
        pass
    for suffix in ("", "-wal", "-shm"):
        part = path.with_name(path.name + suffix)
        if part.exists() and part.stat().st_mode & 0o077 and os.access(part, os.W_OK):
            os.chmod(part, 0o600)


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
        options = conn.get_execution_options()
        durable = options.get(_DURABLE, True)
        conn.exec_driver_sql(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get(_WRITE, True) else "BEGIN")


def make_engine(url: str) -> Engine:
    """An engine for ``sqlite:///path`` (WAL, file made 0600) or ``postgresql+psycopg://...``.

    Raises:
        RadsynthError: for a URL that is neither (the message never shows a password).
    """
    try:
        if url.startswith("sqlite"):
            path = sqlite_path(url)
            if path is not None and path.parent.is_dir():
                create_private_file(path)
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
    except ArgumentError:  # its message would quote the URL, password and all
        raise RadsynthError(f"bad database URL {redact_url(url)!r}") from None
    except ImportError as exc:
        raise RadsynthError(f"database driver missing for {redact_url(url)!r}: {exc}") from None
    raise RadsynthError(
        f"database URL must start with sqlite:// or postgresql+psycopg://: {redact_url(url)}"
    )


@contextmanager
def session_scope(engine: Engine, *, write: bool, durable: bool = True) -> Iterator[Session]:
    """One transaction, committed on success: ``write=False`` for read-only work (on SQLite a
    deferred BEGIN that never waits for writers), ``write=True`` for anything that writes.

    ``durable=False`` (SQLite) commits without an fsync (``synchronous=NORMAL`` in WAL mode):
    the commit survives a crash of the server process but may be lost with the machine's power
    until the next durable commit, which fsyncs the log up to and including it. The app uses it
    only to record screen visits, never for answers (an fsync costs ~7 ms on the test machine,
    and every screen opening would otherwise pay one under the write lock).
    """
    with Session(engine, expire_on_commit=False) as session:
        # Begins the transaction.
        session.connection(execution_options={_WRITE: write, _DURABLE: durable})
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        session.commit()


def redact_url(url: str) -> str:
    """The URL without its password (for config.json, manifest.json, messages and logs)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return "<unparseable database URL>"
    # URL.set(password=None) would keep the password: None there means "unchanged".
    return parsed._replace(password=None).render_as_string(hide_password=False)


def url_password(url: str) -> str | None:
    """The password written in a database URL, if any."""
    try:
        return make_url(url).password
    except ArgumentError:
        return None


def _read_password_file(path: Path) -> str:
    if path.stat().st_mode & 0o077:
        raise RadsynthError(f"{path} must be readable by its owner only (chmod 600 {path})")
    return path.read_text().rstrip("\n")


def with_password(url: str, study: Path | None) -> str:
    """Fill in a PostgreSQL URL's missing password from :data:`PASSWORD_ENV` or the study's
    :data:`PASSWORD_FILE`; other URLs come back unchanged."""
    parsed: URL = make_url(url)
    if parsed.get_backend_name() != "postgresql" or parsed.password or not parsed.username:
        return url
    password = os.environ.get(PASSWORD_ENV)
    if password is None and study is not None and (study / PASSWORD_FILE).is_file():
        password = _read_password_file(study / PASSWORD_FILE)
    if not password:
        return url
    return parsed.set(password=password).render_as_string(hide_password=False)


def resolve_url(study: Path, db: str | None) -> str:
    """The database of a study folder: ``db`` if given, else the URL its config.json recorded,
    else ``sqlite:///STUDY/study.db``; a PostgreSQL password comes from :func:`with_password`.

    Raises:
        RadsynthError: when the folder holds no study and no URL is given.
    """
    if db:
        return with_password(db, study)
    config = study / "config.json"
    if config.is_file():
        recorded = read_json(config, "study config").get("db")
        if recorded:
            return with_password(recorded, study)
    path = study / "study.db"
    if not path.is_file():
        raise RadsynthError(f"no study found in {study} (no study.db); run 'radsynth study create'")
    return f"sqlite:///{path.resolve()}"
