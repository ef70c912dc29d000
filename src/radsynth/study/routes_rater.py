"""Rater pages: ``/r/TOKEN`` (resume), instructions, consent, questionnaire, items, images, finish.

Every form POST must carry the page's form token (:func:`~radsynth.study.security.form_token`).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from radsynth.study import db as t
from radsynth.study import flow
from radsynth.study import service as svc
from radsynth.study.classes import per_class
from radsynth.study.forms import submission_from_form
from radsynth.study.security import form_token_ok

IMAGE_SQL = text(
    "SELECT i.png FROM image i JOIN item_image ii ON ii.image_id = i.id"
    " JOIN assignment a ON a.item_id = ii.item_id JOIN rater r ON r.id = a.rater_id"
    " WHERE i.id = :image AND r.token_sha256 = :h AND r.closed = false LIMIT 1"
)
STEP_PATHS = {
    "instructions": "instructions",
    "consent": "consent",
    "questionnaire": "about",
    "done": "done",
}


def consent_html(text: str) -> str:
    """Consent text as HTML paragraphs (blank lines separate them; everything is escaped)."""
    paras = [p.strip() for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]
    return "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in paras)


async def store_then_go(
    store: Callable[[], str], rerender: Callable[[str], HTMLResponse] | None = None
) -> Response:
    """Run ``store`` (a write that returns the page to go to next) off the event loop, then
    redirect there (303). A 400 from ``store`` re-renders the form with its message instead;
    any other refusal propagates to the app's error page."""
    try:
        target = await run_in_threadpool(store)
    except svc.StudyError as exc:
        if exc.status != 400 or rerender is None:
            raise
        return await run_in_threadpool(rerender, exc.message)
    return RedirectResponse(target, status_code=303)


async def read_form(ctx: Any, request: Request) -> dict[str, Any]:
    """The posted form, refused (403) without this page's form token."""
    form = dict(await request.form())
    if not form_token_ok(ctx.secret, request.url.path, form.pop("csrf", None)):
        raise svc.StudyError(403, "this form did not come from this study page; reload the page")
    return form


