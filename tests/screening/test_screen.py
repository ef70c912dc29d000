"""Implausibility screen: recall on labelled implausible phantoms and false-rejection rate on
plausible ones, with the threshold calibrated on a separate set of plausible 'real' images."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from radsynth.cli import main
from radsynth.errors import RadsynthError
from radsynth.screening.knn import knn_scores
from radsynth.screening.screen import ScreenConfig, conformal_threshold, screen


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_conformal_threshold_by_hand():
    scores = np.arange(1.0, 20.0)  # 19 reference scores 1..19
    # frr 0.1: rank ceil(0.9 * 20) = 18, so the 18th smallest, 18.0
    assert conformal_threshold(scores, 0.1) == 18.0
    assert conformal_threshold(scores, 0.5) == 10.0  # ceil(0.5 * 20) = 10
    with pytest.raises(RadsynthError):
        conformal_threshold(scores, 0.01)  # would need 99 reference images
    # Training-conditional (flag_slots): 300 scores, frr 0.05 at 0.9 -> k = 10 slots above the
    # threshold, so the 291st smallest; 19 scores cannot support it (45 needed).
    many = np.arange(1.0, 301.0)
    assert conformal_threshold(many, 0.05, 0.9) == 291.0
    assert conformal_threshold(many, 0.05) == 286.0  # ceil(0.95 * 301) = 286
    with pytest.raises(RadsynthError, match="need at least 45"):
        conformal_threshold(scores, 0.05, 0.9)


def test_knn_scores_match_brute_force():
    rng = np.random.default_rng(0)
    base, queries = rng.normal(size=(30, 4)), rng.normal(size=(11, 4))
    got = knn_scores(queries, base, k=3, block_size=4)
    want = [np.sort(np.linalg.norm(base - q, axis=1))[:3].mean() for q in queries]
    np.testing.assert_allclose(got, want, rtol=1e-6)
    loo = knn_scores(base, base, k=2, block_size=7, leave_one_out=True)
    want = [np.sort(np.linalg.norm(np.delete(base, i, 0) - b, axis=1))[:2].mean()
            for i, b in enumerate(base)]  # fmt: skip
    np.testing.assert_allclose(loo, want, rtol=1e-6)


def test_screen_recall_and_frr_on_phantoms(reference_phantoms, labelled_phantoms, tmp_path):
    cfg = ScreenConfig(
        src=labelled_phantoms / "images", out=tmp_path / "screen",
        reference=reference_phantoms / "images", frr=0.05,
    )  # fmt: skip
    screen(cfg)
    truth = {Path(r["image"]).name: r for r in _read_csv(labelled_phantoms / "manifest.csv")}
    rows = _read_csv(tmp_path / "screen" / "screen.csv")
    assert list(rows[0]) == ["image", "group", "score", "flagged", "p_anatomy", "p_layout",
                             "p_novelty", "p_symmetry", "p_mirror", "p_midline"]  # fmt: skip
    bad = [r["flagged"] == "1" for r in rows if truth[r["image"]]["plausible"] == "0"]
    good = [r["flagged"] == "1" for r in rows if truth[r["image"]]["plausible"] == "1"]
    recall, frr = np.mean(bad), np.mean(good)
    # Measured on this fixed set (64 px, 100 implausible + 100 plausible): recall 0.96 (96/100:
    # airway posterior 20/20, elements swapped 32/32, missing vertebra 27/27, duplicated
    # vertebra 17/21), false-rejection rate 0.05 (5/100) at frr=0.05.
    # With the projection-free part: recall 0.89 and false rejections 0.03 while every part was
    # calibrated on one half of the reference and combined by the plain minimum p-value; with
    # every reference film calibrating (anatomy leave-one-out, the rest cross-fitted) and the
    # weighted minimum, recall 0.96 (96/100) and false rejections 0.04 (4/100).
    # With the midline test OR-ed (midline_frr 0.005, the first test at 0.045): the same, 0.96
    # (96/100) and 0.04 (4/100); with midline_frr 0.01, recall 0.91 (91/100) and 0.02 (2/100).
    assert recall >= 0.93
    assert frr <= 0.08
    info = json.loads((tmp_path / "screen" / "threshold.json").read_text())
    assert info["n_reference"] == 200 and info["frr_reference_leave_one_out"] <= 0.05
    kept, excluded = (_read_csv(tmp_path / "screen" / f) for f in ("kept.csv", "excluded.csv"))
    assert len(kept) + len(excluded) == len(rows)
    assert {r["image"] for r in excluded} == {r["image"] for r in rows if r["flagged"] == "1"}
    assert info["parts"] == 6 and info["n_calibration"] == 200
    assert 0 < info["weighted_min_p_cut"] < 0.05 / min(info["part_weights"])


def test_table_s1_counts_per_checkpoint(reference_phantoms, labelled_phantoms, tmp_path):
    images = sorted((labelled_phantoms / "images").glob("*.png"))
    src = tmp_path / "samples"
    for group, chunk in (("step-0001000", images[:30]), ("step-0002000", images[30:50])):
        (src / group).mkdir(parents=True)
        for p in chunk:
            shutil.copy(p, src / group / p.name)
    args = ["screen", str(src), str(tmp_path / "screen"), "--reference",
            str(reference_phantoms / "images"), "--frr", "0.1", "--k", "5"]  # fmt: skip
    assert main(args) == 0
    rows = _read_csv(tmp_path / "screen" / "screen.csv")
    table = {r["group"]: r for r in _read_csv(tmp_path / "screen" / "table_s1.csv")}
    assert list(table) == ["step-0001000", "step-0002000", "total"]
    for group, n in (("step-0001000", 30), ("step-0002000", 20)):
        excluded = sum(r["flagged"] == "1" for r in rows if r["group"] == group)
        assert table[group] == {"group": group, "generated": str(n), "excluded": str(excluded),
                                "final": str(n - excluded)}  # fmt: skip
    total = table["total"]
    assert int(total["generated"]) == 50
    assert int(total["excluded"]) == sum(r["flagged"] == "1" for r in rows)
    # A second run into the same folder with other settings is refused, the first kept.
    before = (tmp_path / "screen" / "screen.csv").read_text()
    assert main([*args[:-2], "--k", "3"]) == 2
    assert (tmp_path / "screen" / "screen.csv").read_text() == before
    # Deterministic.
    assert main([*args[:2], str(tmp_path / "again"), *args[3:]]) == 0
    assert (tmp_path / "again" / "screen.csv").read_text() == before


def test_screen_bad_input(reference_phantoms, tmp_path):
    few = tmp_path / "few"
    few.mkdir()
    for p in sorted((reference_phantoms / "images").glob("*.png"))[:5]:
        shutil.copy(p, few / p.name)
    out = str(tmp_path / "o")
    assert main(["screen", str(few), out, "--reference", str(few)]) == 2  # fewer than k refs
    assert main(["screen", str(few), out, "--reference", str(few), "--frr", "1.5"]) == 2
    assert main(["screen", str(few), out, "--reference", str(few), "--frr-confidence", "1"]) == 2
    # The midline test's share must leave the first test a budget.
    for share in ("0.05", "0", "0.2"):
        args = ["screen", str(few), out, "--reference", str(few), "--midline-frr", share]
        assert main(args) == 2
    assert main(["screen", str(tmp_path / "nope"), out, "--reference", str(few)]) == 2
    assert not Path(out).exists()
