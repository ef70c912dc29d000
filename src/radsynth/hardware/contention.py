"""Re-decide the torch CPU thread count during a run, as other processes start and stop.

The OpenMP wait policy is read once, when torch loads (:mod:`radsynth.hardware.threads`), so a
run that starts on an idle machine keeps spinning threads on every core; when another process
starts beside it, each parallel region waits at its barrier for a thread the kernel has
descheduled, and training collapses (docs/benchmarks.md: 48 to 1.4-2.0 images/s on 2 cores).
With no more threads than the cores the others leave free, no barrier waits on a descheduled
thread, so the loop measures, every ``interval_s`` seconds, how much CPU *other* processes use
on this process's cores, and sets the thread count to the cores they leave free (at least 1),
or back to the starting count once they are gone.

The measurement: the busy share of this process's CPUs (the per-CPU lines of ``/proc/stat``,
for the CPUs of its affinity mask) times their number, minus this process's own CPU time over
the same wall time (``time.process_time``). The decision is a pure function of those readings
(:func:`threads_for`, :func:`next_threads`) with hysteresis: the count changes only when the
last ``patience`` readings all ask for a change in the same direction.

The thread count then depends on the load, and floating-point sums may differ with it, so it is
only re-decided when the user left ``cpu_threads`` at 0 (torch's default), on CPU, in a single
process; a run with a fixed ``--cpu-threads N`` keeps N threads.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from radsynth.hardware.threads import BUSY_CORES, available_cores

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ThreadPolicy:
    """How many threads to use for a given load."""

    max_threads: int  # threads when no other process competes (the count at start)
    cores: int  # CPUs this process may run on (its affinity mask)
    busy_cores: float = BUSY_CORES  # others' CPU use, in cores, from which the CPUs are shared
    patience: int = 2  # consecutive readings that must agree before the count changes


def threads_for(policy: ThreadPolicy, others_cores: float) -> int:
    """The thread count for one reading of others' CPU use (in cores): ``max_threads`` below
    ``busy_cores``; else the cores they leave whole, ``floor(cores - others)``, at least 1."""
    if others_cores < policy.busy_cores:
        return policy.max_threads
    return max(1, min(policy.max_threads, math.floor(policy.cores - others_cores)))


def next_threads(policy: ThreadPolicy, current: int, recent_others: Sequence[float]) -> int:
    """The thread count after the latest readings: unchanged unless the last ``patience``
    readings all ask for fewer threads (then the most of them asked for) or all for more (then
    the fewest), so one spike of load does not move it."""
    if len(recent_others) < policy.patience:
        return current
    wanted = [threads_for(policy, o) for o in recent_others[-policy.patience :]]
    if all(w < current for w in wanted):
        return max(wanted)
    if all(w > current for w in wanted):
        return min(wanted)
    return current


def parse_cpu_times(stat_text: str, cpus: set[int]) -> tuple[int, int]:
    """(busy, total) jiffies summed over the ``cpuN`` lines of ``/proc/stat`` text for N in
    ``cpus`` (idle and iowait count as not busy)."""
    busy = total = 0
    for line in stat_text.splitlines():
        name, *values = line.split()
        if not name.startswith("cpu") or not name[3:].isdigit() or int(name[3:]) not in cpus:
            continue
        fields = [int(v) for v in values]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        total += sum(fields[:8])  # guest time is already counted in user time
        busy += sum(fields[:8]) - idle
    return busy, total


def _read_proc_stat() -> str | None:
    try:
        with open("/proc/stat") as fh:
            return fh.read()
    except OSError:
        return None


def _affinity() -> set[int]:
    import os

    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return set(range(os.cpu_count() or 1))


@dataclass
class LoadMeter:
    """Cores' worth of CPU that other processes used on this process's CPUs between readings."""

    cpus: set[int] = field(default_factory=_affinity)  # the CPUs that count
    read_stat: Callable[[], str | None] = _read_proc_stat  # /proc/stat text, None off Linux
    wall: Callable[[], float] = time.monotonic  # seconds
    own_cpu: Callable[[], float] = time.process_time  # this process's CPU seconds, all threads
    _last: tuple[int, int, float, float] | None = None  # busy, total, wall, own at last reading

    def read(self) -> float | None:
        """Others' CPU use in cores since the previous call (None on the first call, or when
        ``/proc/stat`` cannot be read)."""
        text = self.read_stat()
        if text is None:
            return None
        busy, total = parse_cpu_times(text, self.cpus)
        now = (busy, total, self.wall(), self.own_cpu())
        last, self._last = self._last, now
        if last is None or now[1] <= last[1] or now[2] <= last[2]:
            return None
        machine = (now[0] - last[0]) / (now[1] - last[1]) * len(self.cpus)
        own = (now[3] - last[3]) / (now[2] - last[2])
        return max(0.0, machine - own)


@dataclass
class ThreadController:
    """Calls ``set_threads`` when the load asks for another thread count; :meth:`tick` is cheap
    between readings (one clock call), so the training loop may call it every step."""

    policy: ThreadPolicy
    set_threads: Callable[[int], None]  # torch.set_num_threads
    meter: LoadMeter = field(default_factory=LoadMeter)
    interval_s: float = 5.0  # seconds between readings
    clock: Callable[[], float] = time.monotonic
    current: int = 0  # threads in use now (0: policy.max_threads)
    recent: list[float] = field(default_factory=list)  # the latest readings, newest last
    _next_s: float | None = None  # clock time of the next reading

    def tick(self) -> int:
        """Take a reading if one is due and apply the decision; returns the thread count."""
        self.current = self.current or self.policy.max_threads
        now = self.clock()
        if self._next_s is None:  # the first call only starts the meter
            self._next_s = now + self.interval_s
            self.meter.read()
        if now < self._next_s:
            return self.current
        self._next_s = now + self.interval_s
        others = self.meter.read()
        if others is None:
            return self.current
        self.recent = [*self.recent, others][-self.policy.patience :]
        chosen = next_threads(self.policy, self.current, self.recent)
        if chosen != self.current:
            log.info(
                "CPU threads %d -> %d: other processes use %.1f of %d cores",
                self.current,
                chosen,
                others,
                self.policy.cores,
            )
            self.set_threads(chosen)
            self.current = chosen
        return self.current


def adaptive_cpu_threads(
    device_type: str, cpu_threads: int, processes: int
) -> ThreadController | None:
    """A controller for a training run, or None where the count must not change: off CPU, with
    a fixed ``cpu_threads``, with several processes (they would count each other as load), or
    when ``/proc/stat`` cannot be read."""
    if device_type != "cpu" or cpu_threads > 0 or processes > 1 or _read_proc_stat() is None:
        return None
    import torch

    policy = ThreadPolicy(max_threads=torch.get_num_threads(), cores=available_cores())
    if policy.max_threads <= 1:
        return None
    return ThreadController(policy, torch.set_num_threads)