def register(app: FastAPI, ctx: Any) -> None:  # noqa: C901 - one closure per route
    """Add the rater routes to ``app``."""

    def resume_path(token: str) -> str:
        with ctx.read() as s:
            rater = svc.find_rater(s, token)
            step = flow.next_step(s, rater, ctx.meta)
            seq = svc.next_seq(s, rater.id) if step == "items" else None
        return f"/r/{token}/item/{seq}" if seq else f"/r/{token}/{STEP_PATHS[step]}"

    @app.get("/r/{token}")
    def resume(token: str) -> RedirectResponse:
        return RedirectResponse(resume_path(token), status_code=303)

    @app.get("/r/{token}/instructions", response_class=HTMLResponse)
    def instructions(request: Request, token: str) -> HTMLResponse:
        meta = ctx.meta
        with ctx.read() as s:
            _, total = svc.progress(s, svc.find_rater(s, token).id)
        return ctx.page(
            request,
            "instructions.html",
            token=token,
            design=meta["design"],
            questions=svc.questions(meta),
            finding=meta["finding"],
            per_class=per_class(meta),
            practice=svc.n_practice(meta),
            items=total - svc.n_practice(meta),
            allow_back=svc.allow_back(meta),
        )

    @app.post("/r/{token}/instructions")
    async def instructions_post(request: Request, token: str) -> Response:
        await read_form(ctx, request)

        def store() -> str:
            with ctx.write() as s:
                flow.start(svc.find_rater(s, token))
            return resume_path(token)

        return await store_then_go(store)

    def consent_page(request: Request, token: str, error: str = "", status: int = 200):  # noqa: ANN202
        with ctx.read() as s:
            svc.find_rater(s, token)
            text = ctx.meta.get("consent", "")
        if not text:
            raise svc.StudyError(404, "this study asks for no consent")
        return ctx.page(
            request, "consent.html", status, token=token, text=consent_html(text), error=error
        )

    @app.get("/r/{token}/consent", response_class=HTMLResponse)
    def consent(request: Request, token: str) -> HTMLResponse:
        return consent_page(request, token)

    @app.post("/r/{token}/consent")
    async def consent_post(request: Request, token: str) -> Response:
        form = await read_form(ctx, request)

        def store() -> str:
            agreed = form.get("agree") == "yes"
            with ctx.write() as s:
                flow.consent(svc.find_rater(s, token), ctx.meta, agreed)
            return resume_path(token)

        return await store_then_go(store, lambda msg: consent_page(request, token, msg, 400))

    def about_page(request: Request, token: str, error: str = "", status: int = 200):  # noqa: ANN202
        with ctx.read() as s:
            svc.find_rater(s, token)
        return ctx.page(
            request,
            "questionnaire.html",
            status,
            token=token,
            roles=flow.ROLES,
            max_years=flow.MAX_YEARS,
            error=error,
        )

    @app.get("/r/{token}/about", response_class=HTMLResponse)
    def about(request: Request, token: str) -> HTMLResponse:
        return about_page(request, token)

    @app.post("/r/{token}/about")
    async def about_post(request: Request, token: str) -> Response:
        form = await read_form(ctx, request)

        def store() -> str:
            answers = flow.parse_about(
                form.get("role"), form.get("years", ""), form.get("subspecialty", "")
            )
            with ctx.write() as s:
                rater = svc.find_rater(s, token)
                flow.answer_questionnaire(s, rater, ctx.meta, answers)
            return resume_path(token)

        return await store_then_go(store, lambda msg: about_page(request, token, msg, 400))

    @app.get("/r/{token}/done", response_class=HTMLResponse)
    def done(request: Request, token: str) -> HTMLResponse:
        with ctx.read() as s:
            rater = svc.find_rater(s, token)
            meta = ctx.meta
            answered, total = svc.progress(s, rater.id)
        return ctx.page(
            request,
            "done.html",
            token=token,
            answered=answered,
            total=total,
            allow_back=svc.allow_back(meta),
        )

    def render_item(request: Request, token: str, seq: int, status: int = 200, error: str = ""):  # noqa: ANN202
        meta = ctx.meta
        with ctx.read() as s:
            rater = svc.find_rater(s, token)
            flow.require_items(s, rater, meta)
            view = svc.view_item(s, rater, seq, meta)
        with ctx.write(durable=False) as s:  # a short write, apart from the reads above
            svc.record_visit(s, rater.id, seq)
        return ctx.page(
            request,
            "item.html",
            status,
            token=token,
            v=view,
            error=error,
            design=meta["design"],
            questions=svc.questions(meta),
        )

    @app.get("/r/{token}/item/{seq}", response_class=HTMLResponse)
    def item_page(request: Request, token: str, seq: int) -> HTMLResponse:
        return render_item(request, token, seq)

    @app.post("/r/{token}/item/{seq}")
    async def item_post(request: Request, token: str, seq: int) -> Response:
        form = await read_form(ctx, request)

        def store() -> str:
            sub = submission_from_form(form)
            with ctx.read() as s:  # validate outside the write lock
                rater = svc.find_rater(s, token)
                flow.require_items(s, rater, ctx.meta)
                checked = svc.check_answer(s, rater, seq, sub, ctx.meta)
                after = svc.next_seq(s, rater.id, skip=seq)  # where the rater goes next
            with ctx.write() as s:
                svc.store_answer(s, checked)
            return f"/r/{token}/item/{after}" if after else f"/r/{token}/done"

        return await store_then_go(store, lambda msg: render_item(request, token, seq, 400, msg))

    @app.get("/r/{token}/img/{image_id}")
    def image(token: str, image_id: str) -> Response:
        # Two of three requests are images: one plain SQL query (no ORM), which also checks
        # the token and that the image belongs to one of the rater's items.
        with ctx.read() as s:
            png = s.execute(IMAGE_SQL, {"image": image_id, "h": t.token_hash(token)}).scalar()
            if png is None:
                svc.find_rater(s, token)  # 404 unknown link, 403 closed link
                raise svc.StudyError(404, "no such image")
        return Response(content=png, media_type="image/png")
