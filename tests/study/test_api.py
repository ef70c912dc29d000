"""Rater isolation, bad input and blinding, over HTTP against a live server (SQLite and PG)."""

from __future__ import annotations

import io
import re

import httpx
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session
from study_helpers import answer_body, count_responses, csrf_of, start

from radsynth.study import db as t


def test_bad_input_is_refused_and_nothing_is_stored(study_factory, serve) -> None:
    study = study_factory()
    srv = serve(study)
    c = httpx.Client(base_url=srv.url)
    a = study.tokens[0]
    assert c.get(f"/api/r/{a}/item/1").status_code == 409  # instructions first
    assert start(c, a) == "items"
    item = c.get(f"/api/r/{a}/item/1").json()
    ids = item["image_ids"]
    engine = t.make_engine(study.db)
    with Session(engine) as s:
        other = s.scalar(select(t.Image.id).where(t.Image.id.not_in(ids)).limit(1))
    engine.dispose()

    def bad(**kw) -> dict:
        return {**answer_body(item), **kw}

    cases = {
        "forged token": (f"/api/r/{'x' * 43}/item/1", answer_body(item), 404),
        "rating 5": (f"/api/r/{a}/item/1", bad(ratings=dict.fromkeys(ids, 5)), 400),
        "rating 0": (f"/api/r/{a}/item/1", bad(ratings=dict.fromkeys(ids, 0)), 400),
        "rating text": (f"/api/r/{a}/item/1", bad(ratings=dict.fromkeys(ids, "4")), 400),
        "missing rating": (f"/api/r/{a}/item/1", bad(ratings={ids[0]: 2}), 400),
        "foreign pick": (f"/api/r/{a}/item/1", bad(picked=other), 400),
        "no such item": (f"/api/r/{a}/item/99", answer_body(item), 404),
        "skipping ahead": (f"/api/r/{a}/item/3", answer_body(item), 409),
        "future version": (f"/api/r/{a}/item/1", answer_body(item, version=5), 409),
    }  # fmt: skip
    for name, (path, body, status) in cases.items():
        r = c.post(path, json=body)
        assert r.status_code == status, name
        assert r.json()["error"], name
    headers = {"content-type": "application/json"}
    assert c.post(f"/api/r/{a}/item/1", content=b"{not json", headers=headers).status_code == 400
    assert count_responses(study.db) == (0, 0)
    # A valid answer is stored once; replaying the identical request is refused.
    assert c.post(f"/api/r/{a}/item/1", json=answer_body(item)).json() == {"version": 1}
    replay = c.post(f"/api/r/{a}/item/1", json=answer_body(item))
    assert replay.status_code == 409 and "locked" in replay.json()["error"]
    # The HTML form path: a bad rating re-renders the page with a 400 and stores nothing.
    page = c.get(f"/r/{a}/item/2").text
    ids2 = re.findall(r'name="rating_([0-9a-f]+)"', page)
    form = {"version": "0", "pick": ids2[0], "csrf": csrf_of(page),
            **{f"rating_{i}": "7" for i in ids2}}  # fmt: skip
    r = c.post(f"/r/{a}/item/2", data=form)
    assert r.status_code == 400 and "1 to 4" in r.text
    assert count_responses(study.db) == (1, 4)


def test_rater_b_cannot_read_or_change_a_and_neither_reaches_admin(study_factory, serve) -> None:
    study = study_factory()
    srv = serve(study)
    c = httpx.Client(base_url=srv.url)
    a, b = study.tokens
    start(c, a)
    start(c, b)
    item_a = c.get(f"/api/r/{a}/item/1").json()
    assert (
        c.post(f"/api/r/{a}/item/1", json=answer_body(item_a, pick=2, rating=1)).status_code == 200
    )
    # B's screens show B's own (empty) answers, never A's; B's answers write only B's rows.
    for seq in range(1, 5):
        view = c.get(f"/api/r/{b}/item/{seq}").json()
        assert view["version"] == 0 and view["picked"] is None and view["ratings"] == {}
        same = view["image_ids"] == item_a["image_ids"]
        assert c.post(f"/api/r/{b}/item/{seq}", json=answer_body(view, rating=4)).is_success
        if same:
            break
    # A's answer is untouched (answers are locked, so read it from the admin export).
    rows_a = [r for r in csv_rows(c.get(f"/admin/{study.admin}/export.csv").text)
              if r["rater"] == "rater-01"]  # fmt: skip
    assert {r["image_id"] for r in rows_a if r["picked"] == "1"} == {item_a["image_ids"][2]}
    assert {r["rating"] for r in rows_a} == {"1"}
    for token in (a, b, "nope"):
        assert c.get(f"/admin/{token}").status_code == 404
        assert c.get(f"/admin/{token}/export.csv").status_code == 404
        assert c.post(f"/admin/{token}/close/rater-01").status_code == 404
    # The admin sees both, and closing A's link locks A out while B goes on.
    progress = c.get(f"/api/admin/{study.admin}/progress").json()
    assert [(p["rater"], p["answered"]) for p in progress] == [("rater-01", 1), ("rater-02", seq)]
    close = f"/admin/{study.admin}/close/rater-01"
    token = csrf_of(c.get(close).text)
    assert c.post(close, data={"csrf": token}).status_code == 400  # not confirmed
    assert c.post(close, data={"csrf": token, "confirm": "yes"}).status_code == 303
    assert c.get(f"/api/r/{a}/item/1").status_code == 403
    assert c.get(f"/r/{a}").status_code == 403
    assert c.get(f"/api/r/{b}/next").json()["answered"] == seq


