"""`radsynth sampler-sweep` on a tiny checkpoint against a handful of real images (pixel FID)."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from radsynth.cli import main
from radsynth.data.imageio import write_png


def make_real(folder: Path, n: int = 8) -> Path:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:32, 0:32] / 32
    for i in range(n):
        cx, cy, r = rng.uniform(0.3, 0.7, 3) * (1, 1, 0.5)
        write_png(folder / f"{i:06d}.png", np.clip(1.2 - np.hypot(xx - cx, yy - cy) / r, 0, 1))
    return folder


def test_sweep_writes_table_and_plot_with_reference_row(tiny_ckpt: Path, tmp_path: Path):
    real, out = make_real(tmp_path / "real"), tmp_path / "sweep"
    args = ["sampler-sweep", str(tiny_ckpt), str(real), str(out), "--samplers", "ddim", "dpmpp"]
    args += ["--steps", "2", "4", "--reference-steps", "20", "--n", "6", "--feature", "pixels"]
    args += ["--no-progress"]
    assert main(args) == 0
    rows = list(csv.DictReader((out / "sweep.csv").read_text().splitlines()))
    assert [(r["sampler"], r["steps"]) for r in rows] == [
        ("ddpm", "20"), ("ddim", "2"), ("ddim", "4"), ("dpmpp", "2"), ("dpmpp", "4"),
    ]  # fmt: skip
    assert rows[0]["reference"] == "True" and float(rows[0]["fid_ratio_to_reference"]) == 1.0
    for r in rows:
        assert r["n_fake"] == "6" and r["n_real"] == "8"
        assert np.isfinite(float(r["fid"])) and float(r["fid"]) > 0
        ratio = float(r["fid"]) / float(rows[0]["fid"])
        assert abs(float(r["fid_ratio_to_reference"]) - ratio) < 1e-4
    # rows differ in sampler only, so two step counts of a sampler give different images
    a = (out / "samples" / "ddim-0002" / "000000.png").read_bytes()
    assert a != (out / "samples" / "ddim-0004" / "000000.png").read_bytes()
    with Image.open(out / "fid_vs_steps.png") as img:
        assert img.size[0] > 300
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] and len(manifest["checkpoint_id"]) == 64
    # the same command again reuses every sample and gives the same table
    before = (out / "sweep.csv").read_text()
    assert main(args) == 0
    after = (out / "sweep.csv").read_text()
    drop = lambda t: [line.rsplit(",", 1)[0] for line in t.splitlines()]  # noqa: E731
    assert drop(before) == drop(after)  # all but sample_seconds


def test_rerun_keeps_finished_rows_and_the_old_flag_still_works(tiny_ckpt, tmp_path, caplog):
    """An interrupted sweep keeps its finished rows: only the missing row is sampled and
    scored again, and the table equals an uninterrupted run's (sample_seconds aside)."""
    real, out = make_real(tmp_path / "real"), tmp_path / "sweep"
    args = ["sampler-sweep", str(tiny_ckpt), str(real), str(out), "--samplers", "ddim",
            "--steps", "1", "2", "--reference-steps", "2", "--n", "3", "--feature", "pixels",
            "--no-progress", "--device", "cpu"]  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="radsynth"):
        assert main([*args, "--metrics-batch", "2"]) == 0  # the old name of --batch-size
    assert "--metrics-batch is a deprecated alias of --batch-size" in caplog.text
    assert json.loads((out / "config.json").read_text())["batch_size"] == 2
    lines = (out / "sweep.csv").read_text().splitlines()
    # Interrupted before the last row was scored: its samples half written, its row missing.
    (out / "sweep.csv").write_text("\n".join(lines[:-1]) + "\n")
    last = out / "samples" / "ddim-0002"
    (last / "000002.png").unlink()
    manifest = json.loads((out / "manifest.json").read_text())
    (out / "manifest.json").write_text(json.dumps({**manifest, "complete": False}))
    kept = (out / "samples" / "ddim-0001" / "000000.png").stat().st_mtime_ns
    assert main([*args, "--batch-size", "2"]) == 0
    again = (out / "sweep.csv").read_text().splitlines()
    assert again[:-1] == lines[:-1]  # the reused rows are kept as written, timings included
    assert again[-1].rsplit(",", 1)[0] == lines[-1].rsplit(",", 1)[0]  # redone: same numbers
    assert (out / "samples" / "ddim-0001" / "000000.png").stat().st_mtime_ns == kept
    assert (last / "000002.png").is_file()


def test_a_device_that_is_not_there_fails_before_any_output(tiny_ckpt, tmp_path, capsys):
    if torch.cuda.device_count() > 7:
        pytest.skip("this machine has a cuda:7")
    real, out = make_real(tmp_path / "real"), tmp_path / "sweep"
    args = ["sampler-sweep", str(tiny_ckpt), str(real), str(out), "--device", "cuda:7"]
    assert main([*args, "--feature", "pixels"]) == 2
    assert "cuda:7" in capsys.readouterr().err
    assert not out.exists()
