"""The review page's hardening, shared with the reader-study app: form tokens, the 64 KiB body
limit, escaping, the app's own error page, refusal of stale decisions; and the CLI."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from review_helpers import free_port, read_csv, review_client

from radsynth.cli import main
from radsynth.fates.records import read_screen_decisions
from radsynth.review import service as svc
from radsynth.review.app import open_context
from radsynth.review.queues import load_queues
from radsynth.study.db import session_scope
from radsynth.study.security import form_token

# The first review page's raw-SQLite schema: its review.db files must still open.
V1_SCHEMA = """
CREATE TABLE screen_decision (
    id INTEGER PRIMARY KEY AUTOINCREMENT, image TEXT NOT NULL, reviewer TEXT NOT NULL,
    decision TEXT NOT NULL CHECK (decision IN ('keep', 'exclude')), auto_flagged INTEGER NOT NULL,
    decided_at TEXT NOT NULL);
CREATE TABLE audit_verdict (
    id INTEGER PRIMARY KEY AUTOINCREMENT, synthetic TEXT NOT NULL, train TEXT NOT NULL,
    reviewer TEXT NOT NULL, verdict TEXT NOT NULL CHECK (verdict IN ('memorized', 'not')),
    decided_at TEXT NOT NULL);
"""


@pytest.fixture
def client(outputs, tmp_path):
    c = review_client(tmp_path / "review", outputs["screen"], outputs["audit"], outputs["data"])
    yield c
    c.close()


def _first_image(outputs) -> str:
    rows = read_csv(outputs["screen"] / "screen.csv")
    return max(rows, key=lambda r: float(r["score"]))["image"]


def test_posts_need_this_pages_token(client, outputs):
    form = {"reviewer": "ann", "image": _first_image(outputs), "decision": "keep", "seen": "0"}
    assert client.http.post("/screen/decide", data=form).status_code == 403
    wrong = form_token(client.ctx.secret, "/audit/decide")  # another form's token
    r = client.http.post("/screen/decide", data={**form, "csrf": wrong})
    assert r.status_code == 403 and "did not come from this review page" in r.text
    forged = form_token("another secret", "/screen/decide")
    assert client.http.post("/screen/decide", data={**form, "csrf": forged}).status_code == 403
    assert read_screen_decisions(client.ctx.out)[form["image"]].decided_by == "auto"
    page = client.get("/screen", params={"reviewer": "ann"}).text
    assert page.count('name="csrf"') == len(read_csv(outputs["screen"] / "screen.csv"))


def test_bodies_over_64_kib_are_refused(client, outputs):
    big = {"reviewer": "ann", "image": _first_image(outputs), "decision": "keep",
           "pad": "x" * (64 * 1024)}  # fmt: skip
    r = client.post("/screen/decide", big)
    assert r.status_code == 413 and "64 KiB" in r.text


def test_a_stale_decision_is_refused(client, outputs):
    """bo's page was loaded before ann decided: his decision would silently replace hers."""
    image = _first_image(outputs)
    assert client.post("/screen/decide", {"reviewer": "ann", "image": image,
                                          "decision": "keep"}).status_code == 200  # fmt: skip
    r = client.post("/screen/decide", {"reviewer": "bo", "image": image, "decision": "exclude",
                                       "seen": "0"})  # fmt: skip
    assert r.status_code == 409 and "decided by ann (keep) after this page was loaded" in r.text
    assert read_screen_decisions(client.ctx.out)[image].decided_by == "ann"
    bad = client.post("/screen/decide", {"reviewer": "bo", "image": image, "decision": "keep",
                                         "seen": "x"})  # fmt: skip
    assert bad.status_code == 400


def test_everything_shown_is_escaped_and_errors_use_the_page(client):
    r = client.get("/screen", params={"reviewer": "ann", "page": "zz"})
    assert r.status_code == 400 and "<!doctype html>" in r.text and "malformed" in r.text
    r = client.get("/nowhere")
    assert r.status_code == 404 and "There is no such page" in r.text
    assert client.get("/image/ingest/../review.csv").status_code == 404
    r = client.get("/")
    assert r.headers["content-security-policy"].startswith("default-src 'self'")
    assert r.headers["cache-control"] == "no-store, private"
    # Template autoescaping: a reviewer id cannot carry markup, and form values are escaped.
    r = client.get("/start", params={"reviewer": "a<b"})
    assert r.status_code == 400 and "a<b" not in r.text


