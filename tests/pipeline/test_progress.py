"""Each long stage logs one summary line per checkpoint (or sweep row), whether or not its
progress bar is shown (tqdm hides the bar when stderr is not a terminal, as under pytest)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from fake_runs import make_fake_ingest

from radsynth.audit.audit import AuditConfig, audit
from radsynth.config import build_config
from radsynth.evaluation.checkpoints import FidSweepConfig, fid_sweep
from radsynth.evaluation.samplers import SamplerSweepConfig, sampler_sweep
from radsynth.sampling.sample import SampleConfig, sample
from radsynth.screening.screen import ScreenConfig, screen
from radsynth.training.config import TrainConfig
from radsynth.training.train import train


def _lines(caplog: pytest.LogCaptureFixture, stage: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.INFO and r.getMessage().startswith(f"{stage} ")]  # fmt: skip


@pytest.fixture
def info(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="radsynth")
    return caplog


def test_fid_sweep_logs_each_checkpoint_also_when_resumed(tiny_run: Path, tmp_path, info):
    cfg = FidSweepConfig(run=tiny_run / "train", out=tmp_path / "sweep", every=1, n=4,
                         real=tiny_run / "data" / "train", feature="pixels", sampler="ddim",
                         steps=1, device="cpu")  # fmt: skip
    fid_sweep(cfg)
    lines = _lines(info, "fid-sweep")
    assert [line.split(":")[0] for line in lines] == [
        "fid-sweep step-0000001", "fid-sweep step-0000002"]  # fmt: skip
    assert all("FID " in line and "4 synthetic vs 10 real" in line for line in lines)
    info.clear()
    fid_sweep(cfg)  # everything finished: each checkpoint says it was reused
    assert _lines(info, "fid-sweep") == [
        f"fid-sweep step-000000{k}: scored by an earlier run, reused" for k in (1, 2)]  # fmt: skip


def test_sample_and_sampler_sweep_log_a_line_each(tiny_run: Path, tmp_path, info):
    ckpt = tiny_run / "train" / "checkpoints" / "step-0000002"
    sample(SampleConfig(ckpt=ckpt, out=tmp_path / "s", n=3, sampler="ddim", steps=1,
                        device="cpu", progress=False))  # fmt: skip
    (line,) = _lines(info, "sample")
    assert line.startswith("sample step-0000002: 3/3 images in")
    info.clear()
    sampler_sweep(SamplerSweepConfig(ckpt=ckpt, real=tiny_run / "data" / "train",
                                     out=tmp_path / "sw", samplers=("ddim",), steps=(1, 2),
                                     reference_steps=2, n=3, feature="pixels", device="cpu",
                                     progress=False))  # fmt: skip
    lines = _lines(info, "sampler-sweep")
    names = ["sampler-sweep ddpm-0002", "sampler-sweep ddim-0001", "sampler-sweep ddim-0002"]
    assert [line.split(":")[0] for line in lines] == names
    assert all("FID " in line for line in lines)


def test_training_logs_each_checkpoint(tmp_path, info):
    data = make_fake_ingest(tmp_path / "data", n_train=8, n_val=4)
    train(build_config(TrainConfig, {"data": data, "out": tmp_path / "train", "preset": "tiny",
                                     "total_steps": 4, "checkpoint_every_steps": 2}))  # fmt: skip
    lines = _lines(info, "train")
    assert [line.split(":")[0] for line in lines] == ["train step-0000002", "train step-0000004"]
    assert all("val loss" in line for line in lines)


def test_screen_and_audit_log_each_checkpoint(tiny_run: Path, tmp_path, info):
    syn = tmp_path / "synthetic"
    for k, group in enumerate(("step-0000001", "step-0000002")):
        (syn / group).mkdir(parents=True)
        for p in sorted((tiny_run / "data" / "train").glob("*.png"))[5 * k : 5 * k + 5]:
            shutil.copy(p, syn / group / p.name)
    screen(ScreenConfig(src=syn, out=tmp_path / "screen", reference=tiny_run / "data" / "val",
                        frr=0.25, k=2, canonicalize=False))  # fmt: skip
    lines = _lines(info, "screen")
    assert [line.split(":")[0] for line in lines] == ["screen step-0000001", "screen step-0000002"]
    assert all("of 5 images excluded" in line for line in lines)
    # 4 held-out images support a flag percentile of at most 75.
    audit(AuditConfig(train=tiny_run / "data" / "train", val=tiny_run / "data" / "val",
                      synthetic=syn, out=tmp_path / "audit", top_k=2,
                      flag_percentile=50.0))  # fmt: skip
    lines = _lines(info, "audit")
    assert [line.split(":")[0] for line in lines] == ["audit step-0000001", "audit step-0000002"]
    # The synthetic images are training images here: every one is its own nearest neighbour.
    assert all("highest score 1.0000" in line for line in lines)
