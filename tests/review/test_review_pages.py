"""The three review queues through the real app (FastAPI TestClient over httpx) on a real
database: screening flags confirmed or overridden, audit pairs adjudicated, ingest's uncertain
films decided; each decision lands in the decision file the pipeline reads, with its history."""

from __future__ import annotations

import json
import subprocess
import sys

from review_helpers import read_csv, review_client, rotate_suggestion

from radsynth.data.review_decisions import read_ingest_decisions
from radsynth.fates.records import read_audit_verdicts, read_screen_decisions


def test_screen_review_flow(outputs, tmp_path, db_url):
    out = tmp_path / "review"
    client = review_client(out, outputs["screen"], outputs["audit"], db=db_url)
    assert "Reviewer id" in client.get("/").text
    assert client.get("/screen").status_code == 400  # a reviewer id is required
    assert client.get("/start", params={"reviewer": "<script>"}).status_code == 400
    assert "Screening flags" in client.get("/start", params={"reviewer": "alice"}).text
    page = client.get("/screen", params={"reviewer": "alice"})
    rows = read_csv(outputs["screen"] / "screen.csv")
    top = max(rows, key=lambda r: float(r["score"]))
    assert page.status_code == 200 and top["image"] in page.text
    img = client.get(f"/image/screen/{top['image']}")
    assert img.status_code == 200 and img.content[:4] == b"\x89PNG"
    assert client.get("/image/screen/../config.json").status_code == 404

    # Before any decision the final decision is the automatic one.
    final = read_screen_decisions(out)[top["image"]]
    assert final.decided_by == "auto"
    other = "keep" if final.auto == "exclude" else "exclude"

    # alice overrides the flag; bob then confirms the automatic decision (latest wins).
    r = client.post("/screen/decide", {"reviewer": "alice", "image": top["image"],
                                       "decision": other}, follow_redirects=False)  # fmt: skip
    assert r.status_code == 303 and r.headers["location"].startswith("/screen?reviewer=alice")
    d = read_screen_decisions(out)[top["image"]]
    assert (d.final, d.decided_by, d.overridden) == (other, "alice", True)
    client.post("/screen/decide", {"reviewer": "bob", "image": top["image"],
                                   "decision": final.auto})  # fmt: skip
    d = read_screen_decisions(out)[top["image"]]
    assert (d.final, d.decided_by, d.overridden) == (final.auto, "bob", False)
    assert d.decided_at.endswith("+00:00")
    # The page shows both decisions, oldest first: nothing was overwritten.
    text = client.get("/screen", params={"reviewer": "carol"}).text
    assert "2 decisions" in text and text.index(f"alice: {other}") < text.index("bob:")

    # Bad posts change nothing.
    for data, status in (({"reviewer": "", "decision": "keep"}, 400),
                         ({"reviewer": "bob", "image": "nope.png", "decision": "keep"}, 404),
                         ({"reviewer": "bob", "decision": "maybe"}, 400)):  # fmt: skip
        form = {"image": top["image"], **data}
        assert client.post("/screen/decide", form).status_code == status
    assert read_screen_decisions(out)[top["image"]].decided_by == "bob"
    client.close()


def test_audit_adjudication_flow(outputs, tmp_path, db_url):
    out = tmp_path / "review"
    client = review_client(out, None, outputs["audit"], db=db_url)
    pairs = read_csv(outputs["audit"] / "pairs.csv")
    assert pairs[0]["synthetic"] == "step-1/copy.png" and pairs[0]["flagged"] == "1"
    page = client.get("/audit", params={"reviewer": "alice"})
    assert page.status_code == 200 and "/image/audit/1" in page.text
    assert client.get("/image/audit/1").content[:4] == b"\x89PNG"
    assert client.get("/image/audit/99").status_code == 404

    def verdict(who: str, rank: int, value: str) -> int:
        data = {"reviewer": who, "synthetic": pairs[rank - 1]["synthetic"], "verdict": value}
        return client.post("/audit/decide", data, follow_redirects=False).status_code

    assert [verdict("alice", 1, "memorized"), verdict("bob", 1, "memorized"),
            verdict("alice", 2, "memorized"), verdict("bob", 2, "not"),
            verdict("alice", 3, "not"), verdict("carol", 4, "perhaps")] == [
        303, 303, 303, 303, 303, 400]  # fmt: skip
    table = {v.rank: v for v in read_audit_verdicts(out).values()}
    assert (table[1].status, table[1].final) == ("agreed", "memorized")
    assert table[1].verdicts == (("alice", "memorized"), ("bob", "memorized"))
    assert (table[2].status, table[2].final) == ("disagreement", "")
    assert table[3].status == "pending" and table[5].status == "pending"
    assert [r["rank"] for r in read_csv(out / "audit_disagreements.csv")] == ["2"]
    assert pairs[1]["synthetic"] in client.get("/disagreements").text

    # bob changes his mind: the pair is agreed now. Decisions survive a restart.
    assert verdict("bob", 2, "memorized") == 303
    client.close()
    client = review_client(out, None, outputs["audit"], db=db_url)
    assert read_audit_verdicts(out)[pairs[1]["synthetic"]].status == "agreed"
    assert read_csv(out / "audit_disagreements.csv") == []
    assert "2 decisions" in client.get("/audit", params={"reviewer": "x"}).text  # bob's history
    client.close()


