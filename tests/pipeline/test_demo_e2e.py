"""The whole pipeline end to end on tiny phantoms: phantoms -> ... -> report, then cached."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from radsynth.cli import main


def _lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().out.splitlines() if line.startswith("[")]


def test_tiny_pipeline_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    assert main(["demo", "--scale", "tiny", "--run-dir", str(run)]) == 0
    first = _lines(capsys)
    names = [line.split("] ")[1].split(":")[0] for line in first]
    for stage in ["phantoms", "ingest", "train", "fid_sweep", "orient", "screen", "keep",
                  "audit", "study", "simulate", "export", "stats", "report"]:  # fmt: skip
        assert stage in names, f"{stage} did not run: {names}"
    assert all("[    ran]" in line for line in first)

    # Every stage left its outputs where the report looks for them.
    assert (run / "report.html").stat().st_size > 10_000
    assert (run / "train" / "losses.csv").is_file()
    assert (run / "fid_sweep" / "fid.csv").is_file()
    chosen = json.loads((run / "checkpoints.json").read_text())["chosen"]
    assert chosen and all((run / "samples" / f"step-{s:07d}").is_dir() for s in chosen)
    stats = json.loads((run / "stats" / "stats.json").read_text())
    assert stats["simulated"] is True and stats["rater_kind"] == "simulated"
    html = (run / "report.html").read_text()
    assert "SIMULATED" in html or "simulated" in html

    # A second run changes nothing: every stage but the export of live answers is cached.
    assert main(["demo", "--scale", "tiny", "--run-dir", str(run)]) == 0
    second = _lines(capsys)
    rerun = [line for line in second if "[ cached]" not in line]
    assert all(("export" in line or "keep" in line) for line in rerun), rerun


def test_run_waits_for_human_readers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without simulated raters, `run` stops after creating the study and lists the raters."""
    from radsynth.pipeline.demo import demo_spec
    from radsynth.pipeline.run import run_pipeline
    from radsynth.pipeline.spec import parse_spec

    data = demo_spec("tiny", 0)
    data.pop("simulate")
    spec = parse_spec(data, base=tmp_path, run_dir=tmp_path / "run")
    result = run_pipeline(spec)
    out = capsys.readouterr().out
    assert "waiting for readers" in result.summary
    assert "0 of 3 human raters finished" in out
    assert not (tmp_path / "run" / "report.html").exists()
