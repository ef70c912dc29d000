"""The tiny demo's run folder against a baseline captured before the run-layout refactor
(issue 17): the same files (relative paths, one per checkpoint folder) and the same key figures
(FID per checkpoint, losses, kept and flagged counts, the readers' statistics).

The baseline ``baseline_run.json`` was written from main just before the change with::

    PYTHONPATH=src python tests/pipeline/test_baseline_run.py RUN_DIR   # after `radsynth demo
    --scale tiny --run-dir RUN_DIR`

Rewritten 2026-12-06 (issue 27, second round of the film checks): ingest now decides the 3
phantom films it used to send to review (all 160 polarities right, none turned), so the run
trains on 136 films instead of 133 and its FIDs and losses move with that; everything else
(files, choices, flags, kept counts, readers' statistics) is as before.

Numbered images collapse to ``N`` (their count is kept), content-hashed names to ``HASH``.
Floats are compared relatively (1e-3): the same code on another CPU may differ in the last bits.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

BASELINE = Path(__file__).with_name("baseline_run.json")
_PATTERNS = [
    (re.compile(r"/\d{6}\.(png|json)$"), r"/N.\1"),  # image n, its metadata
    (re.compile(r"/[0-9a-f]{16}\.png$"), "/HASH.png"),  # released images, named by content
    (re.compile(r"features-[0-9a-f]{32}\.npz$"), "features-HASH.npz"),
    (re.compile(r"/events\.out\.tfevents\..*$"), "/events.out.tfevents.HASH"),
]


def _normal(rel: str) -> str:
    for pattern, repl in _PATTERNS:
        rel = pattern.sub(repl, rel)
    return rel


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def summarize(run: Path) -> dict[str, Any]:
    """Normalised file list and key figures of a finished tiny demo run folder."""
    files = Counter(_normal(p.relative_to(run).as_posix()) for p in run.rglob("*") if p.is_file())
    stats = json.loads((run / "stats" / "stats.json").read_text())
    pooled = stats["identification"]["pooled"]
    keep = _rows(run / "keep" / "images.csv")
    return {
        "files": dict(sorted(files.items())),
        "chosen": json.loads((run / "checkpoints.json").read_text())["chosen"],
        "fid": {r["step"]: float(r["fid"]) for r in _rows(run / "fid_sweep" / "fid.csv")},
        "val_loss": {r["step"]: float(r["val_loss"]) for r in _rows(run / "train" / "losses.csv")},
        "screen_flagged": sum(int(r["flagged"]) for r in _rows(run / "screen" / "screen.csv")),
        "audit_flagged": sum(int(r["flagged"]) for r in _rows(run / "audit" / "neighbours.csv")),
        "kept": dict(Counter(r["group"] for r in keep if r["kept"] == "1")),
        "stats": {
            "n_raters": stats["n_raters"],
            "n_judgements": stats["n_judgements"],
            "correct": pooled["correct"],
            "accuracy": pooled["accuracy"],
        },
        "groups": stats["groups"],
    }


def test_tiny_demo_matches_the_baseline(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from radsynth.cli import main

    run = tmp_path / "run"
    assert main(["demo", "--scale", "tiny", "--run-dir", str(run)]) == 0
    got, want = summarize(run), json.loads(BASELINE.read_text())
    assert got["files"] == want["files"]
    for key in ("chosen", "screen_flagged", "audit_flagged", "kept", "groups"):
        assert got[key] == want[key], key
    assert got["fid"] == pytest.approx(want["fid"], rel=1e-3)
    assert got["val_loss"] == pytest.approx(want["val_loss"], rel=1e-3)
    assert got["stats"] == pytest.approx(want["stats"], rel=1e-3)


if __name__ == "__main__":
    BASELINE.write_text(json.dumps(summarize(Path(sys.argv[1])), indent=1) + "\n")
