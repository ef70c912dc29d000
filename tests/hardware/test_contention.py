"""Re-deciding the CPU thread count during a run: the decision logic on hand-made loads, the
/proc/stat reading on hand-made text, the controller on a fake clock (no timings measured)."""

from __future__ import annotations

import pytest

from radsynth.hardware.contention import (
    LoadMeter,
    ThreadController,
    ThreadPolicy,
    adaptive_cpu_threads,
    next_threads,
    parse_cpu_times,
    threads_for,
)

TWO = ThreadPolicy(max_threads=2, cores=2)
SIXTEEN = ThreadPolicy(max_threads=16, cores=16)


@pytest.mark.parametrize(
    ("policy", "others", "threads"),
    [
        (TWO, 0.0, 2),  # idle machine: every core
        (TWO, 0.3, 2),  # below BUSY_CORES (0.5): noise, not a competitor
        (TWO, 0.5, 1),  # half a core taken: no core is whole beside our 2 threads
        (TWO, 1.0, 1),  # one competing process on one core
        (TWO, 2.0, 1),  # a 2-thread competitor: still at least 1
        (SIXTEEN, 2.1, 13),  # floor(16 - 2.1)
        (SIXTEEN, 20.0, 1),
        (ThreadPolicy(max_threads=4, cores=16), 3.0, 4),  # never more than at start
    ],
)
def test_threads_for_a_load(policy, others, threads) -> None:
    assert threads_for(policy, others) == threads


def test_one_spike_does_not_move_the_count_two_readings_do() -> None:
    assert next_threads(TWO, 2, [1.0]) == 2  # too few readings yet
    assert next_threads(TWO, 2, [0.0, 1.0]) == 2  # one spike
    assert next_threads(TWO, 2, [1.0, 1.1]) == 1  # contended twice in a row: down
    assert next_threads(TWO, 1, [1.0, 0.1]) == 1  # the competitor may be gone: not yet
    assert next_threads(TWO, 1, [0.1, 0.0]) == 2  # gone twice in a row: back up
    # Readings asking for different lower counts: the mildest cut.
    assert next_threads(SIXTEEN, 16, [2.1, 4.5]) == 13
    assert next_threads(SIXTEEN, 8, [0.0, 6.2]) == 9  # both ask for more: the fewest of them


STAT = """cpu  {a} 0 0 {i} 0 0 0 0 0 0
cpu0 {a0} 0 0 {i0} 0 0 0 0 0 0
cpu1 {a1} 0 0 {i1} 5 0 0 0 0 0
cpu2 900 0 0 100 0 0 0 0 0 0
intr 12345
"""


def stat(a0: int, i0: int, a1: int, i1: int) -> str:
    return STAT.format(a=a0 + a1, i=i0 + i1, a0=a0, i0=i0, a1=a1, i1=i1)


def test_parse_cpu_times_counts_only_our_cpus() -> None:
    text = stat(10, 90, 30, 65)
    # cpu1's iowait (5) is not busy; cpu2 is outside the affinity set; "cpu" is the sum line.
    assert parse_cpu_times(text, {0, 1}) == (40, 200)
    assert parse_cpu_times(text, {2}) == (900, 1000)


def test_load_meter_subtracts_this_process() -> None:
    texts = iter([stat(0, 0, 0, 0), stat(100, 0, 100, 0), stat(200, 0, 150, 50)])
    clock, own = iter([0.0, 1.0, 2.0]), iter([0.0, 1.0, 2.0])
    meter = LoadMeter({0, 1}, lambda: next(texts), lambda: next(clock), lambda: next(own))
    assert meter.read() is None  # the first reading only starts the meter
    # Both CPUs fully busy, this process used 1 core: others used 1.
    assert meter.read() == pytest.approx(1.0)
    # 3/4 busy (1.5 cores), this process 1 core: others 0.5.
    assert meter.read() == pytest.approx(0.5)
    assert LoadMeter({0}, lambda: None).read() is None  # no /proc/stat


class FakeMeter:
    """Hands out a fixed list of readings."""

    def __init__(self, readings: list[float | None]) -> None:
        self.readings = list(readings)

    def read(self) -> float | None:
        return self.readings.pop(0) if self.readings else None


def test_controller_drops_and_restores_threads_on_a_schedule() -> None:
    now = [0.0]
    calls: list[int] = []
    # First call starts the meter (its reading is dropped), then one reading per 5 s.
    meter = FakeMeter([None, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0])
    ctl = ThreadController(TWO, calls.append, meter, interval_s=5.0, clock=lambda: now[0])
    seen = []
    for t in range(0, 31):  # one tick per second, 31 s
        now[0] = float(t)
        seen.append(ctl.tick())
    assert calls == [1, 2]  # down once contended twice, up once free twice
    # Readings at 5, 10, ... s: 0 | 1 | 1 -> down at 15 s | 1 | 0 | 0 -> up at 30 s.
    assert seen[:15] == [2] * 15 and seen[15:30] == [1] * 15 and seen[30] == 2


def test_no_controller_where_the_count_must_stay() -> None:
    assert adaptive_cpu_threads("cuda", 0, 1) is None
    assert adaptive_cpu_threads("cpu", 2, 1) is None  # --cpu-threads fixed by the user
    assert adaptive_cpu_threads("cpu", 0, 2) is None  # processes would count each other
