"""The reader-study web app: server-rendered pages for raters and the admin, plus a JSON API.

Routes (``TOKEN`` is a rater's invitation token, ``ADMIN`` the admin token) live in
:mod:`~radsynth.study.routes_rater` (``/r/TOKEN/...``: instructions, consent, questionnaire,
items, images, finish), :mod:`~radsynth.study.routes_api` (``/api/r/TOKEN/...``) and
:mod:`~radsynth.study.routes_admin` (``/admin/ADMIN/...``).

Blinding: pages and URLs carry only opaque image ids and the rater's own screen numbers; the
image-to-group key is read only by the admin export. Every response is sent with
``Cache-Control: no-store, private`` and ``Referrer-Policy: no-referrer`` (tokens live in URLs).
Hardening (body limit, per-page form tokens, CSV escape) is in :mod:`~radsynth.study.security`.

Every database call runs in a worker thread (sync routes, or ``run_in_threadpool`` from async
ones), never on the event loop. On SQLite, writers take an in-process lock before
``BEGIN IMMEDIATE``, so they queue in order instead of sleeping in SQLite's busy handler.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException

from radsynth.study import db as t
from radsynth.study import service as svc
from radsynth.study.admin_view import admin_progress
from radsynth.study.migrate import open_study, upgrade
from radsynth.study.security import (
    MAX_BODY_BYTES,
    BodyLimit,
    BodyTooLarge,
    SecurityHeaders,
    form_token,
)

__all__ = ["create_app", "admin_progress", "AppContext"]

HERE = Path(__file__).parent
SECURITY_HEADERS = {
    "Cache-Control": "no-store, private",
    "Pragma": "no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; img-src 'self'; frame-ancestors 'none'",
}


@dataclass
class AppContext:
    """What every route needs: the engine, templates, the form-token secret, the write lock."""

    engine: Engine
    templates: Jinja2Templates
    secret: str
    write_lock: threading.Lock | None  # SQLite only: one writer at a time in this process
    meta: dict[str, str]  # the study settings, fixed when the study was created

    @contextmanager
    def read(self) -> Iterator[Session]:
        with t.session_scope(self.engine, write=False) as session:
            yield session

    @contextmanager
    def write(self, durable: bool = True) -> Iterator[Session]:
        with (
            self.write_lock or nullcontext(),
            t.session_scope(self.engine, write=True, durable=durable) as s,
        ):
            yield s

    def page(self, request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        return self.templates.TemplateResponse(request, name, ctx, status_code=status)

    def error(self, request: Request, status: int, message: str) -> Response:
        """The app's own error: JSON under /api/, else the error page (with a way back).

        The page ends the message with a full stop, so one it already has (Starlette's "Too
        many fields. Maximum number of fields is 1000.") is dropped, not doubled.
        """
        message = message.rstrip(".")
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": message}, status_code=status)
        parts = request.url.path.split("/")
        back = f"/r/{parts[2]}" if status in (400, 409) and parts[1:2] == ["r"] else ""
        return self.page(request, "error.html", status, message=message, back=back)


def create_app(db_url: str, *, engine: Engine | None = None) -> FastAPI:
    """Build the app for one study database, upgrading an older schema first.

    Args:
        db_url: ``sqlite:///...`` or ``postgresql+psycopg://...``.
        engine: an existing engine to use instead of making one from ``db_url``.

    Raises:
        RadsynthError: when the database holds no study or one of a newer schema version.
    """
    if engine is None:
        engine = open_study(db_url)
    else:
        upgrade(engine)
    with t.session_scope(engine, write=False) as s:
        meta = svc.study_meta(s)
    secret = meta["csrf_secret"]
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals["csrf"] = partial(form_token, secret)
    lock = threading.Lock() if engine.dialect.name == "sqlite" else None
    ctx = AppContext(engine, templates, secret, lock, meta)
    app = FastAPI(title="radsynth reader study", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.state.engine = engine
    app.state.ctx = ctx
    _handlers(app, ctx)
    from radsynth.study import routes_admin, routes_api, routes_rater

    routes_rater.register(app, ctx)
    routes_api.register(app, ctx)
    routes_admin.register(app, ctx)
    return app


def _too_large(ctx: AppContext, scope: dict) -> Response:
    message = f"the request body is larger than {MAX_BODY_BYTES // 1024} KiB"
    if scope["path"].startswith("/api/"):
        return JSONResponse({"error": message}, status_code=413, headers=SECURITY_HEADERS)
    body = f"<!doctype html><title>Too large</title><p>{message.capitalize()}.</p>"
    return HTMLResponse(body, status_code=413, headers=SECURITY_HEADERS)


def add_request_errors(app: FastAPI, error: Callable[[Request, int, str], Response]) -> None:
    """Answer malformed requests (400, or 404 for a bad path) and HTTP errors with the app's
    own error page, ``error(request, status, message)``; the study and the review page share
    these rules."""

    @app.exception_handler(RequestValidationError)
    async def malformed(request: Request, exc: RequestValidationError) -> Response:
        where = {str(e.get("loc", ("",))[0]) for e in exc.errors()}
        status = 404 if "path" in where else 400
        return error(request, status, "this address or request is malformed")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        message = {404: "there is no such page", 405: "this page cannot be used like that"}
        return error(request, exc.status_code, message.get(exc.status_code, str(exc.detail)))


def _handlers(app: FastAPI, ctx: AppContext) -> None:
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES, reject=partial(_too_large, ctx))
    app.add_middleware(SecurityHeaders, headers=SECURITY_HEADERS)

    @app.exception_handler(svc.StudyError)
    async def study_error(request: Request, exc: svc.StudyError) -> Response:
        return ctx.error(request, exc.status, exc.message)

    @app.exception_handler(BodyTooLarge)
    async def too_large(request: Request, exc: BodyTooLarge) -> Response:
        return _too_large(ctx, request.scope)

    add_request_errors(app, ctx.error)

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request) -> HTMLResponse:
        return ctx.page(request, "error.html", message="open the invitation link you were sent")
