"""The review page, through a real FastAPI TestClient (httpx) and a real SQLite file: screening
flags confirmed or overridden, audit pairs adjudicated by two reviewers, disagreements listed."""

from __future__ import annotations

import csv
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from radsynth.audit.audit import AuditConfig, audit
from radsynth.cli import main
from radsynth.screening.review import create_app, load
from radsynth.screening.screen import ScreenConfig, screen


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def outputs(reference_phantoms, labelled_phantoms, tmp_path_factory) -> dict[str, Path]:
    """A real screen folder (24 phantoms) and a real audit folder (copy feature, top 5; the
    95th percentile, which 30 held-out images support)."""
    root = tmp_path_factory.mktemp("review")
    src = root / "oriented" / "step-1"
    src.mkdir(parents=True)
    for p in sorted((labelled_phantoms / "images").glob("*.png"))[:24]:
        (src / p.name).write_bytes(p.read_bytes())
    ref = sorted((reference_phantoms / "images").glob("*.png"))
    for folder, chunk in (("train", ref[:30]), ("val", ref[30:60])):
        (root / folder).mkdir()
        for p in chunk:
            (root / folder / p.name).write_bytes(p.read_bytes())
    (root / "oriented" / "step-1" / "copy.png").write_bytes(ref[3].read_bytes())
    screen(ScreenConfig(src=root / "oriented", out=root / "screen",
                        reference=reference_phantoms / "images", frr=0.1))  # fmt: skip
    audit(AuditConfig(train=root / "train", val=root / "val", synthetic=root / "oriented",
                      out=root / "audit", top_k=5, flag_percentile=95.0))  # fmt: skip
    return {"screen": root / "screen", "audit": root / "audit", "root": root}


def test_screen_review_flow(outputs, tmp_path):
    out = tmp_path / "review"
    client = TestClient(create_app(load(out, outputs["screen"], outputs["audit"])))
    assert "Reviewer id" in client.get("/").text
    assert client.get("/screen").status_code == 400  # a reviewer id is required
    assert client.get("/start", params={"reviewer": "<script>"}).status_code == 400
    assert "screening flags" in client.get("/start", params={"reviewer": "alice"}).text
    page = client.get("/screen", params={"reviewer": "alice"})
    rows = _read_csv(outputs["screen"] / "screen.csv")
    top = max(rows, key=lambda r: float(r["score"]))
    assert page.status_code == 200 and top["image"] in page.text
    img = client.get(f"/image/screen/{top['image']}")
    assert img.status_code == 200 and img.content[:4] == b"\x89PNG"
    assert client.get("/image/screen/../config.json").status_code == 404

    # Before any decision the final decision is the automatic one.
    final = {r["image"]: r for r in _read_csv(out / "screen_decisions.csv")}
    assert final[top["image"]]["decided_by"] == "auto"
    auto = final[top["image"]]["auto"]
    other = "keep" if auto == "exclude" else "exclude"

    # alice overrides the flag; bob then confirms the automatic decision (latest wins).
    r = client.post("/screen/decide", data={"reviewer": "alice", "image": top["image"],
                                            "decision": other}, follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    final = {r["image"]: r for r in _read_csv(out / "screen_decisions.csv")}
    assert (final[top["image"]]["final"], final[top["image"]]["decided_by"]) == (other, "alice")
    assert final[top["image"]]["overridden"] == "1"
    client.post("/screen/decide", data={"reviewer": "bob", "image": top["image"], "decision": auto})
    final = {r["image"]: r for r in _read_csv(out / "screen_decisions.csv")}
    assert (final[top["image"]]["final"], final[top["image"]]["decided_by"]) == (auto, "bob")
    assert final[top["image"]]["overridden"] == "0" and final[top["image"]]["decided_at"]

    # Bad posts change nothing.
    assert client.post("/screen/decide", data={"reviewer": "", "image": top["image"],
                                               "decision": "keep"}).status_code == 400  # fmt: skip
    assert client.post("/screen/decide", data={"reviewer": "bob", "image": "nope.png",
                                               "decision": "keep"}).status_code == 404  # fmt: skip
    assert client.post("/screen/decide", data={"reviewer": "bob", "image": top["image"],
                                               "decision": "maybe"}).status_code == 400  # fmt: skip
    with sqlite3.connect(out / "review.db") as con:
        stored = con.execute("SELECT reviewer, decision, decided_at FROM screen_decision "
                             "ORDER BY id").fetchall()  # fmt: skip
    assert [(a, b) for a, b, _ in stored] == [("alice", other), ("bob", auto)]
    assert all(t.endswith("+00:00") for _, _, t in stored)


def test_audit_adjudication_flow(outputs, tmp_path):
    out = tmp_path / "review"
    client = TestClient(create_app(load(out, None, outputs["audit"])))
    pairs = _read_csv(outputs["audit"] / "pairs.csv")
    assert pairs[0]["synthetic"] == "step-1/copy.png" and pairs[0]["flagged"] == "1"
    page = client.get("/audit", params={"reviewer": "alice"})
    assert page.status_code == 200 and "/image/audit/sheets/pair-0001.png" in page.text
    assert client.get("/image/audit/sheets/pair-0001.png").status_code == 200
    assert client.get("/image/audit/pairs.csv").status_code == 404

    def verdict(who: str, rank: int, value: str) -> int:
        data = {"reviewer": who, "synthetic": pairs[rank - 1]["synthetic"], "verdict": value}
        return client.post("/audit/decide", data=data, follow_redirects=False).status_code

    assert verdict("alice", 1, "memorized") == 303
    assert verdict("bob", 1, "memorized") == 303
    assert verdict("alice", 2, "memorized") == 303
    assert verdict("bob", 2, "not") == 303
    assert verdict("alice", 3, "not") == 303
    assert verdict("carol", 4, "perhaps") == 400
    table = {r["rank"]: r for r in _read_csv(out / "audit_adjudication.csv")}
    assert (table["1"]["status"], table["1"]["final"]) == ("agreed", "memorized")
    assert table["1"]["verdicts"] == "alice=memorized;bob=memorized"
    assert (table["2"]["status"], table["2"]["final"]) == ("disagreement", "")
    assert table["3"]["status"] == "pending" and table["5"]["status"] == "pending"
    disagreements = _read_csv(out / "audit_disagreements.csv")
    assert [r["rank"] for r in disagreements] == ["2"]
    assert pairs[1]["synthetic"] in client.get("/disagreements").text

    # bob changes his mind: the pair is agreed now. Decisions survive a restart (SQLite).
    assert verdict("bob", 2, "memorized") == 303
    client = TestClient(create_app(load(out, None, outputs["audit"])))
    table = {r["rank"]: r for r in _read_csv(out / "audit_adjudication.csv")}
    assert table["2"]["status"] == "agreed"
    assert _read_csv(out / "audit_disagreements.csv") == []
    with sqlite3.connect(out / "review.db") as con:
        assert con.execute("SELECT COUNT(*) FROM audit_verdict").fetchone()[0] == 6


def test_review_imports_no_torch():
    code = "import sys, radsynth.screening.review; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_review_cli(outputs, tmp_path):
    assert main(["review", str(tmp_path / "r")]) == 2  # neither a screen nor an audit folder
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "radsynth.cli", "review", str(tmp_path / "r"),
           "--screen", str(outputs["screen"]), "--port", str(port)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
    try:
        for _ in range(100):
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/start", params={"reviewer": "x"})
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("review server did not start")
        assert page.status_code == 200 and "screening flags" in page.text
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert (tmp_path / "r" / "review.db").is_file()
