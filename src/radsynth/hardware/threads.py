"""CPU threads that share a machine well.

Two defaults of the OpenMP runtime that torch uses make a busy machine slow: it starts one
thread per CPU of the host even when the process may use fewer (containers, ``taskset``), and
its idle threads spin at barriers for a while before they sleep, so a competing process on the
same cores collapses throughput while both show 100% CPU. :func:`prepare_cpu_runtime` sets the
thread count from the cores this process may actually use (``os.sched_getaffinity``) and the
passive wait policy (``OMP_WAIT_POLICY=PASSIVE``: idle threads yield at once); it must run before
torch is imported, which is why the CLI calls it first. Values the user set are kept.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, MutableMapping


def available_cores() -> int:
    """CPUs this process may run on (its affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def prepare_cpu_runtime(environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Set ``OMP_NUM_THREADS`` (the usable cores) and ``OMP_WAIT_POLICY`` (PASSIVE) in
    ``environ`` (default ``os.environ``) where the user has not; returns what was set.

    Call it before torch is imported: the OpenMP runtime reads these once, when it loads.
    """
    env = os.environ if environ is None else environ
    chosen = {"OMP_NUM_THREADS": str(available_cores()), "OMP_WAIT_POLICY": "PASSIVE"}
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
