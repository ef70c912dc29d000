"""Run folders written before issue 17 still open, cached: their pipeline.json had no format
number, kept the two keep steps' keys in memory only (never in the file), and built the keys of
the steps below keep on a hand-built key: sha256 of json.dumps(keep mode) and the text of every
image's fate. This test writes such a pipeline.json with those formulas, spelled out here."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest

from radsynth.config import config_json
from radsynth.errors import RadsynthError
from radsynth.layout import RunLayout, SyntheticSet
from radsynth.pipeline.configs import build_configs
from radsynth.pipeline.demo import demo_spec
from radsynth.pipeline.run import run_pipeline
from radsynth.pipeline.spec import parse_spec
from radsynth.pipeline.steps import read_state, state_format


def _sha(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
    return digest.hexdigest()


def _fates_text(run: RunLayout, with_copies: bool) -> str:
    """The old key's text, from keep/images.csv (no reviews here, so no copies either way)."""
    with open(run.keep / "images.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return "\n".join(f"{r['image']} {r['final']} {r['copy']} {r['kept']}" for r in rows)


def _write_old_state(run: RunLayout, spec_data: dict, base: Path) -> None:
    spec = parse_spec(spec_data, base=base, run_dir=run.root)
    steps = json.loads(run.generator().choice.read_text())["chosen"]
    chosen = tuple(SyntheticSet(None, s) for s in steps)
    cfgs = build_configs(spec, run, chosen)
    finished = read_state(run.root)
    keep = _sha(json.dumps(spec.keep), _fates_text(run, False))
    finished["audit"] = _sha(config_json(cfgs["audit"]), keep)
    copies = _sha(json.dumps(spec.keep), finished["audit"], _fates_text(run, True))
    finished["study"] = _sha(config_json(cfgs["study"]), copies, finished["orient real"])
    del finished["keep"], finished["exclude copies"]
    run.state.write_text(json.dumps({"finished": finished}, indent=2, sort_keys=True) + "\n")


def test_a_run_folder_of_the_previous_version_stays_cached(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = demo_spec("tiny", 0)
    data.pop("simulate")  # the run stops at the reader study: enough steps below keep
    run = RunLayout(tmp_path / "run")
    run_pipeline(parse_spec(data, base=tmp_path, run_dir=run.root))
    _write_old_state(run, data, tmp_path)
    assert state_format(run.root) == 1
    capsys.readouterr()

    run_pipeline(parse_spec(data, base=tmp_path, run_dir=run.root))
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[")]
    assert len(lines) >= 12 and all(line.startswith("[ cached]") for line in lines), lines
    assert not list(run.root.glob("*.stale-*"))  # nothing moved aside: the study is the same
    assert state_format(run.root) == 1


def test_a_newer_pipeline_json_is_refused_in_one_line(tmp_path: Path) -> None:
    run = RunLayout(tmp_path)
    run.state.write_text(json.dumps({"format": 99, "finished": {}}))
    with pytest.raises(RadsynthError, match="format 99, newer than this radsynth reads"):
        read_state(tmp_path)
