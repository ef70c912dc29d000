"""The ``radsynth report`` stage on a small, realistic fake run folder."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from radsynth.cli import main

GROUPS = ["real", "step-0002000", "step-0004000"]


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def _radiograph(path: Path, seed: int) -> Path:
    """A 64x64 grey blob that looks vaguely like a chest film (bright body, dark lungs)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[-1:1:64j, -1:1:64j]
    body = np.exp(-(x**2 / 0.5 + y**2 / 0.8))
    lungs = np.exp(-((np.abs(x) - 0.35) ** 2 / 0.04 + y**2 / 0.25))
    img = np.clip(0.8 * body - 0.5 * lungs + 0.05 * rng.standard_normal((64, 64)), 0, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((img * 255).astype(np.uint8)).save(path)
    return path


def _export(path: Path, seed: int = 0, kind: str = "human") -> Path:
    rng = np.random.default_rng(seed)
    rows = []
    for r in range(6):
        for i in range(10):
            pick = 0 if rng.random() < 0.4 else int(rng.integers(1, len(GROUPS)))
            for pos, g in enumerate(rng.permutation(len(GROUPS))):
                rows.append([f"r{r}", kind, f"q{i}", f"{GROUPS[g]}/{i}.png", GROUPS[g], pos,
                             int(g == pick), int(rng.integers(2, 5)), ""])  # fmt: skip
    header = ["rater", "rater_kind", "item", "image_id", "group", "position", "picked", "rating",
              "answer"]  # fmt: skip
    _write_csv(path, header, rows)
    return path


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    steps = np.arange(0, 4001, 250)
    _write_csv(run / "train" / "losses.csv", ["step", "train_loss", "val_loss"],
               [[s, 0.2 * np.exp(-s / 900) + 0.02, 0.2 * np.exp(-s / 1000) + 0.025]
                for s in steps])  # fmt: skip
    _write_csv(run / "fid_sweep" / "fid.csv",
               ["step", "checkpoint", "n_real", "n_fake", "fid", "kid_mean", "kid_std",
                "precision", "recall"],
               [[s, f"step-{s:07d}", 500, 500, 80 / (s / 1000), 0.02 / (s / 1000), 0.002, 0.6, 0.4]
                for s in (1000, 2000, 3000, 4000)])  # fmt: skip
    # As radsynth run writes it (pipeline/choose.py): chosen, reason, reasons.
    choice = {
        "chosen": [2000, 4000],
        "reason": "proposed by rule. step 2,000: earliest ...; step 4,000: lowest FID.",
        "reasons": {"4000": "lowest FID", "2000": "earliest within 10% of the lowest FID"},
    }
    (run / "checkpoints.json").write_text(json.dumps(choice))
    for g in GROUPS[1:]:
        for k in range(5):
            _radiograph(run / "samples" / g / f"{k:06d}.png", seed=k + len(g))
    _write_csv(
        run / "screen" / "table_s1.csv",
        ["group", "generated", "excluded", "final"],
        [
            ["step-0002000", 1200, 96, 1104],
            ["step-0004000", 1200, 31, 1169],
            ["total", 2400, 127, 2273],
        ],
    )
    for k in range(3):
        _radiograph(run / "data" / "train" / f"{k:06d}.png", seed=100 + k)
    # As radsynth audit writes them: paths relative to its --synthetic and --train folders.
    pairs = [[k + 1, f"step-0004000/{k:06d}.png", f"{k:06d}.png", 0.97 - 0.02 * k, 99.9 - k,
              int(k == 0)] for k in range(3)]  # fmt: skip
    cols = ["rank", "synthetic", "train", "similarity", "percentile", "flagged"]
    _write_csv(run / "audit" / "pairs.csv", cols, pairs)
    _write_csv(run / "audit" / "neighbours.csv", cols[1:], [p[1:] for p in pairs] * 4)
    (run / "audit" / "config.json").write_text(
        json.dumps({"synthetic": str(run / "samples"), "train": str(run / "data" / "train")})
    )
    csv_path = _export(tmp_path / "export.csv")
    assert main(["stats", str(csv_path), "--out", str(run / "stats"), "--n-boot", "100"]) == 0
    return run


def _self_contained(html: str) -> None:
    # No external resource: every src/href is a data URI or an in-page anchor.
    for attr in re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', html):
        assert attr.startswith(("data:", "#")), attr
    assert "http://" not in html and "https://" not in html
    assert "<link" not in html and "@import" not in html


def test_report_renders_every_section(run_dir: Path) -> None:
    assert main(["report", str(run_dir)]) == 0
    html = (run_dir / "report.html").read_text()
    _self_contained(html)
    for title in ("Training progress", "FID", "Which checkpoints", "Synthetic samples",
                  "Screening", "Memorisation audit", "Reader study"):  # fmt: skip
        assert title in html
    assert "Not run" not in html
    assert html.count("data:image/png;base64,") >= 2 + 2 + 3 + 2  # loss, fid, grids, pairs, stats
    assert "1,104" in html and "8.0%" in html  # screening counts formatted; 96/1200 excluded
    assert "earliest within 10% of the lowest FID" in html
    assert "Screening excluded 127 of 2,400" in html  # the total row is not double-counted
    assert "4 of 12 audited synthetic images were flagged" in html
    assert html.count("<figcaption>Pair ") == 3  # every pair found via audit/config.json
    assert "{" not in re.sub(r"<style>.*?</style>", "", html, flags=re.S)  # no raw JSON
    assert "SIMULATED" not in html


def test_missing_sections_say_not_run(tmp_path: Path) -> None:
    run = tmp_path / "empty-run"
    run.mkdir()
    assert main(["report", str(run), "--out", str(tmp_path / "r.html")]) == 0
    html = (tmp_path / "r.html").read_text()
    _self_contained(html)
    assert html.count("Not run:") == 6  # checkpoints.json absent: no section at all


def test_simulated_raters_are_labelled(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _export(tmp_path / "sim.csv", kind="simulated")
    assert main(["stats", str(tmp_path / "sim.csv"), "--out", str(run / "stats"),
                 "--n-boot", "50"]) == 0  # fmt: skip
    assert main(["report", str(run)]) == 0
    html = (run / "report.html").read_text()
    assert "SIMULATED raters, not people" in html and "simulated raters" in html


def test_unreadable_stats_is_a_note_not_a_crash(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "stats").mkdir(parents=True)
    (run / "stats" / "stats.json").write_text("{not json")
    assert main(["report", str(run)]) == 0
    assert "not a radsynth stats file" in (run / "report.html").read_text()


def test_existing_report_not_overwritten(run_dir: Path, capsys: pytest.CaptureFixture) -> None:
    (run_dir / "report.html").write_text("keep me")
    assert main(["report", str(run_dir)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (run_dir / "report.html").read_text() == "keep me"
    assert main(["report", str(run_dir), "--overwrite"]) == 0
    assert main(["report", str(run_dir / "nope")]) == 2


def test_confidence_level_is_the_one_used(tmp_path: Path) -> None:
    """--conf-level 0.9 must read "90%" everywhere in the study section, never "95%"."""
    run = tmp_path / "run"
    _export(tmp_path / "e.csv", kind="human")
    assert main(["stats", str(tmp_path / "e.csv"), "--out", str(run / "stats"),
                 "--n-boot", "50", "--conf-level", "0.9"]) == 0  # fmt: skip
    assert main(["report", str(run)]) == 0
    html = (run / "report.html").read_text()
    assert "95%" not in html
    assert "90% CI (Wilson)" in html and html.count("90% CI") >= 3  # accuracy, table, kappa
    assert "90% intervals" in html  # the per-rater figure's caption
