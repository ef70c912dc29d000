"""The hardware module: device strings, GPU queries (stubbed) and thread setup (the GPU suite
that uses them is tested in tests/bench/test_gpu.py)."""

from __future__ import annotations

import os

import pytest
import torch

from radsynth.errors import RadsynthError
from radsynth.hardware.device import (
    cpu_peak_estimate,
    device_name,
    peak_flops,
    resolve_device,
)
from radsynth.hardware.threads import available_cores, busy_cores, prepare_cpu_runtime


def test_device_strings() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in {"cpu", "cuda"}
    for bad in ("gpu", "cuda:x", "CUDA", ""):
        with pytest.raises(RadsynthError, match="device must be"):
            resolve_device(bad)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_cuda_without_a_gpu_is_a_one_line_error() -> None:
    with pytest.raises(RadsynthError, match="no CUDA GPU"):
        resolve_device("cuda:1")


def test_gpu_name_and_peak_with_the_device_query_stubbed(monkeypatch) -> None:
    """The GPU branches of device_name and peak_flops run on a CPU machine: a misspelled
    torch.cuda call there fails this test instead of the first GPU benchmark."""
    calls = []

    def fake_name(device=None) -> str:
        calls.append(device)
        return "NVIDIA H200"

    monkeypatch.setattr(torch.cuda, "get_device_name", fake_name)
    gpu = torch.device("cuda", 0)
    assert device_name(gpu) == "NVIDIA H200"
    peak, note = peak_flops(gpu)
    assert peak == pytest.approx(989e12, rel=1e-9)
    assert "datasheet" in note
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Mystery GPU")
    assert peak_flops(gpu) == (None, "Mystery GPU: peak unknown (add it to GPU_PEAK_BF16)")
    assert len(calls) == 2


def test_cpu_peak_needs_a_clock() -> None:
    assert cpu_peak_estimate("flags : avx2 fma\n")[0] is None
    peak, note = cpu_peak_estimate("flags : avx2 fma\ncpu MHz : 2000.0\n")
    assert peak == pytest.approx(available_cores() * 2000e6 * 32, rel=1e-12)
    assert note.startswith("ESTIMATE")


def test_thread_setup_respects_the_user_and_the_affinity_mask() -> None:
    """Threads follow the affinity mask; threads yield only when the machine is busy."""
    idle: dict[str, str] = {}
    assert prepare_cpu_runtime(idle, busy=lambda: 0.1) == idle
    assert idle == {"OMP_NUM_THREADS": str(len(os.sched_getaffinity(0)))}
    busy: dict[str, str] = {}
    prepare_cpu_runtime(busy, busy=lambda: 1.0)
    assert busy["OMP_WAIT_POLICY"] == "PASSIVE"
    user = {"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "ACTIVE"}
    assert prepare_cpu_runtime(user, busy=lambda: 2.0) == {}
    assert user == {"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "ACTIVE"}


def test_busy_cores_reads_the_machine() -> None:
    assert 0.0 <= busy_cores(0.05) <= (os.cpu_count() or 1) + 1e-9
