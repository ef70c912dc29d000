"""CPU threads that share a machine well.

Two defaults of the OpenMP runtime that torch uses make a busy machine slow: it starts one
thread per CPU of the host even when the process may use fewer (containers, ``taskset``), and
its idle threads spin at barriers for a while before they sleep, so a competing process on the
same cores collapses throughput while both show 100% CPU. :func:`prepare_cpu_runtime` sets the
thread count from the cores this process may actually use (``os.sched_getaffinity``) and, when
other processes are already using the CPU, the passive wait policy (``OMP_WAIT_POLICY=PASSIVE``:
idle threads yield at once). On an idle machine spinning is faster (measured on 2 cores: 42.6
vs 33.5 training images/s), so the policy is left alone there. It must run before torch is
imported, which is why the CLI calls it first. Values the user set are kept.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator, MutableMapping

#: Cores' worth of CPU that other processes must be using for the machine to count as busy.
BUSY_CORES = 0.5


def available_cores() -> int:
    """CPUs this process may run on (its affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def _cpu_times() -> tuple[int, int] | None:
    """(idle, total) jiffies of the whole machine from /proc/stat, or None off Linux."""
    try:
        with open("/proc/stat") as fh:
            fields = [int(v) for v in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return fields[3] + (fields[4] if len(fields) > 4 else 0), sum(fields)


def busy_cores(window_s: float = 0.2) -> float:
    """Cores' worth of CPU in use on the machine over ``window_s`` (0 when unknown)."""
    first = _cpu_times()
    time.sleep(window_s)
    second = _cpu_times()
    if first is None or second is None or second[1] <= first[1]:
        return 0.0
    idle, total = second[0] - first[0], second[1] - first[1]
    return (1 - idle / total) * (os.cpu_count() or 1)


def prepare_cpu_runtime(
    environ: MutableMapping[str, str] | None = None, busy: Callable[[], float] = busy_cores
) -> dict[str, str]:
    """Set ``OMP_NUM_THREADS`` (the usable cores) and, when other processes use at least
    :data:`BUSY_CORES` of the CPU, ``OMP_WAIT_POLICY=PASSIVE`` in ``environ`` (default
    ``os.environ``), where the user has not set them; returns what was set.

    Call it before torch is imported: the OpenMP runtime reads these once, when it loads.
    """
    env = os.environ if environ is None else environ
    chosen = {"OMP_NUM_THREADS": str(available_cores())}
    if not env.get("OMP_WAIT_POLICY") and busy() >= BUSY_CORES:
        chosen["OMP_WAIT_POLICY"] = "PASSIVE"
    applied = {}
    for key, value in chosen.items():
        if not env.get(key):
            env[key] = value
            applied[key] = value
    return applied


@contextlib.contextmanager
def cpu_threads(n: int) -> Iterator[None]:
    """Use ``n`` torch CPU threads inside the block (0: leave as is), then restore."""
    import torch

    before = torch.get_num_threads()
    if n > 0:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