def test_hostile_names_are_escaped(tmp_path, outputs):
    """A film whose source path is markup is shown as text, never as markup."""
    data = tmp_path / "data"
    subprocess.run(["cp", "-r", str(outputs["data"]), str(data)], check=True)
    text = (data / "review.csv").read_text()
    (data / "review.csv").write_text(text.replace("film-0.png", "<script>x</script>.png"))
    c = review_client(tmp_path / "review", ingest=data)
    page = c.get("/ingest", params={"reviewer": "ann"}).text
    assert "<script>x" not in page and "&lt;script&gt;x&lt;/script&gt;.png" in page
    c.close()


def test_an_old_review_db_opens(outputs, tmp_path):
    out = tmp_path / "review"
    out.mkdir()
    image = _first_image(outputs)
    with sqlite3.connect(out / "review.db") as con:
        con.executescript(V1_SCHEMA)
        con.execute("INSERT INTO screen_decision (image, reviewer, decision, auto_flagged, "
                    "decided_at) VALUES (?, 'old', 'keep', 1, '2026-01-01T00:00:00+00:00')",
                    (image,))  # fmt: skip
    c = review_client(out, outputs["screen"])
    assert read_screen_decisions(out)[image].decided_by == "old"
    assert c.post("/screen/decide", {"reviewer": "new", "image": image,
                                     "decision": "exclude"}).status_code == 200  # fmt: skip
    c.close()
    with sqlite3.connect(out / "review.db") as con:
        rows = con.execute("SELECT reviewer FROM screen_decision ORDER BY id").fetchall()
    assert rows == [("old",), ("new",)]


def test_review_cli(outputs, tmp_path):
    assert main(["review", str(tmp_path / "r")]) == 2  # no screen, audit or ingest folder
    assert main(["review", str(tmp_path / "r"), "--ingest", str(tmp_path)]) == 2  # no review.csv
    port = free_port()
    cmd = [sys.executable, "-m", "radsynth.cli", "review", str(tmp_path / "r"),
           "--screen", str(outputs["screen"]), "--ingest", str(outputs["data"]),
           "--port", str(port)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
    try:
        for _ in range(200):
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/start", params={"reviewer": "x"})
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("review server did not start")
        assert page.status_code == 200 and "Uncertain films from ingest" in page.text
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert (tmp_path / "r" / "review.db").is_file()
    assert (tmp_path / "r" / "review_decisions.csv").is_file()


def test_simultaneous_decisions_on_one_item_one_wins(live_review, outputs, db_url):
    """Eight reviewers whose pages showed no decision post at once: one decision is stored, the
    other seven are refused (the page-loaded check and the insert do not interleave)."""
    url, out = live_review(db_url)
    image = _first_image(outputs)
    with httpx.Client() as c:
        page = c.get(f"{url}/screen", params={"reviewer": "r0"}).text
    token = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    barrier = threading.Barrier(8)

    def post(i: int) -> int:
        form = {"csrf": token, "reviewer": f"r{i}", "image": image, "seen": "0",
                "decision": "keep" if i % 2 else "exclude"}  # fmt: skip
        barrier.wait()
        return httpx.post(f"{url}/screen/decide", data=form, timeout=60).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = sorted(pool.map(post, range(8)))
    assert codes == [303] + [409] * 7
    d = read_screen_decisions(out)[image]
    assert d.decided_by != "auto" and d.final == (
        "keep" if int(d.decided_by[1:]) % 2 else "exclude"
    )


def test_a_decision_waits_for_one_in_flight(outputs, tmp_path, db_url):
    """ann's decision is inserted but not committed when bo (whose page showed none) decides:
    bo's transaction must wait for hers and then be refused, not insert beside it."""
    ctx = open_context(load_queues(outputs["screen"], None, None), tmp_path / "review", db_url)
    image = _first_image(outputs)
    outcome: list[str] = []

    def bo() -> None:
        try:
            with session_scope(ctx.engine, write=True) as s:
                svc.record_screen(s, ctx.queues, "bo", image, "exclude", "0")
            outcome.append("stored")
        except svc.ReviewError as exc:
            outcome.append(str(exc.status))

    with session_scope(ctx.engine, write=True) as s:
        svc.record_screen(s, ctx.queues, "ann", image, "keep", "0")
        s.flush()
        thread = threading.Thread(target=bo)
        thread.start()
        thread.join(2)  # bo finishes here only if nothing makes him wait
    thread.join(60)
    assert outcome == ["409"]
    with ctx.read() as s:
        assert [e.reviewer for e in svc.screen_history(s)[image]] == ["ann"]
    ctx.engine.dispose()
