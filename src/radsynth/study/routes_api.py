"""The rater JSON API (``/api/r/TOKEN/...``), the same service calls as the pages.

- ``GET next``: the next step (instructions, consent, questionnaire, items, done) and progress;
- ``POST start``: ``{"consent": true, "questionnaire": {"role", "years", "subspecialty"}}``, the
  instructions (and, where the study asks, consent and questionnaire) in one call;
- ``GET|POST item/SEQ``: one screen / its answer.

POST bodies must be ``Content-Type: application/json`` (415 otherwise): a cross-site page can
send that only after a CORS preflight, which this app never answers.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool

from radsynth.study import flow
from radsynth.study import service as svc
from radsynth.study.forms import submission_from_json


async def read_json(request: Request) -> Any:
    """The JSON body, refused unless sent as application/json."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise svc.StudyError(415, "send the body as Content-Type: application/json")
    try:
        return await request.json()
    except ValueError:
        raise svc.StudyError(400, "the request body is not JSON") from None


def register(app: FastAPI, ctx: Any) -> None:
    """Add the rater API routes to ``app``."""

    @app.get("/api/r/{token}/next")
    def api_next(token: str) -> dict:
        with ctx.read() as s:
            rater = svc.find_rater(s, token)
            answered, total = svc.progress(s, rater.id)
            step = flow.next_step(s, rater, ctx.meta)
            seq = svc.next_seq(s, rater.id)
        return {"step": step, "seq": seq, "answered": answered, "total": total}

    @app.post("/api/r/{token}/start")
    async def api_start(request: Request, token: str) -> dict:
        body = await read_json(request)
        if not isinstance(body, dict):
            raise svc.StudyError(400, "the body must be a JSON object")

        def store() -> str:
            with ctx.write() as s:
                rater = svc.find_rater(s, token)
                meta = ctx.meta
                flow.start(rater)
                if meta.get("consent") and rater.consented_at is None:
                    flow.consent(rater, meta, body.get("consent") is True)
                s.flush()
                if flow.next_step(s, rater, meta) == "questionnaire":
                    q = body.get("questionnaire")
                    if not isinstance(q, dict):
                        raise svc.StudyError(400, "this study asks for a questionnaire object")
                    about = flow.parse_about(q.get("role"), q.get("years"), q.get("subspecialty"))
                    flow.answer_questionnaire(s, rater, meta, about)
                s.flush()
                return flow.next_step(s, rater, meta)

        return {"step": await run_in_threadpool(store)}

    @app.get("/api/r/{token}/item/{seq}")
    def api_item(token: str, seq: int) -> dict:
        with ctx.read() as s:
            rater = svc.find_rater(s, token)
            flow.require_items(s, rater, ctx.meta)
            view = svc.view_item(s, rater, seq, ctx.meta)
        with ctx.write(durable=False) as s:  # a short write, apart from the reads above
            svc.record_visit(s, rater.id, seq)
        return view

    @app.post("/api/r/{token}/item/{seq}")
    async def api_submit(request: Request, token: str, seq: int) -> dict:
        sub = submission_from_json(await read_json(request))

        def store() -> int:
            with ctx.read() as s:  # validate outside the write lock
                rater = svc.find_rater(s, token)
                flow.require_items(s, rater, ctx.meta)
                checked = svc.check_answer(s, rater, seq, sub, ctx.meta)
            with ctx.write() as s:
                return svc.store_answer(s, checked)

        return {"version": await run_in_threadpool(store)}
