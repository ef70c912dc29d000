"""Device choice, its name, and its peak FLOP/s for model FLOPs utilization (MFU).

``--device`` takes ``auto`` (the first CUDA GPU if there is one, else the CPU), ``cpu``,
``cuda`` or ``cuda:N``. MFU (Chowdhery et al. 2022, PaLM, appendix B) divides achieved model
FLOP/s by the device's peak: datasheet dense bf16 peaks for GPUs, and for a CPU an estimate
from the vector units it reports (no peak is published for a virtual machine).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import torch

from radsynth.errors import RadsynthError

#: Dense bf16 tensor-core peaks in FLOP/s from the vendors' datasheets (no sparsity),
#: matched against ``torch.cuda.get_device_name()``; the first matching key wins.
GPU_PEAK_BF16 = {
    "H200": 989e12,  # NVIDIA H200 SXM
    "H100 PCIe": 756e12,  # NVIDIA H100 PCIe
    "H100": 989e12,  # NVIDIA H100 SXM
    "A100": 312e12,  # NVIDIA A100
    "L40S": 362e12,  # NVIDIA L40S
    "A10G": 70e12,  # NVIDIA A10G (AWS)
    "L4": 121e12,  # NVIDIA L4
}

_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


def resolve_device(spec: str = "auto") -> torch.device:
    """The torch device for ``auto``, ``cpu``, ``cuda`` or ``cuda:N``; a one-line error for
    anything else or for a GPU that is not there."""
    if not _DEVICE.fullmatch(spec):
        raise RadsynthError(f"device must be auto, cpu, cuda or cuda:N, got {spec!r}")
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(spec)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RadsynthError(f"device {spec!r} asked for, but torch sees no CUDA GPU")
        if device.index is not None and device.index >= torch.cuda.device_count():
            n = torch.cuda.device_count()
            raise RadsynthError(f"device {spec!r} asked for, but only {n} GPU(s) are visible")
    return device


@contextlib.contextmanager
def current_gpu(device: torch.device) -> Iterator[None]:
    """Make ``device``'s GPU the current one for code that asks for a plain ``cuda`` device
    (accelerate does in a single process), restoring the previous one after; a no-op for the
    CPU or for ``cuda`` without an index.

    Raises:
        RadsynthError: ``cuda:N`` under a multi-process launch (``WORLD_SIZE`` > 1), where each
            process already takes its own GPU.
    """
    if device.type != "cuda" or device.index is None:
        yield
        return
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise RadsynthError(
            f"--device {device} picks one GPU, but this is a multi-process launch in which each "
            "process takes its own; use --device auto"
        )
    with torch.cuda.device(device.index):
        yield


def auto_flag(value: str, on_gpu: bool) -> bool:
    """An on/off/auto option: 'auto' means on for a GPU and off for a CPU."""
    return on_gpu if value == "auto" else value == "on"


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op on the CPU), before reading a timer."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU model and how many cores this process may use."""
    from radsynth.hardware.threads import available_cores

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    for line in _cpuinfo().splitlines():
        if line.startswith("model name"):
            return f"CPU {line.split(':', 1)[1].strip()} x{available_cores()}"
    return f"CPU x{available_cores()}"


def peak_flops(device: torch.device) -> tuple[float | None, str]:
    """(peak FLOP/s or None, how it was obtained) for the device a benchmark ran on."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, peak in GPU_PEAK_BF16.items():
            if key in name:
                return peak, f"{name}: datasheet bf16 dense peak"
        return None, f"{name}: peak unknown (add it to GPU_PEAK_BF16)"
    return cpu_peak_estimate(_cpuinfo())


def cpu_peak_estimate(cpuinfo: str) -> tuple[float | None, str]:
    """Estimated fp32 peak from ``/proc/cpuinfo`` text: usable cores x clock x FLOP/cycle from
    the vector flags (AVX-512 + FMA: 2 units x 16 lanes x 2 = 64; AVX2 + FMA: 2 x 8 x 2 = 32;
    else 8). None when the text gives no clock (some hypervisors hide it)."""
    from radsynth.hardware.threads import available_cores

    lines = cpuinfo.splitlines()
    flags = next((ln for ln in lines if ln.startswith("flags")), "").split()
    mhz = [float(ln.split(":")[1]) for ln in lines if ln.startswith("cpu MHz")]
    if not mhz:
        return None, "CPU peak unknown (no clock in /proc/cpuinfo)"
    per_cycle = 64 if "avx512f" in flags else 32 if {"avx2", "fma"} <= set(flags) else 8
    cores = available_cores()
    peak = cores * max(mhz) * 1e6 * per_cycle
    return peak, f"ESTIMATE: {cores} cores x {max(mhz):.0f} MHz x {per_cycle} fp32 FLOP/cycle"


def peak_memory_gib(device: torch.device) -> float | None:
    """Peak memory allocated by torch on a GPU since the last reset, in GiB (None on CPU)."""
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2**30


def cpu_model() -> str:
    """The CPU model name, for benchmark records."""
    for line in _cpuinfo().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return os.uname().machine
