"""Load and crash safety against a real server on localhost (SQLite WAL and PostgreSQL)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from study_helpers import answer_body, read_csv
from study_helpers import start as start_rater

from radsynth.study import db as t
from radsynth.study.export import ExportConfig, export_responses

N_RATERS = 50
N_ITEMS = 3


def _rater_run(url: str, token: str, index: int, barrier: threading.Barrier) -> dict:
    """One simulated rater answering every item through the JSON API; returns what it saw."""
    stats = {"latency_s": [], "accepted": {}, "replay_status": [], "duplicate_status": []}
    with httpx.Client(base_url=url, timeout=60) as c:
        barrier.wait()
        start_rater(c, token)
        while (seq := c.get(f"/api/r/{token}/next").json()["seq"]) is not None:
            item = c.get(f"/api/r/{token}/item/{seq}").json()
            body = answer_body(item, pick=(index + seq) % 4, rating=1 + (index + seq) % 4)
            if seq == 2:
                # The same submission twice at once: the compare-and-set lets exactly one in.
                with ThreadPoolExecutor(2) as pool:
                    posts = [pool.submit(c.post, f"/api/r/{token}/item/2", json=body)
                             for _ in range(2)]  # fmt: skip
                    codes = sorted(f.result().status_code for f in posts)
                stats["duplicate_status"] = codes
                stats["accepted"][seq] = body
                continue
            start = time.perf_counter()
            r = c.post(f"/api/r/{token}/item/{seq}", json=body)
            stats["latency_s"].append(time.perf_counter() - start)
            assert r.status_code == 200, r.text
            stats["accepted"][seq] = body
            stats["replay_status"].append(
                c.post(f"/api/r/{token}/item/{seq}", json=body).status_code
            )
    return stats


def test_fifty_concurrent_raters_lose_and_duplicate_nothing(study_factory, serve, capsys, db_kind):
    study = study_factory(items=N_ITEMS, raters=N_RATERS)
    srv = serve(study, subprocess=True)  # its own process: the clients' GIL is not its GIL
    barrier = threading.Barrier(N_RATERS)
    with ThreadPoolExecutor(N_RATERS) as pool:
        futures = [pool.submit(_rater_run, srv.url, tok, i, barrier)
                   for i, tok in enumerate(study.tokens)]  # fmt: skip
        results = [f.result(timeout=240) for f in futures]
    latencies = np.array([x for r in results for x in r["latency_s"]])
    p50, p95 = np.percentile(latencies, [50, 95]) * 1000
    with capsys.disabled():
        print(f"\n[load {db_kind}] {N_RATERS} raters x {N_ITEMS} items: submit latency "
              f"p50 {p50:.1f} ms, p95 {p95:.1f} ms over {latencies.size} submissions")  # fmt: skip
    assert all(r["duplicate_status"] == [200, 409] for r in results)
    assert all(set(r["replay_status"]) == {409} for r in results)

    engine = t.make_engine(study.db)
    with Session(engine) as s:
        n_resp = s.scalar(select(func.count()).select_from(t.Response))
        n_keys = s.scalar(
            select(func.count()).select_from(
                select(t.Response.rater_id, t.Response.seq).distinct().subquery()
            )
        )
        versions = set(s.scalars(select(t.Response.version)))
        n_rating = s.scalar(select(func.count()).select_from(t.Rating))
    engine.dispose()
    assert n_resp == n_keys == N_RATERS * N_ITEMS and versions == {1}
    assert n_rating == 4 * N_RATERS * N_ITEMS
    # Every stored answer is exactly what that rater sent.
    export_responses(ExportConfig(study=study.out, db=study.db))
    rows = read_csv(study.out / "export.csv")
    sent = {(f"rater-{i + 1:02d}", seq): body
            for i, r in enumerate(results) for seq, body in r["accepted"].items()}  # fmt: skip
    assert len(rows) == 4 * len(sent)
    for row in rows:
        body = sent[row["rater"], int(row["seq"])]
        assert int(row["rating"]) == body["ratings"][row["image_id"]]
        assert int(row["picked"]) == (body["picked"] == row["image_id"])


def test_server_killed_mid_study_loses_nothing_answered(study_factory, serve) -> None:
    study = study_factory(items=6, raters=2)
    srv = serve(study, subprocess=True)
    a, b = study.tokens
    c = httpx.Client(base_url=srv.url, timeout=10)
    start_rater(c, a)
    start_rater(c, b)
    for seq in (1, 2, 3):
        item = c.get(f"/api/r/{a}/item/{seq}").json()
        assert c.post(f"/api/r/{a}/item/{seq}", json=answer_body(item, rating=seq)).is_success

    # Rater B keeps submitting while the server is SIGKILLed under it.
    acknowledged: list[int] = []

    def keep_answering() -> None:
        with httpx.Client(base_url=srv.url, timeout=5) as cb:
            for seq in range(1, 7):
                try:
                    item = cb.get(f"/api/r/{b}/item/{seq}").json()
                    if cb.post(f"/api/r/{b}/item/{seq}", json=answer_body(item)).is_success:
                        acknowledged.append(seq)
                except httpx.HTTPError:
                    return

    worker = threading.Thread(target=keep_answering)
    worker.start()
    while not acknowledged:
        time.sleep(0.005)
    srv.kill()
    worker.join(10)

    srv2 = serve(study, subprocess=True)
    c = httpx.Client(base_url=srv2.url, timeout=10)
    assert c.get(f"/api/r/{a}/next").json() == {
        "step": "items", "seq": 4, "answered": 3, "total": 6,
    }  # fmt: skip
    # Answers are locked, so read them back from the database.
    engine = t.make_engine(study.db)
    with Session(engine) as s:
        stored = {
            (r.rater_id, r.seq): r.rating
            for r in s.execute(
                select(t.Response.rater_id, t.Response.seq, t.Rating.rating).join(
                    t.Rating, t.Rating.response_id == t.Response.id
                )
            )
        }
    engine.dispose()
    assert {stored[1, seq] for seq in (1, 2, 3)} == {1, 2, 3}
    assert all(stored[1, seq] == seq for seq in (1, 2, 3))
    assert all((2, seq) in stored for seq in acknowledged)
    # An answer that was in flight is either wholly stored or absent, never half.
    engine = t.make_engine(study.db)
    with Session(engine) as s:
        per_response = s.execute(
            select(func.count()).select_from(t.Rating).group_by(t.Rating.response_id)
        ).scalars()
        assert set(per_response) == {4}
    engine.dispose()
    # The study goes on after the restart.
    for seq in (4, 5, 6):
        item = c.get(f"/api/r/{a}/item/{seq}").json()
        assert c.post(f"/api/r/{a}/item/{seq}", json=answer_body(item)).is_success
    assert c.get(f"/api/r/{a}/next").json()["seq"] is None
