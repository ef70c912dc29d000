"""Reviewer decisions as records: what the review page writes is what keep and the report read,
and a reviewer's decision changes the fate of an image in either direction."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from review_helpers import review_client

from radsynth.errors import RadsynthError
from radsynth.fates.records import (
    AuditVerdict,
    ScreenDecision,
    decide_images,
    read_audit_verdicts,
    read_screen,
    read_screen_decisions,
    table_s1,
    unmatched,
    write_audit_verdicts,
    write_screen_decisions,
)


def _folders(tmp_path: Path) -> tuple[Path, Path]:
    """A hand-made screen folder (4 images, 2 flagged) and audit folder (2 pairs)."""
    screen, audit, images = tmp_path / "screen", tmp_path / "audit", tmp_path / "oriented"
    for folder in (screen, audit, images):
        folder.mkdir()
    (screen / "config.json").write_text(json.dumps({"src": str(images)}))
    (screen / "screen.csv").write_text(
        "image,group,score,flagged\n"
        "s-1/a.png,s-1,1.0,0\ns-1/b.png,s-1,9.0,1\ns-2/c.png,s-2,2.0,0\ns-2/d.png,s-2,8.0,1\n"
    )
    (audit / "pairs.csv").write_text(
        "rank,synthetic,train,similarity,percentile,flagged\n"
        "1,s-2/c.png,t/7.png,0.99,100,1\n2,s-1/a.png,t/3.png,0.80,50,0\n"
    )
    return screen, audit


def test_review_page_decisions_are_read_back_as_records(tmp_path):
    screen, audit = _folders(tmp_path)
    out = tmp_path / "review"
    client = review_client(out, screen, audit)
    client.post(
        "/screen/decide", data={"reviewer": "ann", "image": "s-1/b.png", "decision": "keep"}
    )
    client.post("/screen/decide", data={"reviewer": "bo", "image": "s-1/a.png",
                                        "decision": "exclude"})  # fmt: skip
    for who in ("ann", "bo"):
        client.post("/audit/decide", data={"reviewer": who, "synthetic": "s-2/c.png",
                                           "verdict": "memorized"})  # fmt: skip
    client.post("/audit/decide", data={"reviewer": "ann", "synthetic": "s-1/a.png",
                                       "verdict": "memorized"})  # fmt: skip

    decisions = read_screen_decisions(out)
    assert set(decisions) == {"s-1/a.png", "s-1/b.png", "s-2/c.png", "s-2/d.png"}
    b = decisions["s-1/b.png"]
    assert (b.auto, b.final, b.decided_by, b.reviewed, b.overridden) == (
        "exclude", "keep", "ann", True, True)  # fmt: skip
    assert b.decided_at.endswith("+00:00") and b.score == 9.0
    assert not decisions["s-2/d.png"].reviewed and decisions["s-2/d.png"].final == "exclude"

    verdicts = read_audit_verdicts(out)
    c = verdicts["s-2/c.png"]
    assert (c.status, c.final, c.memorized, c.rank) == ("agreed", "memorized", True, 1)
    assert c.verdicts == (("ann", "memorized"), ("bo", "memorized"))
    assert (verdicts["s-1/a.png"].status, verdicts["s-1/a.png"].memorized) == ("pending", False)

    # Reviewer overrides in both directions, and the agreed copy, decide what is kept.
    fates = {f.image: f for f in decide_images(read_screen(screen), decisions, verdicts)}
    assert {k: f.kept for k, f in fates.items()} == {
        "s-1/a.png": False,  # kept by the screen, excluded by bo
        "s-1/b.png": True,  # flagged by the screen, kept by ann
        "s-2/c.png": False,  # kept by the screen, agreed memorized
        "s-2/d.png": False,  # flagged, nobody reviewed it
    }
    columns = ("group", "generated", "flagged_by_screen", "excluded_by_screen",
               "overridden_by_reviewer", "excluded_as_copy", "kept")  # fmt: skip
    assert table_s1(fates.values()) == [
        dict(zip(columns, ("s-1", 2, 1, 1, 2, 0, 1), strict=True)),
        dict(zip(columns, ("s-2", 2, 1, 1, 0, 1, 0), strict=True)),
        dict(zip(columns, ("total", 4, 2, 2, 2, 1, 1), strict=True)),
    ]


def test_records_round_trip(tmp_path):
    d = ScreenDecision("g/x.png", "g", 3.25, "exclude", "keep", "ann", "2026-01-01T00:00:00+00:00")
    v = AuditVerdict(4, "g/x.png", "t/1.png", 0.5, False, (("ann", "not"), ("bo", "memorized")),
                     "", "disagreement")  # fmt: skip
    write_screen_decisions(tmp_path, [d])
    write_audit_verdicts(tmp_path, [v])
    assert read_screen_decisions(tmp_path) == {"g/x.png": d}
    assert read_audit_verdicts(tmp_path) == {"g/x.png": v}
    assert "g/x.png" in (tmp_path / "audit_disagreements.csv").read_text()


def test_no_review_folder_means_no_decisions(tmp_path):
    assert read_screen_decisions(tmp_path / "absent") == {}
    assert read_audit_verdicts(tmp_path / "absent") == {}


def test_stale_automatic_rows_do_not_override_the_current_screen(tmp_path):
    screen, _ = _folders(tmp_path)
    # An earlier screen flagged a.png; nobody reviewed it; the current screen keeps it.
    old = ScreenDecision("s-1/a.png", "s-1", 1.0, "exclude", "exclude", "auto")
    gone = ScreenDecision("s-9/z.png", "s-9", 1.0, "keep", "exclude", "ann", "t")
    fates = {f.image: f for f in decide_images(read_screen(screen), {old.image: old}, {})}
    assert fates["s-1/a.png"].kept
    assert unmatched({old.image: old, gone.image: gone}, read_screen(screen)) == ["s-9/z.png"]


def test_keep_all_still_honours_a_reviewers_exclusion(tmp_path):
    screen, _ = _folders(tmp_path)
    d = ScreenDecision("s-2/c.png", "s-2", 2.0, "keep", "exclude", "ann", "t")
    fates = decide_images(read_screen(screen), {d.image: d}, {}, screen_excludes=False)
    assert [f.image for f in fates if f.kept] == ["s-1/a.png", "s-1/b.png", "s-2/d.png"]


@pytest.mark.parametrize(
    "text",
    [
        "image,group,score\nx,g,1\n",  # columns missing
        "image,group,score,auto,final,decided_by,decided_at\nx,g,1,keep,maybe,ann,t\n",
        "image,group,score,auto,final,decided_by,decided_at\nx,g,high,keep,keep,ann,t\n",
    ],
)
def test_bad_decision_files_are_one_line_errors(tmp_path, text):
    (tmp_path / "screen_decisions.csv").write_text(text)
    with pytest.raises(RadsynthError, match="screen_decisions.csv"):
        read_screen_decisions(tmp_path)


def test_non_utf8_decision_file_is_one_line_error(tmp_path):
    (tmp_path / "audit_adjudication.csv").write_bytes("rank,synthétic\n".encode("utf-16"))
    with pytest.raises(RadsynthError, match="not UTF-8"):
        read_audit_verdicts(tmp_path)
