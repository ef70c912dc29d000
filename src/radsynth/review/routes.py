"""The review pages: ``/`` (reviewer id), ``/start``, one page per queue (``/screen``, ``/audit``,
``/ingest``) with its ``/decide`` POST, ``/disagreements`` and the images.

Every POST must carry its page's form token (:func:`radsynth.study.security.form_token`), and a
screening or ingest decision the id of the latest decision the page showed (``seen``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from radsynth.data.review_decisions import CHOICES
from radsynth.review import service as svc
from radsynth.study.security import form_token_ok

PAGE_SIZE = 50  # items per page of a queue
ANCHOR_RE = re.compile(r"item-[0-9]{1,6}")
CHOICE_KEYS = {
    "as_is": "1",
    "inverted": "2",
    "mirrored": "3",
    "rotated": "4",
    "inverted_rotated": "5",
    "exclude": "0",
}


def _page_of(items: tuple, page: int) -> tuple[tuple, bool]:
    """The items of page ``page`` and whether a next page exists."""
    return items[page * PAGE_SIZE : (page + 1) * PAGE_SIZE], (page + 1) * PAGE_SIZE < len(items)


def ingest_choices(rotation_deg: int) -> list[tuple[str, str, str]]:
    """The (choice, label, key) buttons for a film: rotations only where the checks suggest
    one. Each choice keeps its key on every film."""
    return [
        (name, label, CHOICE_KEYS[name])
        for name, (label, _, rotate, _) in CHOICES.items()
        if rotation_deg or not rotate
    ]


def _safe_file(root: Path | None, rel: str) -> Path:
    if root is None:
        raise svc.ReviewError(404, "no such image")
    path = (root / rel).resolve()
    if not path.is_relative_to(root.resolve()) or not path.is_file():
        raise svc.ReviewError(404, "no such image")
    return path


async def read_form(ctx: Any, request: Request) -> dict[str, Any]:
    """The posted form with a valid reviewer id, refused (403) without this page's token."""
    form = dict(await request.form())
    if not form_token_ok(ctx.secret, request.url.path, form.pop("csrf", None)):
        raise svc.ReviewError(403, "this form did not come from this review page; reload it")
    form["reviewer"] = svc.check_reviewer(form.get("reviewer"))
    return form


def _back(queue: str, form: dict[str, Any], anchor: str) -> RedirectResponse:
    """Back to the queue page the form came from, at the item decided (``#item-N``)."""
    page = str(form.get("page", "0"))
    query = urlencode({"reviewer": form["reviewer"], "page": page if page.isdigit() else "0"})
    fragment = f"#{anchor}" if ANCHOR_RE.fullmatch(anchor) else ""
    return RedirectResponse(f"/{queue}?{query}{fragment}", status_code=303)


