"""examples/cxr-pneumonia.yaml: the conditional pipeline file parses and wires its sections."""

from __future__ import annotations

from pathlib import Path

from radsynth.config import build_config
from radsynth.pipeline.spec import load_spec
from radsynth.sampling.sample import SampleConfig
from radsynth.training.config import TrainConfig
from radsynth.utility.stage import UtilityConfig

EXAMPLE = Path(__file__).parents[2] / "examples" / "cxr-pneumonia.yaml"


def test_example_sections_build_stage_configs(tmp_path: Path) -> None:
    spec = load_spec(EXAMPLE)
    assert spec.source is not None and spec.source.name == "cxr-pediatric-224"
    train = build_config(TrainConfig, {"data": tmp_path, "out": tmp_path / "t",
                                       **spec.generators[0].section("train")})  # fmt: skip
    assert train.condition_on == ("label",) and train.uncond_prob == 0.1
    sample = build_config(SampleConfig, {"ckpt": tmp_path, "out": tmp_path / "s",
                                         **spec.generators[0].section("sample")})  # fmt: skip
    assert sample.label_mix == ("NORMAL=300", "PNEUMONIA=300") and sample.n == 600
    utility = build_config(UtilityConfig, {"data": tmp_path, "out": tmp_path / "u",
                                           **spec.section("utility")})  # fmt: skip
    assert utility.ratios == (0.5, 1.0) and utility.seeds == 3
    assert spec.section("ingest")["label_from_folder"] is True
