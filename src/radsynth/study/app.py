"""The reader-study web app: server-rendered pages for raters and the admin, plus a JSON API.

Routes (``TOKEN`` is a rater's invitation token, ``ADMIN`` the admin token):

- ``GET /r/TOKEN``: resume, i.e. redirect to the first unanswered screen (or the end page);
- ``GET|POST /r/TOKEN/item/SEQ``: one screen as an HTML page / its form submission;
- ``GET /r/TOKEN/img/IMAGE_ID``: a blinded PNG (identical headers and byte size for every image);
- ``GET /api/r/TOKEN/next``, ``GET|POST /api/r/TOKEN/item/SEQ``: the same as JSON;
- ``GET /admin/ADMIN``: progress per rater; ``GET /admin/ADMIN/export.csv``;
  ``POST /admin/ADMIN/close/RATER``: close a rater's link.

Blinding: pages and URLs carry only opaque image ids and the rater's own screen numbers; the
image-to-group key is read only by the admin export. Every response is sent with
``Cache-Control: no-store, private`` and ``Referrer-Policy: no-referrer`` (tokens live in URLs).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from radsynth.study import db as t
from radsynth.study import service as svc
from radsynth.study.export import export_csv_text

HERE = Path(__file__).parent
SECURITY_HEADERS = {
    "Cache-Control": "no-store, private",
    "Pragma": "no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; img-src 'self'; frame-ancestors 'none'",
}


def create_app(db_url: str, *, engine: Engine | None = None) -> FastAPI:
    """Build the app for one study database; refuses a database of another schema version.

    Args:
        db_url: ``sqlite:///...`` or ``postgresql+psycopg://...``.
        engine: an existing engine to use instead of making one from ``db_url``.

    Raises:
        RadsynthError: when the database holds no study or another schema version.
    """
    engine = engine or t.make_engine(db_url)
    t.check_schema(engine)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    app = FastAPI(title="radsynth reader study", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.state.engine = engine

    @contextmanager
    def transaction():  # noqa: ANN202
        with Session(engine, expire_on_commit=False) as session, session.begin():
            yield session

    def page(request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        return templates.TemplateResponse(request, name, ctx, status_code=status)

    @app.middleware("http")
    async def headers(request: Request, call_next: Callable) -> Response:
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.exception_handler(svc.StudyError)
    async def study_error(request: Request, exc: svc.StudyError) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": exc.message}, status_code=exc.status)
        parts = request.url.path.split("/")
        back = f"/r/{parts[2]}" if exc.status in (400, 409) and parts[1:2] == ["r"] else ""
        return page(request, "error.html", exc.status, message=exc.message, back=back)

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request) -> HTMLResponse:
        return page(request, "error.html", message="open the invitation link you were sent")

    # Rater pages.
    @app.get("/r/{token}")
    def resume(token: str) -> RedirectResponse:
        with transaction() as s:
            rater = svc.find_rater(s, token)
            seq = svc.next_seq(s, rater.id)
        target = f"/r/{token}/done" if seq is None else f"/r/{token}/item/{seq}"
        return RedirectResponse(target, status_code=303)

    @app.get("/r/{token}/done", response_class=HTMLResponse)
    def done(request: Request, token: str) -> HTMLResponse:
        with transaction() as s:
            rater = svc.find_rater(s, token)
            answered, total = svc.progress(s, rater.id)
        return page(request, "done.html", token=token, answered=answered, total=total)

    def render_item(request: Request, token: str, seq: int, status: int = 200, error: str = ""):  # noqa: ANN202
        with transaction() as s:
            rater = svc.find_rater(s, token)
            view = svc.open_item(s, rater, seq)
            meta = svc.study_meta(s)
        return page(
            request, "item.html", status, token=token, v=view, error=error,
            design=meta["design"], questions=svc.questions(meta), finding=meta["finding"],
        )  # fmt: skip

    @app.get("/r/{token}/item/{seq}", response_class=HTMLResponse)
    def item_page(request: Request, token: str, seq: int) -> HTMLResponse:
        return render_item(request, token, seq)

    @app.post("/r/{token}/item/{seq}")
    async def item_post(request: Request, token: str, seq: int) -> Response:
        form = await request.form()
        try:
            sub = submission_from_form(dict(form))
            await run_in_threadpool(store, token, seq, sub)
        except svc.StudyError as exc:
            if exc.status in (403, 404):
                raise
            return await run_in_threadpool(
                render_item, request, token, seq, exc.status, exc.message
            )
        return RedirectResponse(f"/r/{token}", status_code=303)

    def store(token: str, seq: int, sub: svc.Submission) -> int:
        with transaction() as s:
            return svc.submit(s, svc.find_rater(s, token), seq, sub)

    @app.get("/r/{token}/img/{image_id}")
    def image(token: str, image_id: str) -> Response:
        with transaction() as s:
            rater = svc.find_rater(s, token)
            png = s.scalar(
                select(t.Image.png)
                .join(t.ItemImage, t.ItemImage.image_id == t.Image.id)
                .join(t.Assignment, t.Assignment.item_id == t.ItemImage.item_id)
                .where(t.Image.id == image_id, t.Assignment.rater_id == rater.id)
                .limit(1)
            )
        if png is None:
            raise svc.StudyError(404, "no such image")
        return Response(content=png, media_type="image/png")

    # JSON API for raters.
    @app.get("/api/r/{token}/next")
    def api_next(token: str) -> dict:
        with transaction() as s:
            rater = svc.find_rater(s, token)
            answered, total = svc.progress(s, rater.id)
            return {"seq": svc.next_seq(s, rater.id), "answered": answered, "total": total}

    @app.get("/api/r/{token}/item/{seq}")
    def api_item(token: str, seq: int) -> dict:
        with transaction() as s:
            return svc.open_item(s, svc.find_rater(s, token), seq)

    @app.post("/api/r/{token}/item/{seq}")
    async def api_submit(request: Request, token: str, seq: int) -> dict:
        try:
            body = await request.json()
        except ValueError:
            raise svc.StudyError(400, "the request body is not JSON") from None
        sub = submission_from_json(body)
        version = await run_in_threadpool(store, token, seq, sub)
        return {"version": version}

    # Admin.
    def require_admin(s: Session, token: str) -> None:
        if not svc.is_admin(s, token):
            raise svc.StudyError(404, "not found")

    @app.get("/admin/{token}", response_class=HTMLResponse)
    def admin(request: Request, token: str) -> HTMLResponse:
        with transaction() as s:
            require_admin(s, token)
            rows = admin_progress(s)
            meta = svc.study_meta(s)
        return page(request, "admin.html", token=token, rows=rows, design=meta["design"])

    @app.get("/api/admin/{token}/progress")
    def admin_json(token: str) -> list[dict]:
        with transaction() as s:
            require_admin(s, token)
            return admin_progress(s)

    @app.get("/admin/{token}/export.csv")
    def admin_export(token: str, history: bool = False) -> Response:
        with transaction() as s:
            require_admin(s, token)
        text = export_csv_text(engine, history=history)
        disposition = {"Content-Disposition": 'attachment; filename="export.csv"'}
        return Response(text, media_type="text/csv", headers=disposition)

    @app.post("/admin/{token}/close/{rater_name}")
    def admin_close(token: str, rater_name: str) -> RedirectResponse:
        with transaction() as s:
            require_admin(s, token)
            rater = s.scalar(select(t.Rater).where(t.Rater.name == rater_name))
            if rater is None:
                raise svc.StudyError(404, f"no rater named {rater_name}")
            rater.closed = True
        return RedirectResponse(f"/admin/{token}", status_code=303)

    return app


def admin_progress(s: Session) -> list[dict]:
    """Per rater: name, kind (human/simulated), answered, total, open/closed, last answer time."""
    rows = []
    for rater in s.scalars(select(t.Rater).order_by(t.Rater.kind, t.Rater.name)):
        answered, total = svc.progress(s, rater.id)
        last = s.scalar(
            select(t.Response.answered_at)
            .where(t.Response.rater_id == rater.id)
            .order_by(t.Response.id.desc())
            .limit(1)
        )
        stamp = last.isoformat(timespec="seconds") if last else ""
        rows.append({
            "rater": rater.name, "kind": rater.kind, "answered": answered, "total": total,
            "closed": rater.closed, "last_answer": stamp,
        })  # fmt: skip
    return rows


def _int(value: Any, what: str) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise svc.StudyError(400, f"{what} must be a whole number") from None


def submission_from_form(form: dict[str, Any]) -> svc.Submission:
    """Form fields ``version``, ``pick``, ``answer``, ``rating_ID``, ``finding_ID``, ``cue_ID``."""
    if "version" not in form:
        raise svc.StudyError(400, "the form lacks its version; reload the page")
    per_image: dict[str, dict[str, Any]] = {"rating": {}, "finding": {}, "cue": {}}
    for key, value in form.items():
        prefix, _, image_id = key.partition("_")
        if prefix in per_image and image_id:
            per_image[prefix][image_id] = value
    cues = {k: str(v) for k, v in per_image["cue"].items() if str(v).strip()}
    return svc.Submission(
        version=_int(form["version"], "version"),
        picked=form.get("pick") or None,
        answer=form.get("answer") or None,
        ratings={k: _int(v, "rating") for k, v in per_image["rating"].items()},
        finding={k: str(v) for k, v in per_image["finding"].items()},
        cue=cues,
    )


def submission_from_json(body: Any) -> svc.Submission:
    """JSON ``{"version": 0, "picked": ID, "answer": ..., "ratings": {ID: 1..4}, ...}``."""
    if not isinstance(body, dict) or not isinstance(body.get("version"), int):
        raise svc.StudyError(400, "the body must be a JSON object with an integer version")
    maps = {k: body.get(k) or {} for k in ("ratings", "finding", "cue")}
    if not all(isinstance(m, dict) for m in maps.values()):
        raise svc.StudyError(400, "ratings, finding and cue must be JSON objects keyed by image id")
    for key in ("picked", "answer"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise svc.StudyError(400, f"{key} must be a string")
    return svc.Submission(
        version=body["version"], picked=body.get("picked"), answer=body.get("answer"),
        ratings=maps["ratings"], finding=maps["finding"], cue=maps["cue"],
    )  # fmt: skip
