"""Training speed of a run, measured as it trains: images/s, model FLOP/s, MFU, peak memory.

The model FLOPs of one image's forward and backward pass are counted once, before the loop
(:func:`radsynth.hardware.flops.train_step_flops`); the loop then hands the meter the images and
wall seconds of each logging window (whose ``.item()`` synchronises the device, so the clock is
true), and a row of ``train/throughput.csv`` is taken at each checkpoint.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from radsynth.hardware.device import device_name, peak_flops
from radsynth.hardware.figures import peak_memory
from radsynth.hardware.flops import train_step_flops
from radsynth.records.throughput import ThroughputRow, read_throughput, write_throughput


@dataclass
class ThroughputMeter:
    """Images and seconds trained since the last row; the run's FLOPs per image and peak."""

    device: torch.device
    flops_per_image: int  # forward + backward model FLOPs of one image
    peak_flops: float | None  # all devices together, FLOP/s; None: unknown
    device_label: str  # e.g. "NVIDIA H100 80GB HBM3 x1"
    images: int = 0  # images trained since the last row
    seconds: float = 0.0  # wall seconds they took

    def add(self, images: int, seconds: float) -> None:
        """Count one logging window."""
        self.images += images
        self.seconds += seconds

    def row(self, step: int) -> dict[str, Any]:
        """The row at ``step`` (a plain dict, for the checkpoint state); starts a new span."""
        rate = self.images / self.seconds if self.seconds > 0 else math.nan
        achieved = rate * self.flops_per_image
        memory = peak_memory(self.device)
        self.images, self.seconds = 0, 0.0
        return asdict(
            ThroughputRow(
                step=step,
                images_per_s=rate,
                train_tflops=achieved / 1e12,
                mfu=achieved / self.peak_flops if self.peak_flops else math.nan,
                peak_memory_gib=memory.gib,
                peak_memory_source=memory.source,
                device=self.device_label,
            )
        )


def throughput_meter(
    net: torch.nn.Module, image_shape: tuple[int, ...], device: torch.device, devices: int
) -> ThroughputMeter:
    """A meter for ``net`` (the unwrapped online network) training on (C, H, W) images on
    ``devices`` devices like ``device``. The FLOP count runs one untimed forward and backward
    pass under a forked RNG, so the run's random stream does not change."""
    image = torch.zeros((1, *image_shape), device=device)
    labels = None
    if getattr(net.config, "num_class_embeds", None):
        labels = torch.zeros(1, dtype=torch.long, device=device)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        flops = train_step_flops(net, image, class_labels=labels)
    peak, _ = peak_flops(device)
    label = f"{device_name(device)} x{devices}"
    return ThroughputMeter(device, flops, peak * devices if peak else None, label)


def write_throughput_csv(out: Path, rows: list[dict[str, Any]]) -> Path:
    """Write ``out/throughput.csv`` from the rows kept in the checkpoint state."""
    return write_throughput(out / "throughput.csv", [ThroughputRow(**r) for r in rows])


def read_run_throughput(out: Path) -> list[ThroughputRow]:
    """The throughput rows of the training folder ``out`` (none for an older run)."""
    return read_throughput(out / "throughput.csv")
