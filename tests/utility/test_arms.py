"""The utility arms: which synthetic:real mixes are trained, and a named ratio that cannot be met
is refused instead of dropped with a warning (issue 23)."""

from __future__ import annotations

import dataclasses
import json
import logging

import pytest
import torch

from radsynth.config import build_config, config_json
from radsynth.errors import RadsynthError
from radsynth.pipeline.history import earlier_config_json
from radsynth.utility.arms import arm_sets
from radsynth.utility.data import LabelledImages
from radsynth.utility.stage import UtilityConfig


def _images(n: int, tag: str) -> LabelledImages:
    return LabelledImages(
        torch.zeros(n, 1, 4, 4, dtype=torch.float16),
        torch.arange(n) % 2,
        [f"{tag}{i}" for i in range(n)],
        [f"{tag}{i}.png" for i in range(n)],
    )


def test_default_ratios_take_those_the_synthetic_set_can_meet(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        arms = arm_sets(_images(10, "r"), _images(12, "s"), [], seed=0)
    assert list(arms) == ["real", "synthetic", "mix-0.5x", "mix-1x"]
    assert [arms[a][2] for a in ("mix-0.5x", "mix-1x")] == [5, 10]
    assert "ratio 2x needs 20 synthetic images, 12 exist: left out" in caplog.text


def test_a_named_ratio_the_synthetic_set_cannot_meet_is_refused() -> None:
    with pytest.raises(RadsynthError, match=r"--ratios 2 needs 20 synthetic images .* 12 are left"):
        arm_sets(_images(10, "r"), _images(12, "s"), [0.5, 2.0], seed=0)
    arms = arm_sets(_images(10, "r"), _images(12, "s"), [1.0], seed=0)
    assert list(arms) == ["real", "synthetic", "mix-1x"]


def test_run_folders_keyed_with_the_old_default_ratios_stay_cached(tmp_path) -> None:
    cfg = build_config(UtilityConfig, {}, {"data": tmp_path, "out": tmp_path / "u"})
    assert cfg.ratios == ()
    before = json.loads(earlier_config_json(cfg))
    assert before["ratios"] == [0.5, 1.0, 2.0, 4.0] and "device" not in before
    named = dataclasses.replace(cfg, ratios=(1.0,))
    assert json.loads(config_json(named))["ratios"] == [1.0]
    assert earlier_config_json(named) is None or '"ratios": [\n    1.0' in earlier_config_json(
        named
    )
