"""Real processes: two-process (gloo) exact resume, and kill -9 during training. Slow."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from radsynth.stage import sha256_file
from radsynth.training.checkpoint import list_checkpoints, load_checkpoint

pytestmark = pytest.mark.slow
TINY = ["--preset", "tiny", "--cpu", "--cpu-threads", "1"]


def torchrun(data: Path, out: Path, *flags: str) -> None:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "-m", "radsynth.cli", "train", str(data), str(out), *TINY, *flags]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, timeout=600)


def test_two_processes_resume_bit_identical(fake_ingest, tmp_path):
    torchrun(fake_ingest, tmp_path / "straight", "--total-steps", "4")
    torchrun(fake_ingest, tmp_path / "split", "--total-steps", "2")
    torchrun(fake_ingest, tmp_path / "split", "--total-steps", "4", "--resume")
    a, b = list_checkpoints(tmp_path / "straight")[-1], list_checkpoints(tmp_path / "split")[-1]
    for name in ("model.safetensors", "ema.safetensors"):
        assert sha256_file(a / name) == sha256_file(b / name)


def test_kill_during_training_leaves_a_loadable_latest_checkpoint(fake_ingest, tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "radsynth.cli", "train", str(fake_ingest), str(out), *TINY,
           "--total-steps", "100000", "--checkpoint-every-steps", "1"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while len(list_checkpoints(out)) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    latest = list_checkpoints(out)[-1]
    assert load_checkpoint(latest).step >= 3
    result = subprocess.run(
        [*cmd[:-4], "--total-steps", str(load_checkpoint(latest).step + 1), "--resume"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-500:]
