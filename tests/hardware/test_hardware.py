"""The hardware module: device strings, GPU queries (stubbed), thread setup, and the GPU suite's
--smoke mode, which runs every GPU code path on the CPU."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from radsynth.cli import main
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


def test_gpu_suite_smoke_runs_every_measurement_on_the_cpu(tmp_path: Path, capsys) -> None:
    out = tmp_path / "bench"
    assert main(["bench", "gpu", "--smoke", "--out", str(out)]) == 0
    record = json.loads((out / "bench-gpu.json").read_text())
    results = record["results"]
    assert [r.get("error") for r in results] == [None] * len(results)
    train = [r for r in results if r["benchmark"] == "train"]
    sample = [r for r in results if r["benchmark"] == "sample"]
    # Train without and with compile; a sampling batch sweep, then the best batch both ways.
    assert [r["compile"] for r in train] == [False, True]
    assert {r["compile"] for r in sample[-2:]} == {False, True}
    for r in train + sample:
        assert r["precision"] == "bf16" and r["channels_last"] is True
        assert r["images_per_s"] > 0 and "CPU" in r["device"]
    assert all(r["minutes_for_27000"] > 0 for r in sample)
    # The GAN (fp32, eager): one training and one sampling figure.
    gan = [r for r in results if r["benchmark"].endswith("-gan")]
    assert [r["benchmark"] for r in gan] == ["train-gan", "sample-gan"]
    assert all(r["images_per_s"] > 0 and r["precision"] == "fp32" for r in gan)
    assert len(results) == len(train) + len(sample) + 2
    table = (out / "bench-gpu.md").read_text()
    assert table.count("\n| train ") == 2 and table.count("\n| sample ") == len(sample)
    assert table.count("\n| train-gan") == 1 and table.count("\n| sample-gan") == 1
    assert "0 failed" in capsys.readouterr().out
