"""`radsynth sampler-sweep` on a tiny checkpoint against a handful of real images (pixel FID)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
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
