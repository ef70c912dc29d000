"""``radsynth stats`` on a single-design study also writes the MRMC analysis; stats.json keeps
its keys."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from fake_export import write_export

from radsynth.cli import main
from radsynth.records.mrmc import read_mrmc
from radsynth.records.stats import read_stats

SETS = ("step-0001000", "step-0002000")


def single_rows(n_raters=6, n_real=12, n_synth=10, gap=(0.2, 1.2), seed=0, kind="human"):
    """Single-design export: every rater rates every image once; synthetic set s is rated
    ``gap[s]`` lower on average than real images (a known realism gap)."""
    rng = np.random.default_rng(seed)
    images = [("real", f"real/{i}.png", 0.0) for i in range(n_real)]
    images += [(s, f"{s}/{i}.png", gap[k]) for k, s in enumerate(SETS) for i in range(n_synth)]
    rows = []
    for r in range(n_raters):
        for item, (group, image, drop) in enumerate(images):
            rating = int(np.clip(round(rng.normal(3.2 - drop, 0.8)), 1, 4))
            answer = "real" if rating >= 3 else ("unsure" if rating == 2 else "fake")
            rows.append(
                {
                    "rater": f"{kind[0]}{r}",
                    "rater_kind": kind,
                    "item": f"s{item:03d}",
                    "image_id": image,
                    "group": group,
                    "position": 0,
                    "picked": "",
                    "rating": rating,
                    "answer": answer,
                }
            )
    return rows


def _stats(csv: Path, out: Path, *extra: str) -> Path:
    assert main(["stats", str(csv), "--out", str(out), "--n-boot", "50", *extra]) == 0
    return out


def test_single_design_gets_mrmc_beside_unchanged_stats(tmp_path: Path) -> None:
    out = _stats(write_export(tmp_path / "e.csv", single_rows()), tmp_path / "stats")
    read_stats(out / "stats.json")  # the stats.json schema still reads
    rec = read_mrmc(out / "mrmc.json")
    a = rec.analysis
    assert rec.score == "realism rating (1-4)" and rec.simulated is False
    assert a["modalities"] == list(SETS) and a["design"] == "partially paired"
    assert a["cases"] == {s: {"truth_1": 12, "truth_0": 10} for s in SETS}
    assert a["dbm"] is None and "not crossed" in a["dbm_note"]
    # The larger realism gap is the easier one to see: higher AUC for step-0002000.
    rrrc = a["rrrc"]
    means = {c["modality"]: c["auc"] for c in rrrc["modality_cis"]}
    assert means["step-0002000"] > means["step-0001000"] > 0.5
    assert rrrc["test"]["df2"] > 0 and 0 <= rrrc["test"]["p_value"] <= 1
    assert (out / "mrmc.md").is_file() and (out / "mrmc_auc.csv").is_file()
    assert json.loads((out / "manifest.json").read_text())["mrmc"] == "mrmc.json"


def test_answer_score_and_incomplete_rater(tmp_path: Path) -> None:
    rows = single_rows()
    rows = [r for r in rows if not (r["rater"] == "h5" and r["image_id"] == "real/3.png")]
    out = _stats(write_export(tmp_path / "e.csv", rows), tmp_path / "s", "--mrmc-score", "answer")
    rec = read_mrmc(out / "mrmc.json")
    assert rec.score.startswith("answer") and list(rec.dropped_readers) == ["h5"]
    assert rec.analysis["readers"] == ["h0", "h1", "h2", "h3", "h4"]
    warnings = read_stats(out / "stats.json").warnings
    assert any("leaves out 1 rater(s)" in w and "h5" in w for w in warnings)


def test_one_set_analysed_without_comparison_and_simulated_labelled(tmp_path: Path) -> None:
    rows = [r for r in single_rows(kind="simulated") if r["group"] != SETS[1]]
    out = _stats(write_export(tmp_path / "e.csv", rows), tmp_path / "s")
    rec = read_mrmc(out / "mrmc.json")
    assert rec.simulated and rec.analysis["rrrc"]["test"] is None
    assert [e["modality"] for e in rec.analysis["equivalence"]] == [SETS[0]]
    assert "SIMULATED" in (out / "mrmc.md").read_text()


def test_too_few_complete_raters_is_a_warning(tmp_path: Path) -> None:
    rows = [r for r in single_rows(n_raters=3) if not (r["rater"] != "h0" and r["item"] == "s000")]
    out = _stats(write_export(tmp_path / "e.csv", rows), tmp_path / "s")
    assert not (out / "mrmc.json").exists()
    assert any("MRMC analysis not run" in w for w in read_stats(out / "stats.json").warnings)
