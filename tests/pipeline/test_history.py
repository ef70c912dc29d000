"""Run folders made by the previous release stay cached: its config JSON is reproduced.

``previous_release_configs.json`` holds the ``config.json`` files that the previous release
(main at c6338d5) wrote for the tiny demo (``radsynth demo --scale tiny --run-dir
/tmp/oldrun``), captured before the fields of this release were added.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from radsynth.config import config_json
from radsynth.layout import RunLayout, SyntheticSet
from radsynth.pipeline.configs import build_configs
from radsynth.pipeline.demo import demo_spec
from radsynth.pipeline.history import earlier_config_json
from radsynth.pipeline.spec import parse_spec
from radsynth.pipeline.steps import Step, earlier_key, run_step, step_key

PREVIOUS = json.loads((Path(__file__).parent / "previous_release_configs.json").read_text())
RUN = Path("/tmp/oldrun")  # the folder the snapshot was written in; nothing is written there


def _configs():
    spec = parse_spec(demo_spec("tiny", 0), base=Path.cwd(), run_dir=RUN)
    layout = RunLayout(RUN)
    return build_configs(spec, layout, (SyntheticSet(None, 2), SyntheticSet(None, 4)))


@pytest.mark.parametrize("stage", sorted(PREVIOUS))
def test_the_previous_releases_config_json_is_reproduced(stage: str) -> None:
    cfg = _configs()[stage]
    assert config_json(cfg) != PREVIOUS[stage]  # this release's JSON differs...
    assert earlier_config_json(cfg) == PREVIOUS[stage]  # ...and the earlier one is rebuilt


def test_a_new_value_of_an_added_field_has_no_earlier_key() -> None:
    study = dataclasses.replace(_configs()["study"], finding_per_class=True)
    assert earlier_config_json(study) is None


def test_frontal_orient_is_not_taken_for_the_previous_releases() -> None:
    """Only orient's lateral path is unchanged; a frontal orient now uses the mirror network."""
    orient = dataclasses.replace(_configs()["orient"], view="frontal")
    assert earlier_config_json(orient) is None


def test_a_step_recorded_under_the_earlier_key_is_cached(tmp_path: Path) -> None:
    cfg = _configs()["train"]
    out = tmp_path / "train"
    out.mkdir()
    calls: list = []
    earlier = earlier_key(cfg, [])
    assert earlier is not None and earlier != step_key(cfg, [])
    (tmp_path / "pipeline.json").write_text(json.dumps({"finished": {"train": earlier}}))
    outcome = run_step(Step("train", lambda c: calls.append(c), cfg, out), tmp_path, {})
    assert outcome.status == "cached" and not calls
    # an interrupted step (no record) is never taken for a cached one
    (tmp_path / "pipeline.json").write_text(json.dumps({"finished": {}}))
    keys: dict[str, str] = {}
    run_step(Step("train", lambda c: calls.append(c), cfg, out), tmp_path, keys)
    assert calls == [cfg]


def test_reviewers_ingest_decisions_reach_ingest_and_its_key(tmp_path: Path) -> None:
    from radsynth.pipeline.stages import Wiring, source_inputs

    spec = parse_spec(demo_spec("tiny", 0), base=tmp_path, run_dir=tmp_path / "run")
    layout = RunLayout(tmp_path / "run")
    w = Wiring(spec, layout)
    before = build_configs(spec, layout, ())["ingest"]
    assert before.review_decisions is None and source_inputs(w, before) == []
    layout.ingest_decisions.parent.mkdir(parents=True)
    layout.ingest_decisions.write_text("source_path,decision\n", encoding="utf-8")
    after = build_configs(spec, layout, ())["ingest"]
    assert after.review_decisions == layout.ingest_decisions
    assert source_inputs(w, after) == [layout.ingest_decisions]


def test_the_last_releases_train_config_is_rebuilt_without_the_fields_added_since() -> None:
    """A run folder of the last release (post-hoc EMA, no lr rule, no latents) stays cached:
    today's config with the new fields at their as-before values hashes as it did."""
    from radsynth.config import build_config
    from radsynth.pipeline.history import ADDED_SINCE_LAST, last_release_config_json
    from radsynth.training.config import TrainConfig

    base = {"data": "d", "out": "o", "preset": "demo"}
    text = last_release_config_json(build_config(TrainConfig, base))
    assert text is not None
    then = json.loads(text)
    assert not set(ADDED_SINCE_LAST["TrainConfig"]) & set(then)
    assert "lr_reference_batch" not in then and then["ema"] == "classic"
    # A new value of a field added since could not have been written by the last release.
    assert (
        last_release_config_json(build_config(TrainConfig, {**base, "lr_scale": "linear"})) is None
    )
    assert last_release_config_json(build_config(TrainConfig, {**base, "batch_size": 32})) is None
