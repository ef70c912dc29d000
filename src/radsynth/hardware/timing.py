"""How the benchmarks time a step: untimed warm-up calls, then timed calls, with the device
synchronised before each clock read (CUDA kernels run asynchronously) and its peak-memory
counter reset first."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from radsynth.hardware.device import synchronize


@dataclass(frozen=True)
class Timing:
    """Wall-clock seconds of a benchmark's two phases."""

    warmup_seconds: float  # the untimed calls (compilation, allocator, caches)
    seconds: float  # the timed calls


def time_calls(
    warmup: Callable[[int], object],
    step: Callable[[int], object],
    warmup_calls: int,
    calls: int,
    device: torch.device,
) -> Timing:
    """Call ``warmup(i)`` for i < ``warmup_calls``, then time ``step(i)`` for i < ``calls``.

    Args:
        warmup: one untimed call (often ``step`` itself, or a cheaper call of the same shapes).
        step: one timed call.
        device: the device the calls run on; synchronised before each clock read, and on a
            GPU its peak-memory counter is reset before the warm-up.
    """
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    warm_start = time.perf_counter()
    for i in range(warmup_calls):
        warmup(i)
    synchronize(device)
    start = time.perf_counter()
    for i in range(calls):
        step(i)
    synchronize(device)
    return Timing(warmup_seconds=start - warm_start, seconds=time.perf_counter() - start)
