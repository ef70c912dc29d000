"""Admin pages (``/admin/ADMIN/...``): dashboard, CSV downloads, link actions with a log.

- ``GET /admin/ADMIN``: per-rater progress, time per item, attention checks, practice, outliers,
  questionnaire, links (unsealed with the admin token, see :mod:`~radsynth.study.links`), log;
- ``GET export.csv`` / ``links.csv``: spreadsheet downloads, formula cells escaped;
- ``GET close/RATER`` asks to confirm, ``POST close/RATER`` closes; ``POST reopen/RATER``,
  ``POST reissue/RATER`` (shows the new link once), ``POST add`` (``count`` new raters).

An unknown admin token gets the same 404 as any unknown page.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from radsynth.errors import RadsynthError
from radsynth.records._csv import csv_text
from radsynth.study import links
from radsynth.study import service as svc
from radsynth.study.admin_view import admin_log, admin_progress
from radsynth.study.export import COLUMNS, export_rows
from radsynth.study.forms import parse_int
from radsynth.study.routes_rater import read_form
from radsynth.study.security import escape_formula


def spreadsheet_csv(rows: list[dict], columns: tuple[str, ...] | list[str]) -> str:
    """CSV for people to open in a spreadsheet: every formula-like text cell escaped."""
    return csv_text(columns, ({k: escape_formula(v) for k, v in row.items()} for row in rows))


def _download(text: str, name: str) -> Response:
    disposition = {"Content-Disposition": f'attachment; filename="{name}"'}
    return Response(text, media_type="text/csv", headers=disposition)


def register(app: FastAPI, ctx: Any) -> None:
    """Add the admin routes to ``app``."""

    def require_admin(s: Any, token: str) -> dict[str, str]:
        meta = svc.study_meta(s)
        if not svc.is_admin(s, token):
            raise svc.StudyError(404, "there is no such page")
        return meta

    def dashboard(request: Request, token: str, new_link: dict | None = None) -> HTMLResponse:
        with ctx.read() as s:
            meta = require_admin(s, token)
            rows = admin_progress(s)
            urls = {r["rater"]: r["url"] for r in links.link_rows(s, token, meta["base_url"])}
            log = admin_log(s)
        for row in rows:
            row["url"] = urls.get(row["rater"], "")
        return ctx.page(
            request,
            "admin.html",
            token=token,
            rows=rows,
            log=log,
            design=meta["design"],
            new_link=new_link,
        )

    @app.get("/admin/{token}", response_class=HTMLResponse)
    def admin(request: Request, token: str) -> HTMLResponse:
        return dashboard(request, token)

    @app.get("/api/admin/{token}/progress")
    def admin_json(token: str) -> list[dict]:
        with ctx.read() as s:
            require_admin(s, token)
            return admin_progress(s)

    @app.get("/admin/{token}/export.csv")
    def admin_export(token: str, history: bool = False) -> Response:
        with ctx.read() as s:
            require_admin(s, token)
            rows = export_rows(s, history=history)
        return _download(spreadsheet_csv(rows, COLUMNS), "export.csv")

    @app.get("/admin/{token}/links.csv")
    def admin_links(token: str) -> Response:
        with ctx.read() as s:
            meta = require_admin(s, token)
            rows = links.link_rows(s, token, meta["base_url"])
        return _download(spreadsheet_csv(rows, ("rater", "kind", "closed", "url")), "links.csv")

    @app.get("/admin/{token}/close/{rater}", response_class=HTMLResponse)
    def close_confirm(request: Request, token: str, rater: str) -> HTMLResponse:
        with ctx.read() as s:
            require_admin(s, token)
            if rater not in {r["rater"] for r in admin_progress(s)}:
                raise svc.StudyError(404, f"no rater named {rater}")
        return ctx.page(request, "confirm.html", token=token, rater=rater)

    def check_admin(token: str) -> None:
        with ctx.read() as s:
            require_admin(s, token)

    async def act(request: Request, token: str, action: str, rater: str = "") -> Response:
        await run_in_threadpool(check_admin, token)  # an unknown token is a 404, form or not
        form = await read_form(ctx, request)

        def run() -> dict | None:
            with ctx.write() as s:
                meta = require_admin(s, token)
                try:
                    if action == "close":
                        if form.get("confirm") != "yes":
                            raise svc.StudyError(400, "closing a link needs confirmation")
                        links.set_closed(s, rater, True, "web")
                    elif action == "reopen":
                        links.set_closed(s, rater, False, "web")
                    elif action == "reissue":
                        new = links.reissue(s, rater, token, "web")
                        return {"rater": rater, "url": f"{meta['base_url'].rstrip('/')}/r/{new}"}
                    else:
                        count = parse_int(
                            form.get("count", "1"), 1, 100, "add 1 to 100 raters at a time"
                        )
                        links.add_raters(s, count, token, "web")
                except RadsynthError as exc:
                    raise svc.StudyError(404, str(exc)) from None
            return None

        made = await run_in_threadpool(run)
        if made is None:
            return RedirectResponse(f"/admin/{token}", status_code=303)
        return await run_in_threadpool(dashboard, request, token, made)

    @app.post("/admin/{token}/close/{rater}")
    async def close(request: Request, token: str, rater: str) -> Response:
        return await act(request, token, "close", rater)

    @app.post("/admin/{token}/reopen/{rater}")
    async def reopen(request: Request, token: str, rater: str) -> Response:
        return await act(request, token, "reopen", rater)

    @app.post("/admin/{token}/reissue/{rater}")
    async def reissue(request: Request, token: str, rater: str) -> Response:
        return await act(request, token, "reissue", rater)

    @app.post("/admin/{token}/add")
    async def add(request: Request, token: str) -> Response:
        return await act(request, token, "add")