def test_ingest_review_flow(outputs, tmp_path, db_url):
    """Each film of review.csv can be kept as is, inverted, mirrored or excluded (rotated only
    where the checks suggest a rotation); the latest decision per film goes to
    review_decisions.csv and the earlier ones stay in the history."""
    data = tmp_path / "data"
    subprocess.run(["cp", "-r", str(outputs["data"]), str(data)], check=True)
    rotate_suggestion(data, "film-2.png", 90)
    out = tmp_path / "review"
    client = review_client(out, ingest=data, db=db_url)
    assert (out / "review_decisions.csv").read_text().startswith("source_path,")  # no rows yet
    page = client.get("/ingest", params={"reviewer": "ann"})
    films = read_csv(data / "review.csv")
    assert len(films) == 6 and all(f["source_path"] in page.text for f in films)
    assert page.text.count('value="rotated"') == 1  # only film-2 has a suggested rotation
    img = client.get(f"/image/ingest/{films[0]['review_image']}")
    assert img.status_code == 200 and img.content[:4] == b"\x89PNG"
    assert client.get("/image/ingest/review.csv").status_code == 404

    def decide(who: str, source: str, choice: str) -> int:
        form = {"reviewer": who, "source_path": source, "choice": choice}
        return client.post("/ingest/decide", form, follow_redirects=False).status_code

    assert decide("ann", "film-0.png", "as_is") == 303
    assert decide("ann", "film-1.png", "mirrored") == 303
    assert decide("bo", "film-1.png", "inverted") == 303  # bo corrects ann
    assert decide("ann", "film-2.png", "rotated") == 303
    assert decide("ann", "film-3.png", "exclude") == 303
    assert decide("ann", "film-4.png", "rotated") == 400  # no suggested rotation
    assert decide("ann", "nope.png", "as_is") == 404
    assert decide("ann", "film-5.png", "sideways") == 400
    got = read_ingest_decisions(out / "review_decisions.csv")
    assert set(got) == {"film-0.png", "film-1.png", "film-2.png", "film-3.png"}
    assert (got["film-1.png"].choice, got["film-1.png"].decided_by) == ("inverted", "bo")
    assert (got["film-2.png"].rotation_deg, got["film-2.png"].invert) == (90, False)
    assert got["film-3.png"].final == "exclude"
    sha = {f["source_path"]: f["source_sha256"] for f in films}
    assert all(d.source_sha256 == sha[k] for k, d in got.items())
    text = client.get("/ingest", params={"reviewer": "ann"}).text
    assert "2 decisions" in text and text.index("ann: mirrored") < text.index("bo: inverted")
    client.close()


def test_review_imports_no_torch():
    """The review page is a web app: it starts without loading torch (numpy comes with the
    study's security helpers it shares, which is cheap)."""
    code = ("import sys, radsynth.review.serve, radsynth.review.routes; "
            "assert 'torch' not in sys.modules")  # fmt: skip
    subprocess.run([sys.executable, "-c", code], check=True)


def test_long_queues_are_paged(tmp_path):
    """60 screened images: 50 on the first page, 10 on the second; a decision on the second
    page comes back to it, at the next item."""
    images = tmp_path / "oriented"
    images.mkdir()
    screen = tmp_path / "screen"
    screen.mkdir()
    rows = "".join(f"s/{i:03d}.png,s,{100 - i}.0,1\n" for i in range(60))
    (screen / "screen.csv").write_text("image,group,score,flagged\n" + rows)
    (screen / "config.json").write_text(json.dumps({"src": str(images)}))
    client = review_client(tmp_path / "review", screen)
    first = client.get("/screen", params={"reviewer": "ann"}).text
    second = client.get("/screen", params={"reviewer": "ann", "page": 1}).text
    assert first.count('class="item"') == 50 and "page=1" in first and "s/049.png" in first
    assert second.count('class="item"') == 10 and "s/050.png" in second and 'id="item-50"' in second

    def decide(image: str, anchor: str) -> str:
        form = {"reviewer": "ann", "image": image, "decision": "keep", "page": "1",
                "anchor": anchor}  # fmt: skip
        return client.post("/screen/decide", form, follow_redirects=False).headers["location"]

    assert decide("s/052.png", "item-53") == "/screen?reviewer=ann&page=1#item-53"
    assert decide("s/053.png", "\r\nX: y") == "/screen?reviewer=ann&page=1"  # no header tricks
    client.close()
