"""The two sweeps share their config fields, and the checkpoint sweep's config is unchanged by
the move into ``radsynth.evaluation`` (so the cache keys of existing runs still match)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from radsynth.config import config_json
from radsynth.evaluation.checkpoints import FidSweepConfig
from radsynth.evaluation.feature_fields import FeatureNetFields
from radsynth.evaluation.generators import CompareGeneratorsConfig
from radsynth.evaluation.samplers import SamplerSweepConfig
from radsynth.evaluation.score import EvaluationFields, feature_names, metric_columns
from radsynth.pipeline.history import earlier_config_json

#: ``config_json(FidSweepConfig(run=Path("r")))`` as radsynth.metrics.sweep wrote it before
#: the move (captured from that code): any change here re-runs the fid_sweep step of every
#: existing pipeline run.
FID_SWEEP_CONFIG_BEFORE = {
    "batch": 16, "batch_size": 50, "cache_dir": None, "device": "auto", "every": 10,
    "extra_features": ["pixels"], "feature": "inception", "feature_net": None,
    "feature_net_size_px": 224, "inception_sha256": None, "inception_weights": "fid-helper",
    "kid_subset_size": 1000, "n": 1000, "out": None, "real": None, "resize_px": None,
    "run": "r", "sampler": "dpmpp", "seed_start": 0, "steps": 25, "weights": "ema",
}  # fmt: skip


def test_fid_sweep_config_json_is_unchanged() -> None:
    """sampler and steps now default to None ("not given", so a GAN run can refuse them); the
    cache key of a default config is still computed from the JSON written before."""
    cfg = FidSweepConfig(run=Path("r"))
    before = json.dumps(FID_SWEEP_CONFIG_BEFORE, indent=2, sort_keys=True) + "\n"
    assert earlier_config_json(cfg) == before
    assert config_json(cfg) != before and (cfg.sampler, cfg.steps) == (None, None)


#: ``config_json(CompareGeneratorsConfig(real=Path("r"), out=Path("o")))`` as written before its
#: feature-network fields moved into FeatureNetFields (captured from that code).
COMPARE_GENERATORS_CONFIG_BEFORE = {
    "batch_size": 50,
    "cache_dir": None,
    "device": "auto",
    "feature": "inception",
    "feature_net": None,
    "feature_net_size_px": 224,
    "inception_sha256": None,
    "inception_weights": "fid-helper",
    "k_nearest": 3,
    "kid_subset_size": 1000,
    "kid_subsets": 100,
    "label_column": "label",
    "manifest": None,
    "n_boot": 1000,
    "out": "o",
    "real": "r",
    "resize_px": None,
    "seed": 0,
    "sets": [],
    "sets_meta": [],
}


def test_compare_generators_shares_the_feature_network_fields_and_its_json() -> None:
    cfg = CompareGeneratorsConfig(real=Path("r"), out=Path("o"))
    before = json.dumps(COMPARE_GENERATORS_CONFIG_BEFORE, indent=2, sort_keys=True) + "\n"
    assert config_json(cfg) == before  # cached compare-generators folders stay cached
    shared = {f.name for f in dataclasses.fields(FeatureNetFields)}
    inception = {"inception_weights", "inception_sha256"}
    assert shared == inception | {"feature_net", "feature_net_size_px", "resize_px", "batch_size"}
    for cls in (CompareGeneratorsConfig, EvaluationFields):
        assert issubclass(cls, FeatureNetFields)
        assert not shared & set(vars(cls).get("__annotations__", {}))  # declared once


def test_both_sweeps_share_the_evaluation_fields() -> None:
    shared = {f.name for f in dataclasses.fields(EvaluationFields)}
    for cls in (FidSweepConfig, SamplerSweepConfig):
        assert issubclass(cls, EvaluationFields) and cls.RESUMABLE
        assert shared <= {f.name for f in dataclasses.fields(cls)}
    assert {"batch_size", "device", "cache_dir", "extra_features"} <= shared


def test_feature_columns_list_the_main_space_then_each_extra_once() -> None:
    cfg = FidSweepConfig(run=Path("r"), extra_features=("pixels", "inception", "none", "pixels"))
    assert feature_names(cfg) == ["inception", "pixels"]
    assert metric_columns(cfg)[-3:] == ["fid_pixels", "kid_mean_pixels", "kid_std_pixels"]
    assert metric_columns(SamplerSweepConfig(ckpt=Path("c"), real=Path("r"), out=Path("o")))[
        -1] == "recall"  # fmt: skip
