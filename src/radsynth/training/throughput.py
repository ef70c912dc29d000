"""Training speed of a run, measured as it trains: images/s, model FLOP/s, MFU, peak memory.

The model FLOPs of one image's forward and backward pass are counted once, before the loop
(:func:`radsynth.hardware.flops.train_step_flops`); the loop then hands the meter the images and
wall seconds of each logging window (whose ``.item()`` synchronises the device, so the clock is
true), and a row of ``train/throughput.csv`` is taken at each checkpoint.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from radsynth.hardware.device import device_name, peak_flops
from radsynth.hardware.figures import peak_memory
from radsynth.hardware.flops import backward_flops, train_step_flops
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
    net: torch.nn.Module,
    image_shape: tuple[int, ...],
    device: torch.device,
    devices: int,
    conditional: bool | None = None,
) -> ThroughputMeter:
    """A meter for ``net`` (the unwrapped online denoiser, called ``net(x, t, class_labels)``)
    training on (C, H, W) images on ``devices`` devices like ``device``; ``conditional``: whether
    it takes class labels (None: as its ``config.num_class_embeds`` says). The FLOP count runs
    one untimed forward and backward pass under a forked RNG, so the run's random stream does
    not change."""
    image = torch.zeros((1, *image_shape), device=device)
    if conditional is None:
        conditional = bool(getattr(net.config, "num_class_embeds", None))
    labels = torch.zeros(1, dtype=torch.long, device=device) if conditional else None
    return counted_meter(lambda: train_step_flops(net, image, class_labels=labels), device, devices)


def autoencoder_meter(
    ae: torch.nn.Module, image_shape: tuple[int, ...], device: torch.device
) -> ThroughputMeter:
    """A meter for a KL autoencoder training on (C, H, W) images on one device. The counted
    FLOPs are one image's encode, decode and backward (the posterior mean is decoded; the
    reconstruction and adversarial losses and the discriminator are left out, so the MFU is a
    lower bound)."""
    from radsynth.models.autoencoder import decode, encode_moments

    image = torch.zeros((1, *image_shape), device=device)

    def forward() -> torch.Tensor:  # (1, C, H, W) reconstruction of the posterior mean
        return decode(ae, encode_moments(ae, image)[0])

    return counted_meter(lambda: backward_flops(ae, forward), device, 1)


def counted_meter(
    count_flops: Callable[[], int], device: torch.device, devices: int
) -> ThroughputMeter:
    """A meter whose FLOPs per image ``count_flops()`` counts, under a forked RNG."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        flops = count_flops()
    peak, _ = peak_flops(device)
    label = f"{device_name(device)} x{devices}"
    return ThroughputMeter(device, flops, peak * devices if peak else None, label)


def write_throughput_csv(out: Path, rows: list[dict[str, Any]]) -> Path:
    """Write ``out/throughput.csv`` from the rows kept in the checkpoint state."""
    return write_throughput(out / "throughput.csv", [ThroughputRow(**r) for r in rows])


def read_run_throughput(out: Path) -> list[ThroughputRow]:
    """The throughput rows of the training folder ``out`` (none for an older run)."""
    return read_throughput(out / "throughput.csv")
