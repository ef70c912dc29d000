"""The review web app: server-rendered pages over :mod:`radsynth.review.service`.

Built like the reader-study app (:mod:`radsynth.study.app`) and hardened by the same helpers
(:mod:`radsynth.study.security`): a 64 KiB request-body limit, a per-page form token on every
state-changing POST, Jinja2 templates with autoescaping, fixed security headers (no caching, no
referrer, no framing, scripts from this server only) and the app's own error page. The database
engine and transactions are the study's too (:func:`radsynth.study.db.make_engine`: SQLite in
WAL mode with ``BEGIN IMMEDIATE`` writers, or PostgreSQL); on SQLite writers queue on an
in-process lock. After each decision the decision files are rewritten under a second lock, from
committed state, so the last export always sees every decision.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from radsynth.errors import RadsynthError
from radsynth.review import service as svc
from radsynth.review.models import Base
from radsynth.review.queues import Queues
from radsynth.study.app import SECURITY_HEADERS, add_request_errors  # the study's rules
from radsynth.study.db import make_engine, session_scope
from radsynth.study.security import (
    MAX_BODY_BYTES,
    BodyLimit,
    BodyTooLarge,
    SecurityHeaders,
    form_token,
)

HERE = Path(__file__).parent


@dataclass
class ReviewContext:
    """What every route needs: the queues, the database, templates and the form secret."""

    queues: Queues
    out: Path  # the review folder: the decision CSVs (and review.db on SQLite)
    engine: Engine
    templates: Jinja2Templates
    secret: str
    write_lock: threading.Lock | None  # SQLite only: one writer at a time in this process
    export_lock: threading.Lock  # one export at a time, each after its decision's commit

    @contextmanager
    def read(self) -> Iterator[Session]:
        with session_scope(self.engine, write=False) as s:
            yield s

    @contextmanager
    def write(self) -> Iterator[Session]:
        with self.write_lock or nullcontext(), session_scope(self.engine, write=True) as s:
            yield s

    def export(self) -> None:
        """Rewrite the decision files from the committed decisions."""
        with self.export_lock, self.read() as s:
            svc.export(s, self.queues, self.out)

    def page(self, request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        return self.templates.TemplateResponse(request, name, ctx, status_code=status)

    def error(self, request: Request, status: int, message: str) -> Response:
        return self.page(request, "error.html", status, message=message)


def default_url(out: Path) -> str:
    """The review folder's own SQLite database."""
    return f"sqlite:///{(out / 'review.db').resolve()}"


def open_context(queues: Queues, out: Path, db_url: str | None = None) -> ReviewContext:
    """Create the review folder and database tables, write the decision files once, and return
    the context the routes use.

    Raises:
        RadsynthError: when ``out`` is a file, or for a bad database URL.
    """
    if out.exists() and not out.is_dir():
        raise RadsynthError(f"output path {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    engine = make_engine(db_url or default_url(out))
    Base.metadata.create_all(engine)  # adds only missing tables: older review.db files open
    lock = threading.Lock() if engine.dialect.name == "sqlite" else None
    with lock or nullcontext(), session_scope(engine, write=True) as s:
        secret = svc.form_secret(s)
    templates = Jinja2Templates(directory=str(HERE / "templates"))  # autoescapes .html
    templates.env.globals["csrf"] = partial(form_token, secret)
    ctx = ReviewContext(queues, out, engine, templates, secret, lock, threading.Lock())
    ctx.export()
    return ctx


def create_app(ctx: ReviewContext) -> FastAPI:
    """The review app over an opened context (:func:`open_context`)."""
    app = FastAPI(title="radsynth review", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.state.ctx = ctx
    _handlers(app, ctx)
    from radsynth.review import routes

    routes.register(app, ctx)
    return app


def _too_large(scope: dict) -> Response:
    message = f"The request body is larger than {MAX_BODY_BYTES // 1024} KiB."
    body = f"<!doctype html><title>Too large</title><p>{message}</p>"
    return HTMLResponse(body, status_code=413, headers=SECURITY_HEADERS)


def _handlers(app: FastAPI, ctx: ReviewContext) -> None:
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES, reject=_too_large)
    app.add_middleware(SecurityHeaders, headers=SECURITY_HEADERS)

    @app.exception_handler(svc.ReviewError)
    async def review_error(request: Request, exc: svc.ReviewError) -> Response:
        return ctx.error(request, exc.status, exc.message)

    @app.exception_handler(BodyTooLarge)
    async def too_large(request: Request, exc: BodyTooLarge) -> Response:
        return _too_large(request.scope)

    add_request_errors(app, ctx.error)
