"""stats.json's ``by_set``: identification accuracy per synthetic set and the cues readers named
per set, counted by hand on tiny exports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_export import COLUMNS, quartet_rows, write_export

from radsynth.cli import main
from radsynth.records.stats import read_stats
from radsynth.stats.by_set import normalised_cue
from radsynth.stats.proportions import wilson_ci

GAN, DDPM = "gan/step-0000400", "ddpm/step-0000600"


def _single(rater: str, item: int, group: str, answer: str, cue: str = "") -> dict:
    return {
        "rater": rater,
        "rater_kind": "human",
        "item": f"s{item:02d}",
        "image_id": f"{group}/{item:04d}.png",
        "group": group,
        "position": 0,
        "picked": "",
        "rating": 3,
        "answer": answer,
        "finding": "",
        "cue": cue,
    }


def _single_export() -> list[dict]:
    """Two raters, 6 images: 2 real, 2 GAN, 2 DDPM. Correct answers by hand below."""
    plan = [  # (item, group, rater 1's answer, rater 2's answer)
        (0, "real", "real", "real"),  # 2 of 2 correct
        (1, "real", "fake", "unsure"),  # 0 of 2 (unsure is not correct)
        (2, GAN, "fake", "fake"),  # 2 of 2
        (3, GAN, "real", "fake"),  # 1 of 2
        (4, DDPM, "real", "real"),  # 0 of 2
        (5, DDPM, "unsure", "fake"),  # 1 of 2
    ]
    cues = {(2, "r1"): "Blurry  ribs", (2, "r2"): "blurry ribs", (3, "r2"): "text marker"}
    return [
        _single(r, i, g, a, cues.get((i, r), ""))
        for i, g, a1, a2 in plan
        for r, a in (("r1", a1), ("r2", a2))
    ]


def test_single_design_accuracy_and_cues_per_set(tmp_path: Path) -> None:
    csv = write_export(tmp_path / "export.csv", _single_export(), COLUMNS)
    assert main(["stats", str(csv), "--out", str(tmp_path / "s"), "--n-boot", "100"]) == 0
    record = read_stats(tmp_path / "s" / "stats.json")
    rows = {r["group"]: r for r in record.by_set["identification"]}
    assert {g: (r["k"], r["n"]) for g, r in rows.items()} == {
        "real": (2, 4),
        GAN: (3, 4),
        DDPM: (1, 4),
    }
    assert rows[GAN]["measure"] == "accuracy" and rows[GAN]["share"] == 0.75
    assert (rows[DDPM]["wilson_low"], rows[DDPM]["wilson_high"]) == pytest.approx(wilson_ci(1, 4))
    assert record.by_set["cues"] == {
        GAN: [{"cue": "blurry ribs", "count": 2}, {"cue": "text marker", "count": 1}]
    }


def test_quartets_count_how_often_each_sets_image_was_taken_for_real(tmp_path: Path) -> None:
    rows = quartet_rows(n_raters=4, n_items=6, seed=3)
    csv = write_export(tmp_path / "export.csv", rows)
    assert main(["stats", str(csv), "--out", str(tmp_path / "s"), "--n-boot", "100"]) == 0
    record = read_stats(tmp_path / "s" / "stats.json")
    by_group = {r["group"]: r for r in record.by_set["identification"]}
    for group, r in by_group.items():
        mine = [x for x in rows if x["group"] == group]
        assert (r["k"], r["n"]) == (sum(x["picked"] for x in mine), len(mine))
        assert r["measure"] == "picked_as_real"
    pooled = record.identification["pooled"]
    assert (by_group["real"]["k"], by_group["real"]["n"]) == (pooled["correct"], pooled["n"])
    assert sum(r["k"] for r in by_group.values()) == 4 * 6  # one pick per answered quartet


def test_a_stats_file_from_before_by_set_still_reads(tmp_path: Path) -> None:
    csv = write_export(tmp_path / "export.csv", quartet_rows(n_raters=3, n_items=4))
    assert main(["stats", str(csv), "--out", str(tmp_path / "s"), "--n-boot", "100"]) == 0
    data = json.loads((tmp_path / "s" / "stats.json").read_text())
    data.pop("by_set")
    (tmp_path / "old.json").write_text(json.dumps(data))
    assert read_stats(tmp_path / "old.json").by_set is None


def test_cues_are_normalised() -> None:
    assert normalised_cue("  Blurry\tRIBS \n") == "blurry ribs"
