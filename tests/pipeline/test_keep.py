"""The kept set follows the reviewers: decisions made on the review page (a real FastAPI client
over a real SQLite file) change which images are copied on, and appear in the report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from review_helpers import review_client

from radsynth.cli import main
from radsynth.fates.keep import collect_kept, decide_kept, write_keep_record
from radsynth.fates.records import read_fates

IMAGES = ["step-1/a.png", "step-1/b.png", "step-2/c.png", "step-2/d.png"]


@pytest.fixture
def run(tmp_path: Path) -> Path:
    """A run folder with oriented samples, a screen (b and d flagged) and an audit (2 pairs)."""
    run = tmp_path / "run"
    for k, name in enumerate(IMAGES):
        path = run / "oriented" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((8, 8), 40 * k, np.uint8)).save(path)
    (run / "screen").mkdir()
    (run / "screen" / "config.json").write_text(json.dumps({"src": str(run / "oriented")}))
    (run / "screen" / "screen.csv").write_text(
        "image,group,score,flagged\n" + "".join(
            f"{n},{n.split('/')[0]},{k + 1}.0,{int(n[-5] in 'bd')}\n" for k, n in enumerate(IMAGES)
        )
    )  # fmt: skip
    (run / "audit").mkdir()
    (run / "audit" / "pairs.csv").write_text(
        "rank,synthetic,train,similarity,percentile,flagged\n"
        "1,step-2/c.png,000001.png,0.99,100,1\n2,step-1/a.png,000002.png,0.7,40,0\n"
    )
    return run


def _kept(run: Path, keep_mode: str = "screened") -> list[str]:
    fates = decide_kept(run, keep_mode, with_audit=True)
    write_keep_record(run / "keep", fates)
    collect_kept(fates, run / "oriented", run / "kept")
    return sorted(p.relative_to(run / "kept").as_posix() for p in (run / "kept").rglob("*.png"))


def test_reviewer_decisions_change_the_kept_set_and_the_report(run: Path) -> None:
    assert _kept(run) == ["step-1/a.png", "step-2/c.png"]  # the screen alone

    client = review_client(run / "review", run / "screen", run / "audit")
    client.post("/screen/decide", data={"reviewer": "ann", "image": "step-1/b.png",
                                        "decision": "keep"})  # fmt: skip
    client.post("/screen/decide", data={"reviewer": "ann", "image": "step-1/a.png",
                                        "decision": "exclude"})  # fmt: skip
    for who in ("ann", "bo"):
        client.post("/audit/decide", data={"reviewer": who, "synthetic": "step-2/c.png",
                                           "verdict": "memorized"})  # fmt: skip

    # b was flagged and kept by a reviewer; a was passed and excluded; c is an agreed copy.
    assert _kept(run) == ["step-1/b.png"]
    fates = {f.image: f for f in read_fates(run / "keep" / "images.csv")}
    assert (fates["step-1/b.png"].decided_by, fates["step-2/c.png"].copy) == ("ann", True)
    table = (run / "keep" / "table_s1.csv").read_text().splitlines()
    assert table[0] == ("group,generated,flagged_by_screen,excluded_by_screen,"
                        "overridden_by_reviewer,excluded_as_copy,kept")  # fmt: skip
    assert table[1:] == ["step-1,2,1,1,2,0,1", "step-2,2,1,1,0,1,0", "total,4,2,2,2,1,1"]

    assert main(["report", str(run)]) == 0
    html = (run / "report.html").read_text()
    assert "Table S1" in html and "Overridden by reviewer" in html and "Excluded as copy" in html
    assert "Of 4 synthetic images, 1 (25.0%) went on to the reader study" in html
    assert "Reviewers&#39; decisions" in html or "Reviewers' decisions" in html
    assert "2 overrides: 1 flagged images kept, 1 passed images excluded" in html
    assert "ann: memorized, bo: memorized" in html


def test_without_audit_verdicts_the_audit_set_keeps_copies(run: Path) -> None:
    """The audit runs on the set before copies are removed, so its pairs stay reviewable."""
    client = review_client(run / "review", None, run / "audit")
    for who in ("ann", "bo"):
        client.post("/audit/decide", data={"reviewer": who, "synthetic": "step-2/c.png",
                                           "verdict": "memorized"})  # fmt: skip
    before_audit = decide_kept(run, "screened", with_audit=False)
    assert [f.image for f in before_audit if f.kept] == ["step-1/a.png", "step-2/c.png"]
    after_audit = decide_kept(run, "screened", with_audit=True)
    assert [f.image for f in after_audit if f.kept] == ["step-1/a.png"]


def test_stale_review_decisions_are_reported(run: Path, caplog) -> None:
    (run / "review").mkdir()
    (run / "review" / "screen_decisions.csv").write_text(
        "image,group,score,auto,final,decided_by,decided_at,overridden\n"
        "step-9/z.png,step-9,1.0,keep,exclude,ann,2026-01-01T00:00:00+00:00,1\n"
    )
    with caplog.at_level("WARNING"):
        assert _kept(run) == ["step-1/a.png", "step-2/c.png"]
    assert "1 reviewer decision(s)" in caplog.text and "step-9/z.png" in caplog.text


def test_keep_all_says_how_many_images_the_screen_flagged(run: Path) -> None:
    """Under keep: all nothing is excluded by the screen, but Table S1 and the fates record
    still say what it flagged (it said "excluded by screen 0" and nothing else before)."""
    assert _kept(run, "all") == IMAGES
    fates = {f.image: f for f in read_fates(run / "keep" / "images.csv")}
    assert {k for k, f in fates.items() if f.flagged} == {"step-1/b.png", "step-2/d.png"}
    assert all(f.auto == "keep" for f in fates.values())
    table = (run / "keep" / "table_s1.csv").read_text().splitlines()
    assert table[-1] == "total,4,2,0,0,0,4"  # 2 flagged, 0 excluded by the screen

    assert main(["report", str(run)]) == 0
    assert "The screen flagged 2; 2 of them were carried on" in (run / "report.html").read_text()


def test_an_image_the_screen_never_saw_is_refused_not_dropped(run: Path) -> None:
    from radsynth.errors import RadsynthError
    from radsynth.fates.keep import KeepConfig, keep

    extra = run / "oriented" / "step-2" / "late.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(extra)
    cfg = KeepConfig(
        screen=run / "screen", review=run / "review", images=run / "oriented", out=run / "kept"
    )
    with pytest.raises(RadsynthError, match=r"1 image\(s\) under .* were not screened .*late"):
        keep(cfg)
    assert not (run / "kept").exists()  # refused before anything was copied
    extra.unlink()
    assert "kept 2 of 4 images" in keep(cfg).summary


def test_fates_records_without_the_flagged_column_still_read(run: Path) -> None:
    old = run / "images.csv"
    old.write_text(
        "image,group,score,auto,final,decided_by,copy,kept\n"
        "step-1/a.png,step-1,1.000000,keep,keep,auto,0,1\n"
        "step-1/b.png,step-1,2.000000,exclude,exclude,auto,0,0\n"
    )
    assert [f.flagged for f in read_fates(old)] == [False, True]


def test_the_release_reads_the_keep_record_and_refuses_a_stale_one(run: Path) -> None:
    """In a run folder the release takes each image's fate from keep/images.csv, the one record
    of them; decided afresh from the same screen it is the same; a record older than a decision
    file, or made under the other keep mode, is refused in one line."""
    import os

    from radsynth.errors import RadsynthError
    from radsynth.fates.keep import read_keep_record
    from radsynth.release.collect import decide

    _kept(run)  # writes keep/images.csv as the pipeline's exclude-copies step does
    record = run / "keep" / "images.csv"
    from_record = decide(run / "screen", run / "review", "screened", record=record)
    afresh = decide(run / "screen", run / "review", "screened")
    assert from_record.fates == afresh.fates and from_record.flagged == afresh.flagged
    only = decide(run / "screen", None, "screened", ("step-2",), record=record)
    assert {f.group for f in only.fates} == {"step-2"}

    with pytest.raises(RadsynthError, match="made with keep: screened, not keep: all"):
        read_keep_record(record, "all")
    with pytest.raises(RadsynthError, match=r"checkpoint\(s\) step-9 are not in"):
        read_keep_record(record, "screened", checkpoints=("step-9",))
    screen_csv = run / "screen" / "screen.csv"
    later = record.stat().st_mtime_ns + 5_000_000_000
    os.utime(screen_csv, ns=(later, later))
    with pytest.raises(RadsynthError, match="is older than .*screen.csv: run the pipeline again"):
        decide(run / "screen", None, "screened", record=record)