def test_blinding_nothing_in_pages_urls_headers_or_bytes(study_factory, serve) -> None:
    study = study_factory(attention_checks=1)
    srv = serve(study)
    c = httpx.Client(base_url=srv.url)
    leaks = ["real", "ckA", "ckB", "ckC", "attention", "NORMAL", "PNEUMONIA", "IM-", "person",
             "000000", "group", "synthetic"]  # fmt: skip
    headers, sizes, orders = {}, set(), []
    for token in study.tokens:
        start(c, token)
        order = []
        for seq in range(1, 6):
            html = c.get(f"/r/{token}/item/{seq}").text
            visible = re.sub(r"<p class=\"task\">.*?</p>", "", html, flags=re.S)
            for word in leaks:
                assert word not in visible.replace("pick real", "").replace("> real <", ""), word
            srcs = re.findall(r'<img src="([^"]+)"', html)
            assert len(srcs) == 4
            order.append(tuple(src.rsplit("/", 1)[1] for src in srcs))
            view = c.get(f"/api/r/{token}/item/{seq}").json()
            assert c.post(f"/api/r/{token}/item/{seq}", json=answer_body(view)).is_success
            for src in srcs:
                assert re.fullmatch(rf"/r/{token}/img/[0-9a-f]{{16}}", src)
                r = c.get(src)
                assert r.status_code == 200
                h = {k: v for k, v in r.headers.items() if k != "date"}
                headers[src.rsplit("/", 1)[1]] = h
                sizes.add(len(r.content))
                img = Image.open(io.BytesIO(r.content))
                assert (img.format, img.mode, img.size, img.info) == ("PNG", "L", (224, 224), {})
        orders.append(order)
    # Every image (real, synthetic, attention noise) has the same headers and byte size.
    assert len({tuple(sorted(h.items())) for h in headers.values()}) == 1
    assert len(sizes) == 1
    h = next(iter(headers.values()))
    assert (
        h["cache-control"] == "no-store, private" and "etag" not in h and "last-modified" not in h
    )
    # Raters see the items in different orders.
    assert orders[0] != orders[1] and sorted(orders[0]) == sorted(orders[1])
    # Another rater's image URL path (with a forged token) serves nothing.
    image_id = next(iter(headers))
    assert c.get(f"/r/{'y' * 43}/img/{image_id}").status_code == 404


def test_simulated_raters_are_labelled_and_kept_apart(study_factory, serve) -> None:
    from radsynth.study.simulate import SimulateConfig, simulate_raters

    study = study_factory()
    simulate_raters(SimulateConfig(study=study.out, db=study.db, raters=2, seed=1))
    srv = serve(study)
    c = httpx.Client(base_url=srv.url)
    start(c, study.tokens[0])
    item = c.get(f"/api/r/{study.tokens[0]}/item/1").json()
    assert c.post(f"/api/r/{study.tokens[0]}/item/1", json=answer_body(item)).is_success
    html = c.get(f"/admin/{study.admin}").text
    assert re.search(r"sim-01</td>\s*<td><span class=\"tag sim\">simulated", html)
    assert re.search(r"rater-01</td>\s*<td>human", html)
    rows = list(csv_rows(c.get(f"/admin/{study.admin}/export.csv").text))
    kinds = {(r["rater"], r["rater_kind"]) for r in rows}
    assert kinds == {("rater-01", "human"), ("sim-01", "simulated"), ("sim-02", "simulated")}
    # Simulated raters answered their own assignments only: the human still has 3 to go.
    assert c.get(f"/api/r/{study.tokens[0]}/next").json() == {
        "step": "items", "seq": 2, "answered": 1, "total": 4,
    }  # fmt: skip
    assert c.get(f"/api/r/{study.tokens[1]}/next").json()["answered"] == 0


def csv_rows(text: str) -> list[dict]:
    import csv
    import io

    return list(csv.DictReader(io.StringIO(text)))
