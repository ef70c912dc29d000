"""``radsynth ema-sweep``: a tiny real ``--ema posthoc`` run, real reconstruction, sampling and
scoring with the cheap pixel features; bad inputs are one line and write nothing."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import torch
from fake_runs import make_fake_ingest, make_tiny_checkpoint

from radsynth.cli import main
from radsynth.config import build_config
from radsynth.layout import ema_snapshot_file
from radsynth.training.checkpoint import load_checkpoint
from radsynth.training.config import TrainConfig
from radsynth.training.ema_snapshots import load_average, read_snapshot_info
from radsynth.training.train import train

FAST = {"n": 5, "sampler": "ddim", "sampler_steps": 1, "feature": "pixels", "device": "cpu"}


def flags(values: dict) -> list[str]:
    return [a for k, v in values.items() for a in (f"--{k.replace('_', '-')}", str(v))]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """RUN/train: 4 tiny-preset steps with --ema posthoc (checkpoints and snapshots at 2, 4);
    RUN/data: the ingest it trained on (its train/ is the sweep's default real set)."""
    root = tmp_path_factory.mktemp("run")
    data = make_fake_ingest(root / "data", n_train=10, n_val=2)
    cfg = {
        "data": data,
        "out": root / "train",
        "preset": "tiny",
        "cpu_threads": 1,
        "ema": "posthoc",
    }
    train(build_config(TrainConfig, cfg))
    return root


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def sweep(args: list[str], capsys) -> tuple[int, str]:
    code = main(["ema-sweep", *args])
    return code, capsys.readouterr().err


def test_cli_sweep_reconstructs_scores_and_plots(run, tmp_path, capsys) -> None:
    out = tmp_path / "sweep"
    args = [str(run / "train"), str(out), "--sigma-rel", "0.05,0.1,0.15", "--steps", "2,4"]
    code, err = sweep([*args, *flags(FAST)], capsys)
    assert code == 0, err
    rows = read_csv(out / "ema_sweep.csv")
    assert [(r["step"], r["ema"], r["sigma_rel"]) for r in rows] == [
        (s, kind, sr)
        for s in ("2", "4")
        for kind, sr in [
            ("posthoc", "0.05"),
            ("posthoc", "0.1"),
            ("posthoc", "0.15"),
            ("classic", ""),
        ]
    ]
    assert all(r["n_real"] == "10" and r["n_fake"] == "5" and float(r["fid"]) > 0 for r in rows)
    assert json.loads((out / "ema_sweep.json").read_text())["rows"][0]["fid"] == float(
        rows[0]["fid"]
    )
    assert (out / "fid_vs_sigma_rel.png").stat().st_size > 1000
    # A tracked width is that profile's snapshot itself; 0.15 is a least-squares combination.
    fit = {
        (r["step"], r["sigma_rel"]): float(r["fit_error"]) for r in rows if r["ema"] == "posthoc"
    }
    assert fit[("4", "0.05")] < 1e-6 and fit[("4", "0.1")] < 1e-6 and fit[("4", "0.15")] > 1e-3
    snapshot = load_average(read_snapshot_info(ema_snapshot_file(run / "train", 4)), 0)
    loaded = load_checkpoint(out / "checkpoints" / "step-0000004-sigma_rel-0.050")
    weights = dict(loaded.model.named_parameters())
    assert all(torch.allclose(weights[k], v, atol=1e-6) for k, v in snapshot.items())
    other = dict(
        load_checkpoint(
            out / "checkpoints" / "step-0000004-sigma_rel-0.150"
        ).model.named_parameters()
    )
    assert any(not torch.allclose(other[k], v, atol=1e-4) for k, v in snapshot.items())
    assert loaded.step == 4 and loaded.config["posthoc_ema"]["sigma_rel"] == 0.05
    assert len(loaded.config["posthoc_ema"]["sources"]) == 4  # 2 snapshots x 2 profiles
    assert len(list((out / "samples" / "step-0000002-classic").glob("*.png"))) == 5
    assert not (run / "train" / "checkpoints" / "step-0000004-sigma_rel-0.050").exists()


def test_same_config_same_numbers_and_resume(run, tmp_path) -> None:
    from radsynth.evaluation.ema_sweep import EmaSweepConfig, ema_sweep

    cfg = EmaSweepConfig(
        train=run / "train", out=tmp_path / "a", sigma_rel=(0.12,), extra_features=(), **FAST
    )
    ema_sweep(cfg)
    first = read_csv(tmp_path / "a" / "ema_sweep.csv")
    assert [(r["step"], r["sigma_rel"]) for r in first] == [
        ("4", "0.12"),
        ("4", ""),
    ]  # default: last
    ema_sweep(EmaSweepConfig(**{**cfg.__dict__, "out": tmp_path / "b"}))
    again = read_csv(tmp_path / "b" / "ema_sweep.csv")
    assert [r["fid"] for r in again] == [r["fid"] for r in first]
    image = tmp_path / "a" / "samples" / "step-0000004-sigma_rel-0.120" / "000000.png"
    stamp = image.stat().st_mtime_ns
    ema_sweep(cfg)  # rerun into the same folder: rows kept, nothing resampled
    assert read_csv(tmp_path / "a" / "ema_sweep.csv") == first and image.stat().st_mtime_ns == stamp


def test_a_run_without_posthoc_ema_is_one_line_naming_the_flag(tmp_path, capsys) -> None:
    make_tiny_checkpoint(tmp_path / "classic", steps=2)
    out = tmp_path / "out"
    code, err = sweep(
        [str(tmp_path / "classic"), str(out), "--real", str(tmp_path), *flags(FAST)], capsys
    )
    assert code == 2 and "--ema posthoc" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize("damage", ["missing", "truncated", "garbage"])
def test_a_missing_or_corrupt_snapshot_is_one_line_naming_the_file(
    run, tmp_path, capsys, damage
) -> None:
    copy = tmp_path / "train"
    shutil.copytree(run / "train", copy)
    bad = ema_snapshot_file(copy, 2)
    if damage == "missing":
        bad.unlink()
    elif damage == "truncated":
        bad.write_bytes(bad.read_bytes()[:-100])
    else:
        bad.write_bytes(b"\x08" + b"\x00" * 7 + b"not json")
    out = tmp_path / "out"
    code, err = sweep(
        [str(copy), str(out), "--real", str(run / "data" / "train"), *flags(FAST)], capsys
    )
    assert code == 2 and str(bad) in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--steps", "3"], "no checkpoint at step(s) 3"),
        (["--sigma-rel", "0.5"], "--sigma-rel needs values in"),
        (["--weights", "online"], "--weights online"),
    ],
)
def test_bad_arguments_are_one_line_and_write_nothing(
    run, tmp_path, capsys, extra, message
) -> None:
    out = tmp_path / "out"
    code, err = sweep([str(run / "train"), str(out), *extra, *flags(FAST)], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_ema_sweep_record_round_trip(tmp_path) -> None:
    from radsynth.errors import RadsynthError
    from radsynth.records.ema_sweep import EmaSweepRow, read_ema_sweep, write_ema_sweep

    nan = float("nan")
    common = {"checkpoint": "c", "n_real": 10, "n_fake": 5, "kid_std": 0.01, "recall": nan}
    rows = [
        EmaSweepRow(4, "classic", nan, nan, nan, fid=3.5, kid_mean=0.2, precision=nan, **common),
        EmaSweepRow(4, "posthoc", 0.1, 6.94, 0.0, fid=2.5, kid_mean=0.1, precision=0.5, **common),
    ]
    csv_path, json_path = tmp_path / "t.csv", tmp_path / "t.json"
    write_ema_sweep(csv_path, json_path, rows)
    back = read_ema_sweep(csv_path)
    assert [(r.ema, r.fid) for r in back] == [("posthoc", 2.5), ("classic", 3.5)]  # posthoc first
    text = csv_path.read_text()
    write_ema_sweep(csv_path, json_path, back)
    assert csv_path.read_text() == text  # read back and written again: the same text
    payload = json.loads(json_path.read_text())
    assert payload["rows"][1]["sigma_rel"] is None and payload["rows"][0]["gamma"] == 6.94
    csv_path.write_text(text.replace("classic", "other"))
    with pytest.raises(RadsynthError, match="ema 'other' is not one of"):
        read_ema_sweep(csv_path)
