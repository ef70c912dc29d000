"""Several generators in one run: a tiny DDPM and a tiny GAN on the same phantoms, through every
stage to the report, their sets named GEN/step-NNNNNNN everywhere; and the pipeline file's
refusals (one line each, nothing written)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from radsynth.errors import RadsynthError
from radsynth.io import read_csv_rows
from radsynth.layout import RunLayout, parse_set_name
from radsynth.pipeline.demo import demo_spec
from radsynth.pipeline.run import run_pipeline
from radsynth.pipeline.spec import load_spec, parse_spec


def two_generators(tiny: dict) -> dict:
    """The tiny demo with its DDPM sections moved under `generators:`, beside a tiny GAN."""
    data = dict(tiny)
    ddpm = {k: data.pop(k) for k in ("train", "fid_sweep", "sample", "checkpoints")}
    data.pop("n_checkpoints")
    ddpm["n_checkpoints"] = 1
    gan = {
        "train_gan": {
            "preset": "tiny",
            "seed": 0,
            "image_size_px": 32,
            "stage_channels": [16, 16, 8, 8],
        },
        "fid_sweep": {k: v for k, v in ddpm["fid_sweep"].items() if k not in ("sampler", "steps")},
        "n_checkpoints": 1,
        "sample": {"n": 16},
    }
    data["generators"] = {"ddpm": ddpm, "gan": gan}
    # The comparison reads a test split that nothing chose a setting on.
    data["ingest"] = {**data["ingest"], "test_fraction": 0.15}
    data["compare"] = {"feature": "pixels", "n_boot": 50}
    return data


def _outcomes(out: str) -> dict[str, str]:
    lines = [line for line in out.splitlines() if line.startswith("[")]
    return {line.split("] ")[1].split(":")[0]: line[1:8].strip() for line in lines}


def test_two_generators_run_every_stage_through_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "run"
    spec = parse_spec(two_generators(demo_spec("tiny", 0)), base=tmp_path, run_dir=root)
    result = run_pipeline(spec)
    assert result.summary.startswith("report at"), result.summary
    steps = _outcomes(capsys.readouterr().out)
    assert {"train ddpm", "train gan", "fid_sweep ddpm", "fid_sweep gan"} <= set(steps)
    run = RunLayout(root)
    sets = []
    for name in ("ddpm", "gan"):
        gen = run.generator(name)
        assert gen.losses.is_file() and gen.fid.is_file(), name
        (step,) = json.loads(gen.choice.read_text())["chosen"]
        sets.append(gen.set_of(step))
        assert f"sample {gen.set_of(step).name}" in steps
        assert any(run.samples_of(gen.set_of(step)).glob("*.png"))
    names = sorted(s.name for s in sets)
    # One screen, one fates record, one audit, one study, one release: the sets side by side.
    screen = read_csv_rows(run.screen_table)
    assert sorted({r["group"] for r in screen}) == names
    fates = read_csv_rows(run.fates_table)
    assert {r["group"] for r in fates} >= set(names)
    study = json.loads((run.study / "config.json").read_text())
    assert sorted(s.split("=")[0] for s in study["synthetic"]) == names
    metadata = read_csv_rows(run.release / "metadata.csv")
    assert {r["checkpoint"] for r in metadata} <= set(names)
    assert all(parse_set_name(r["checkpoint"]).generator in ("ddpm", "gan") for r in metadata)
    compared = read_csv_rows(run.comparison_csv)
    assert {r["set"] for r in compared} == set(names)
    html = run.report.read_text()
    for name in ("ddpm", "gan"):
        assert f"generator {name}" in html
    # The run's one unnamed generator's paths are not used.
    assert not (root / "train").exists() and not (root / "checkpoints.json").exists()

    # A second run changes nothing: every step but the live export is cached.
    run_pipeline(spec)
    again = _outcomes(capsys.readouterr().out)
    assert {s for s, status in again.items() if status != "cached"} == {"export"}, again


def _refused(tmp_path: Path, data: dict, message: str) -> None:
    root = tmp_path / "refused"
    with pytest.raises(RadsynthError, match=message) as err:
        run_pipeline(parse_spec(data, base=tmp_path, run_dir=root))
    assert "\n" not in str(err.value)
    assert not root.exists()


@pytest.mark.parametrize(
    "generators, message",
    [
        ({"GAN": {"train_gan": {}}, "gan": {"train_gan": {}}}, "differ only in case"),
        ({"step-0000001": {}}, "reads as a checkpoint name"),
        ({"real": {}}, "reserved"),
        ({"a/b": {}}, "not allowed"),
        ({"both": {"train": {}, "train_gan": {}}}, "of one family"),
        ({"gan": {"train_gan": {}, "sample": {"sampler": "ddim"}}}, "sampler is a diffusion"),
        ({"gan": {"train_gan": {}, "fid_sweep": {"steps": 4}}}, "steps is a diffusion"),
        ({"ddpm": {"sample": {"truncation_psi": 0.7}}}, "truncation_psi is a gan setting"),
        ({"ddpm": {"train_gan": {"preset": "tiny"}, "trian": {}}}, "unknown key"),
        ({"ddpm": {"sample": {"n": "many"}}}, "generator 'ddpm': section 'sample'"),
    ],
)
def test_bad_generators_are_refused_in_one_line(
    tmp_path: Path, generators: dict, message: str
) -> None:
    (tmp_path / "films").mkdir()
    data = {"source": str(tmp_path / "films"), "generators": generators}
    _refused(tmp_path, data, message)


def test_generator_sections_at_the_top_are_refused_beside_generators(tmp_path: Path) -> None:
    data = {"source": "films", "train": {}, "generators": {"gan": {"train_gan": {}}}}
    _refused(tmp_path, data, "belong")


def test_two_generators_with_one_name_are_refused(tmp_path: Path) -> None:
    """YAML keeps the last of two equal keys silently; the pipeline file refuses them."""
    path = tmp_path / "p.yaml"
    path.write_text("source: x\ngenerators:\n  gan: {train_gan: {}}\n  gan: {}\n")
    with pytest.raises(RadsynthError, match="'gan' is given twice"):
        load_spec(path)


def test_one_unnamed_gan_trains_with_train_gan(tmp_path: Path) -> None:
    spec = parse_spec({"source": "x", "train_gan": {"preset": "tiny"}}, base=tmp_path)
    (generator,) = spec.generators
    assert generator.name is None and generator.family == "gan"
