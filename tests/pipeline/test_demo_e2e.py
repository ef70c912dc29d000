"""The whole pipeline end to end on tiny phantoms: it waits for readers, goes on once they
have answered (simulated raters here), and a third run is cached."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from radsynth.cli import main
from radsynth.pipeline.demo import demo_spec
from radsynth.pipeline.run import run_pipeline
from radsynth.pipeline.spec import parse_spec

STAGES = ["phantoms", "ingest", "train", "fid_sweep", "orient", "screen", "keep", "audit", "study"]


def _outcomes(capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    """Step name -> status ("ran", "cached", "resumed") from the summary lines."""
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[")]
    return {line.split("] ")[1].split(":")[0]: line[1:8].strip() for line in lines}


def test_tiny_pipeline_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    # 1. Without simulated raters, `run` stops after creating the study and lists the raters.
    data = demo_spec("tiny", 0)
    data.pop("simulate")
    result = run_pipeline(parse_spec(data, base=tmp_path, run_dir=run))
    out = capsys.readouterr().out
    assert "waiting for readers" in result.summary
    assert "0 of 3 human raters finished" in out
    assert not (run / "report.html").exists()
    for stage in STAGES:
        assert f"] {stage}" in out, f"{stage} did not run"

    # 2. The demo (simulated raters) in the same folder re-uses every finished stage.
    assert main(["demo", "--scale", "tiny", "--run-dir", str(run)]) == 0
    second = _outcomes(capsys)
    assert all(second[s] == "cached" for s in STAGES), second
    for stage in ["simulate", "export", "stats", "release", "report"]:
        assert second[stage] == "ran", second
    # The demo ends with a release whose card says what the images and the readers were.
    card = (run / "release" / "README.md").read_text()
    assert "come from phantoms, not from patients" in card
    assert "The readers were simulated" in card
    assert 'href="release/README.md"' in (run / "report.html").read_text()

    # Every stage left its outputs where the report looks for them.
    assert (run / "report.html").stat().st_size > 10_000
    assert (run / "train" / "losses.csv").is_file()
    assert (run / "fid_sweep" / "fid.csv").is_file()
    chosen = json.loads((run / "checkpoints.json").read_text())["chosen"]
    assert chosen and all((run / "samples" / f"step-{s:07d}").is_dir() for s in chosen)
    stats = json.loads((run / "stats" / "stats.json").read_text())
    assert stats["simulated"] is True and stats["rater_kind"] == "simulated"
    assert "simulated" in (run / "report.html").read_text().lower()
    # Readers see real images oriented like the synthetic ones; the audit sees samples as
    # generated, in the orientation the model learned.
    assert json.loads((run / "study" / "config.json").read_text())["real"].endswith("real_oriented")
    audit_cfg = json.loads((run / "audit" / "config.json").read_text())
    assert audit_cfg["synthetic"].endswith("kept_as_generated")

    # 3. Nothing changed: every step is cached but the export of live answers (keep too: it is
    # a stage with a cache key like the others).
    assert main(["demo", "--scale", "tiny", "--run-dir", str(run)]) == 0
    third = _outcomes(capsys)
    assert {s for s, status in third.items() if status != "cached"} == {"export"}, third
    assert {"keep", "exclude copies", "audit", "study", "report"} <= set(third)
