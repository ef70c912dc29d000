"""Pipeline file validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from radsynth.errors import RadsynthError
from radsynth.pipeline.spec import load_spec, parse_spec

REPO = Path(__file__).resolve().parents[2]


def test_example_paper_config_parses() -> None:
    spec = load_spec(REPO / "examples" / "paper.yaml")
    (generator,) = spec.generators
    assert generator.checkpoints == (68000, 80000, 160000) and generator.name is None
    assert generator.section("train") == {"preset": "paper"} and generator.family == "diffusion"
    assert spec.section("study")["raters"] == 8
    assert not spec.simulate_readers


@pytest.mark.parametrize(
    "data, message",
    [
        ({"source": "x", "trian": {}}, "unknown pipeline key"),
        ({}, "needs `source"),
        ({"source": "x", "phantoms": {}}, "either"),
        ({"source": "x", "checkpoints": ["a"]}, "integers"),
        ({"source": "x", "train": 3}, "must be a mapping"),
    ],
)
def test_bad_pipeline_files(data: dict, message: str) -> None:
    with pytest.raises(RadsynthError, match=message):
        parse_spec(data, base=Path("/tmp"))


@pytest.mark.parametrize("section, simulated", [({}, True), ({"raters": 2}, True), (None, False)])
def test_an_empty_simulate_section_still_asks_for_simulated_readers(section, simulated) -> None:
    data = {"name": "x", "phantoms": {"n": 10}}
    if section is not None:
        data["simulate"] = section
    assert parse_spec(data, base=Path("/tmp")).simulate_readers is simulated
