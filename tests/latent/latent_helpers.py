"""Helpers shared by the autoencoder tests."""

from __future__ import annotations

from pathlib import Path

from radsynth.config import build_config
from radsynth.latent.config import AutoencoderConfig
from radsynth.records.throughput import read_throughput

FAST = {"preset": "tiny", "cpu_threads": 1}


def tiny_config(data: Path, out: Path, **overrides) -> AutoencoderConfig:
    """The tiny preset (32 px, factor 4, 4 steps) on one CPU thread."""
    return build_config(AutoencoderConfig, {"data": data, "out": out, **FAST, **overrides})


def assert_throughput_rows(out: Path, steps: list[int], devices: int = 1) -> None:
    """``out/throughput.csv`` has one row per checkpoint (at ``steps``), each with a positive
    speed, counted FLOPs and peak memory, measured on ``devices`` devices."""
    rows = read_throughput(out / "throughput.csv")
    assert [r.step for r in rows] == steps
    for r in rows:
        assert r.images_per_s > 0 and r.train_tflops > 0
        assert r.peak_memory_gib > 0.01  # a torch process holds far more than 10 MiB
        assert r.peak_memory_source in ("cpu_peak_rss", "cuda_max_allocated")
        assert r.device.endswith(f" x{devices}")
