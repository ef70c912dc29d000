"""``train/throughput.csv``: images/s, MFU and peak memory per checkpoint of a training run."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from radsynth.config import build_config
from radsynth.errors import RadsynthError
from radsynth.layout import RunLayout
from radsynth.records.curves import read_losses
from radsynth.records.throughput import ThroughputRow, read_throughput, write_throughput
from radsynth.training.config import TrainConfig
from radsynth.training.train import train

FAST = {"preset": "tiny", "cpu_threads": 1}


def _train(data: Path, out: Path, **overrides) -> None:
    train(build_config(TrainConfig, {"data": data, "out": out, **FAST, **overrides}))


def test_a_run_records_its_speed_per_checkpoint_and_keeps_it_on_resume(fake_ingest, tmp_path):
    out = tmp_path / "train"
    _train(fake_ingest, out, total_steps=2, checkpoint_every_steps=2)
    _train(fake_ingest, out, total_steps=4, checkpoint_every_steps=2, resume=True)
    rows = read_throughput(out / "throughput.csv")
    assert out / "throughput.csv" == RunLayout(tmp_path).generator().throughput
    assert [r.step for r in rows] == [2, 4]  # the first run's row survives the resume
    for r in rows:
        assert r.images_per_s > 0 and r.train_tflops > 0
        assert r.peak_memory_source == "cpu_peak_rss" and r.peak_memory_gib > 0.01
        assert r.device.startswith("CPU") and r.device.endswith("x1")
        assert math.isnan(r.mfu) or 0 < r.mfu < 1  # NaN where /proc/cpuinfo gives no clock
        if not math.isnan(r.mfu):
            assert r.train_tflops * 1e12 / r.mfu > r.train_tflops * 1e12  # below the peak
    assert [r.step for r in read_losses(out / "losses.csv")] == [2, 4]  # unchanged beside it


def test_an_older_run_without_the_file_reads_as_no_rows(fake_ingest, tmp_path):
    out = tmp_path / "train"
    _train(fake_ingest, out, total_steps=2)
    (out / "throughput.csv").unlink()  # as a run from before the file
    assert read_throughput(out / "throughput.csv") == []
    assert [r.step for r in read_losses(out / "losses.csv")] == [2]


def test_throughput_csv_round_trips_and_refuses_a_bad_cell(tmp_path):
    rows = [
        ThroughputRow(4, 12.5, 0.25, math.nan, 1.5, "cpu_peak_rss", "CPU x2"),
        ThroughputRow(2, 10.0, 0.2, 0.125, 1.25, "cuda_max_allocated", "NVIDIA H100 x1"),
    ]
    path = write_throughput(tmp_path / "throughput.csv", rows)
    back = read_throughput(path)
    assert [r.step for r in back] == [2, 4] and back[0] == rows[1]
    assert math.isnan(back[1].mfu) and path.read_text().splitlines()[2].split(",")[3] == ""
    path.write_text(path.read_text().replace("12.5", "fast"))
    with pytest.raises(RadsynthError, match="line 3: 'fast' is not a number"):
        read_throughput(path)
