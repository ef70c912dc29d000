"""Per-class "shows its finding" statistics against a hand-computed example checked in R."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from fake_export import COLUMNS, quartet_rows, write_export

from radsynth.errors import RadsynthError
from radsynth.report.sections import fmt_p
from radsynth.stats.analysis import StatsConfig, stats
from radsynth.stats.responses import read_responses

# Yes answers out of 4 images per (rater, group), one list entry per rater h1..h4.
# PNEUMONIA: real shares 1, 1, .75, .5 vs synthetic 0, .25, .25, .75: differences 1, .75, .5,
# -.25 (no ties, no zeros: R's exact branch). NORMAL: real .75, 1, .5, 1 vs synthetic .5, .5,
# .5, .75: one zero and a tie (normal branch with tie correction).
YES = {
    ("PNEUMONIA", "real"): [4, 4, 3, 2],
    ("PNEUMONIA", "synA"): [0, 1, 1, 3],
    ("NORMAL", "real"): [3, 4, 2, 4],
    ("NORMAL", "synA"): [2, 2, 2, 3],
}
CLASS_COLUMNS = [*COLUMNS, "item_kind", "label"]


def _rows() -> list[dict]:
    """A single-image study: each rater sees 4 images per (class, group), answering yes to the
    first ``YES[class, group][rater]`` of them; plus attention and repeat rows to be left out."""
    rows = []
    for (label, group), yes in YES.items():
        for r, k_yes in enumerate(yes):
            for k in range(4):
                rows.append({
                    "rater": f"h{r + 1}", "rater_kind": "human", "item": f"{label}-{group}-{k}",
                    "image_id": f"{label}-{group}-{k}", "group": group, "picked": "",
                    "rating": 3, "answer": "real" if k % 2 else "fake",
                    "finding": "yes" if k < k_yes else "no", "item_kind": "main",
                    "label": label,
                })  # fmt: skip
    for r in range(4):
        base = {"rater": f"h{r + 1}", "rater_kind": "human", "picked": "", "rating": 1,
                "answer": "fake", "finding": "no"}  # fmt: skip
        rows.append({**base, "item": "att", "image_id": "att", "group": "attention",
                     "item_kind": "attention", "label": ""})  # fmt: skip
        rows.append({**base, "item": "rep", "image_id": "rep", "group": "synA",
                     "item_kind": "repeat", "label": "PNEUMONIA"})  # fmt: skip
    return rows


def _run(export: Path, out: Path) -> dict:
    stats(StatsConfig(responses=export, out=out, n_boot=20))
    return json.loads((out / "stats.json").read_text())


def test_per_class_shares_and_tests_match_r(tmp_path: Path) -> None:
    res = _run(write_export(tmp_path / "e.csv", _rows(), CLASS_COLUMNS), tmp_path / "o")
    fc = res["finding_by_class"]
    assert fc["classes"] == ["NORMAL", "PNEUMONIA"]
    shares = {(s["class"], s["group"]): s for s in fc["shares"]}
    assert set(shares) == set(YES)  # attention and repeat rows are not counted
    # R: prop.test(13, 16, correct = FALSE)$conf.int -> 0.569911190380259 0.934084009285719
    pr = shares["PNEUMONIA", "real"]
    assert (pr["yes"], pr["n"], pr["n_raters"]) == (13, 16, 4)
    assert pr["wilson_low"] == pytest.approx(0.569911190380259, rel=1e-12)
    assert pr["wilson_high"] == pytest.approx(0.934084009285719, rel=1e-12)
    # R: prop.test(5, 16, correct = FALSE)$conf.int -> 0.141646438547820 0.555956441652593
    ps = shares["PNEUMONIA", "synA"]
    assert (ps["yes"], ps["n"]) == (5, 16)
    assert ps["wilson_low"] == pytest.approx(0.141646438547820, rel=1e-12)
    assert ps["wilson_high"] == pytest.approx(0.555956441652593, rel=1e-12)
    # R: prop.test(9, 16, correct = FALSE)$conf.int -> 0.331785563988119 0.769013475945076
    assert shares["NORMAL", "synA"]["wilson_low"] == pytest.approx(0.331785563988119, rel=1e-12)
    tests = {t["class"]: t for t in fc["wilcoxon"]}
    # R: wilcox.test(c(1, 1, .75, .5), c(0, .25, .25, .75), paired = TRUE, exact = TRUE)
    #    V = 9, p-value = 0.25
    pn = tests["PNEUMONIA"]
    assert (pn["V"], pn["branch"], pn["n"], pn["group"], pn["reference"]) == (
        9, "exact", 4, "synA", "real",
    )  # fmt: skip
    assert pn["p_value"] == pytest.approx(0.25, rel=1e-12)
    assert pn["mean_share_reference"] == pytest.approx(0.8125)
    # R: wilcox.test(c(.75, 1, .5, 1), c(.5, .5, .5, .75), paired = TRUE)
    #    V = 6, p-value = 0.173568166555922 (normal approximation: one zero, one tie)
    no = tests["NORMAL"]
    assert (no["V"], no["branch"], no["n"], no["n_zeros"], no["ties"]) == (6, "normal", 3, 1, True)
    assert no["p_value"] == pytest.approx(0.173568166555922, rel=1e-12)
    # R: p.adjust(c(0.25, 0.173568166555922), "holm") -> 0.347136333111843 (both)
    for t in tests.values():
        assert t["p_holm"] == pytest.approx(0.347136333111843, rel=1e-12)
    per_rater = {(p["class"], p["group"], p["rater"]): p["share"] for p in fc["per_rater"]}
    assert per_rater["NORMAL", "real", "h3"] == 0.5
    with open(tmp_path / "o" / "finding_by_class.csv", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert [(r["class"], r["group"]) for r in table] == [
        ("NORMAL", "real"), ("NORMAL", "synA"), ("PNEUMONIA", "real"), ("PNEUMONIA", "synA"),
    ]  # fmt: skip
    assert table[0]["p_value"] == "" and float(table[3]["p_value"]) == pytest.approx(0.25)
    assert float(table[3]["p_holm"]) == pytest.approx(0.347136333111843, rel=1e-12)


def test_a_class_with_one_paired_rater_is_not_tested_and_says_so(tmp_path: Path) -> None:
    # Only rater h1 saw synthetic NORMAL images.
    dropped = ("NORMAL", "synA")
    rows = [r for r in _rows() if (r["label"], r["group"]) != dropped or r["rater"] == "h1"]
    res = _run(write_export(tmp_path / "e.csv", rows, CLASS_COLUMNS), tmp_path / "o")
    assert [t["class"] for t in res["finding_by_class"]["wilcoxon"]] == ["PNEUMONIA"]
    # With one test left, Holm leaves its p-value as it is.
    assert res["finding_by_class"]["wilcoxon"][0]["p_holm"] == pytest.approx(0.25)
    assert any("class NORMAL: 1 rater(s)" in w for w in res["warnings"])


def test_unlabelled_export_gets_no_per_class_results(tmp_path: Path) -> None:
    """A study-wide study's export (labels empty, or no label column at all) analyses as before."""
    rows = quartet_rows(n_raters=4, n_items=6)
    with_column = _run(write_export(tmp_path / "a.csv", rows, [*COLUMNS, "label"]), tmp_path / "a")
    without = _run(write_export(tmp_path / "b.csv", rows), tmp_path / "b")
    assert "finding_by_class" not in with_column and "finding_by_class" not in without
    assert not (tmp_path / "a" / "finding_by_class.csv").exists()
    drop = ("input",)
    assert {k: v for k, v in with_column.items() if k not in drop} == {
        k: v for k, v in without.items() if k not in drop
    }


def test_finding_answer_must_be_yes_or_no(tmp_path: Path) -> None:
    rows = _rows()
    rows[0]["finding"] = "maybe"
    with pytest.raises(RadsynthError, match="line 2: finding 'maybe' is not yes or no"):
        read_responses(write_export(tmp_path / "e.csv", rows, CLASS_COLUMNS))


def test_report_shows_the_per_class_table(tmp_path: Path) -> None:
    from radsynth.report.study import study

    _run(write_export(tmp_path / "e.csv", _rows(), CLASS_COLUMNS), tmp_path / "run" / "stats")
    sec = study(tmp_path / "run")
    table = next(t for t in sec.tables if "class's finding" in t["caption"])
    assert [r[:3] for r in table["rows"]] == [
        ["NORMAL", "real (reference)", "81.2% (13 / 16)"],
        ["NORMAL", "synA", "56.2% (9 / 16)"],
        ["PNEUMONIA", "real (reference)", "81.2% (13 / 16)"],
        ["PNEUMONIA", "synA", "31.2% (5 / 16)"],
    ]  # fmt: skip
    assert table["rows"][0][4] == "–" and table["rows"][3][5] == fmt_p(0.347136333111843)
    assert any("no class showed a significant difference" in p for p in sec.paragraphs)
