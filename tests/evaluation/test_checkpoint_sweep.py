"""``radsynth fid-sweep``: tiny random checkpoints, real sampling, the cheap pixel features."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from fake_runs import make_fake_ingest, make_tiny_checkpoint

from radsynth.cli import main
from radsynth.errors import RadsynthError
from radsynth.evaluation.checkpoints import FidSweepConfig, chosen_checkpoints, fid_sweep

FAST = {"n": 5, "sampler": "ddim", "steps": 1, "feature": "pixels", "device": "cpu"}


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """RUN/train with checkpoints at steps 1, 2, 3 and RUN/data/train with 10 real images."""
    root = tmp_path_factory.mktemp("run")
    for step in (1, 2, 3):
        make_tiny_checkpoint(root / "train", steps=step, seed=step)
    make_fake_ingest(root / "data", n_train=10, n_val=2)
    return root


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_chosen_checkpoints() -> None:
    ckpts = [Path(f"step-{i:07d}") for i in range(1, 8)]
    assert [p.name[-1] for p in chosen_checkpoints(ckpts, 3)] == ["3", "6", "7"]
    assert [p.name[-1] for p in chosen_checkpoints(ckpts, 10)] == ["7"]


def test_cli_sweep_writes_csv_and_plot_beside_run(run, capsys) -> None:
    args = ["fid-sweep", str(run / "train"), "--every", "2", "--extra-features", "torchscript"]
    # 'torchscript' without --feature-net is a one-line error, before anything is written.
    assert main([*args, *_flags(FAST)]) == 2
    assert "needs --feature-net" in capsys.readouterr().err

    code = main(["fid-sweep", str(run / "train"), "--every", "2", *_flags(FAST)])
    assert code == 0, capsys.readouterr().err
    out = run / "fid_sweep"  # a sibling of RUN, never inside it
    rows = read_csv(out / "fid.csv")
    assert [r["step"] for r in rows] == ["2", "3"]  # the 2nd checkpoint, and always the last
    assert list(rows[0])[:9] == ["step", "checkpoint", "n_real", "n_fake", "fid", "kid_mean",
                                 "kid_std", "precision", "recall"]  # fmt: skip
    assert all(r["n_real"] == "10" and r["n_fake"] == "5" for r in rows)
    assert all(float(r["fid"]) > 0 for r in rows)
    assert (out / "fid_vs_step.png").stat().st_size > 1000
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["step-0000002", "step-0000003"]
    assert len(list((out / "samples" / "step-0000002").glob("*.png"))) == 5
    assert not any(p.name == "fid.csv" for p in (run / "train").rglob("*"))


def test_same_seeds_same_numbers_and_resume(run, tmp_path) -> None:
    cfg = FidSweepConfig(run=run / "train", every=3, out=tmp_path / "a", extra_features=(), **FAST)
    fid_sweep(cfg)
    first = read_csv(tmp_path / "a" / "fid.csv")
    assert [r["step"] for r in first] == ["3"]
    # Another folder, same config: identical numbers (images depend on their seed only).
    other = FidSweepConfig(**{**cfg.__dict__, "out": tmp_path / "b"})
    fid_sweep(other)
    assert read_csv(tmp_path / "b" / "fid.csv") == first
    # Rerun into the first folder: rows kept, nothing resampled.
    stamp = (tmp_path / "a" / "samples" / "step-0000003" / "000000.png").stat().st_mtime_ns
    fid_sweep(cfg)
    assert read_csv(tmp_path / "a" / "fid.csv") == first
    assert (tmp_path / "a" / "samples" / "step-0000003" / "000000.png").stat().st_mtime_ns == stamp
    # A different config is refused rather than mixed into the same folder.
    with pytest.raises(RadsynthError, match="different config"):
        fid_sweep(FidSweepConfig(**{**cfg.__dict__, "n": 4}))


def test_extra_feature_columns_and_explicit_real(run, tmp_path) -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, stride=2), torch.nn.AdaptiveAvgPool2d(2))
    torch.jit.save(torch.jit.script(net.eval()), str(tmp_path / "enc.pt"))
    cfg = FidSweepConfig(
        run=run / "train", every=3, out=tmp_path / "x", real=run / "data" / "train",
        extra_features=("torchscript",), feature_net=tmp_path / "enc.pt", feature_net_size_px=16,
        **FAST,
    )  # fmt: skip
    fid_sweep(cfg)
    (row,) = read_csv(tmp_path / "x" / "fid.csv")
    assert row["step"] == "3" and float(row["fid_torchscript"]) >= 0
    assert {"kid_mean_torchscript", "kid_std_torchscript"} <= set(row)
    assert (tmp_path / "x" / "cache").is_dir()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"run": Path("nowhere")}, "no checkpoints found"),
        ({"real": Path("nowhere")}, "real image folder"),
        ({"n": 1}, "at least 2"),
        ({"every": 0}, "at least 1"),
    ],
)
def test_bad_sweep_input(run, tmp_path, change, message) -> None:
    cfg = FidSweepConfig(**{"run": run / "train", "out": tmp_path / "o", **FAST, **change})
    with pytest.raises(RadsynthError, match=message):
        fid_sweep(cfg)


def _flags(values: dict) -> list[str]:
    return [x for k, v in values.items() for x in (f"--{k.replace('_', '-')}", str(v))]