def register(app: FastAPI, ctx: Any) -> None:  # noqa: C901 - one closure per route
    """Add the review routes to ``app``."""
    q = ctx.queues
    screen_names = {i.image for i in q.screen}
    ranks = {p.rank for p in q.pairs}
    review_images = {i.review_image for i in q.ingest}

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request) -> HTMLResponse:
        with ctx.read() as s:
            done = svc.counts(s)
        return ctx.page(request, "home.html", q=q, done=done)

    @app.get("/start", response_class=HTMLResponse)
    def start(request: Request, reviewer: str | None = None) -> HTMLResponse:
        return ctx.page(request, "start.html", q=q, reviewer=svc.check_reviewer(reviewer))

    def decision_page(
        request: Request, template: str, reviewer: str | None, page: int, queue: list, read
    ) -> HTMLResponse:
        """One page of a queue with its final decisions and history (``read(session)`` gives
        both): the screen's flags and the audit's pairs are shown the same way."""
        who = svc.check_reviewer(reviewer)
        page = max(page, 0)
        items, more = _page_of(queue, page)
        with ctx.read() as s:
            final, history = read(s)
        return ctx.page(
            request,
            template,
            reviewer=who,
            items=items,
            final=final,
            history=history,
            page=page,
            first=page * PAGE_SIZE,
            more=more,
            total=len(queue),
        )

    @app.get("/screen", response_class=HTMLResponse)
    def screen(request: Request, reviewer: str | None = None, page: int = 0) -> HTMLResponse:
        def read(s):
            return {d.image: d for d in svc.screen_final(s, q)}, svc.screen_history(s)

        return decision_page(request, "screen.html", reviewer, page, q.screen, read)

    @app.post("/screen/decide")
    async def screen_decide(request: Request) -> Response:
        form = await read_form(ctx, request)

        def store() -> None:
            with ctx.write() as s:
                svc.record_screen(
                    s,
                    q,
                    form["reviewer"],
                    str(form.get("image")),
                    str(form.get("decision")),
                    form.get("seen"),
                )
            ctx.export()

        await run_in_threadpool(store)
        return _back("screen", form, str(form.get("anchor", "")))

    @app.get("/audit", response_class=HTMLResponse)
    def audit(request: Request, reviewer: str | None = None, page: int = 0) -> HTMLResponse:
        def read(s):
            return {v.synthetic: v for v in svc.audit_final(s, q)}, svc.audit_history(s)

        return decision_page(request, "audit.html", reviewer, page, q.pairs, read)

    @app.post("/audit/decide")
    async def audit_decide(request: Request) -> Response:
        form = await read_form(ctx, request)

        def store() -> None:
            with ctx.write() as s:
                svc.record_audit(
                    s, q, form["reviewer"], str(form.get("synthetic")), str(form.get("verdict"))
                )
            ctx.export()

        await run_in_threadpool(store)
        return _back("audit", form, str(form.get("anchor", "")))

    @app.get("/ingest", response_class=HTMLResponse)
    def ingest(request: Request, reviewer: str | None = None, page: int = 0) -> HTMLResponse:
        who = svc.check_reviewer(reviewer)
        page = max(page, 0)
        items, more = _page_of(q.ingest, page)
        with ctx.read() as s:
            history = svc.ingest_history(s)
        listed = {i.source_path for i in q.ingest}
        earlier = sorted((k, v[-1]) for k, v in history.items() if k not in listed)
        return ctx.page(
            request,
            "ingest.html",
            reviewer=who,
            items=items,
            history=history,
            page=page,
            first=page * PAGE_SIZE,
            more=more,
            total=len(q.ingest),
            earlier=earlier,
            choices=ingest_choices,
            labels=CHOICES,
        )

    @app.post("/ingest/decide")
    async def ingest_decide(request: Request) -> Response:
        form = await read_form(ctx, request)

        def store() -> None:
            with ctx.write() as s:
                svc.record_ingest(
                    s,
                    q,
                    form["reviewer"],
                    str(form.get("source_path")),
                    str(form.get("choice")),
                    form.get("seen"),
                )
            ctx.export()

        await run_in_threadpool(store)
        return _back("ingest", form, str(form.get("anchor", "")))

    @app.get("/disagreements", response_class=HTMLResponse)
    def disagreements(request: Request) -> HTMLResponse:
        with ctx.read() as s:
            rows = [v for v in svc.audit_final(s, q) if v.status == "disagreement"]
        return ctx.page(request, "disagreements.html", rows=rows)

    @app.get("/image/screen/{rel:path}")
    def screen_image(rel: str) -> FileResponse:
        if rel not in screen_names:
            raise svc.ReviewError(404, "no such image")
        return FileResponse(_safe_file(q.screen_images, rel), media_type="image/png")

    @app.get("/image/audit/{rank}")
    def audit_image(rank: int) -> FileResponse:
        if rank not in ranks:
            raise svc.ReviewError(404, "no such image")
        rel = f"sheets/pair-{rank:04d}.png"
        return FileResponse(_safe_file(q.audit_dir, rel), media_type="image/png")

    @app.get("/image/ingest/{rel:path}")
    def ingest_image(rel: str) -> FileResponse:
        if rel not in review_images:
            raise svc.ReviewError(404, "no such image")
        return FileResponse(_safe_file(q.ingest_dir, rel), media_type="image/png")
