"""End to end with the real study app: create a study, let simulated raters answer, export,
then analyse the export exactly as written by ``radsynth study export``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from radsynth.cli import main


def _folder(path: Path, n: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    path.mkdir(parents=True)
    for k in range(n):
        img = (rng.random((32, 32)) * 255).astype(np.uint8)
        Image.fromarray(img).save(path / f"{k:06d}.png")
    return path


def test_stats_reads_the_study_apps_export(tmp_path: Path) -> None:
    sets = [f"step-{s}={_folder(tmp_path / s, 12, i)}" for i, s in enumerate(("a", "b", "c"))]
    study = tmp_path / "study"
    assert main(["study", "create", str(study), "--real", str(_folder(tmp_path / "r", 12, 9)),
                 "--synthetic", *sets, "--items", "8", "--raters", "2",
                 "--attention-checks", "1", "--repeats", "1", "--size-px", "32"]) == 0  # fmt: skip
    assert main(["study", "simulate", str(study), "--raters", "4"]) == 0
    assert main(["study", "export", str(study)]) == 0
    assert main(["stats", str(study / "export.csv"), "--out", str(tmp_path / "stats"),
                 "--n-boot", "50"]) == 0  # fmt: skip
    res = json.loads((tmp_path / "stats" / "stats.json").read_text())
    assert res["rater_kind"] == "simulated" and res["simulated"] is True
    assert res["design"] == "quartet" and res["identification"]["chance"] == 0.25
    assert res["groups"] == ["real", "step-a", "step-b", "step-c"]  # no "attention" group
    assert res["n_items"] == 8 and res["n_judgements"] == 32
    assert set(res["excluded_rows"]) == {"attention", "repeat"}
    assert len(res["realism"]["wilcoxon"]) == 3
