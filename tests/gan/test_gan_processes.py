"""Two gloo processes on CPU (torchrun): GAN training resumes exactly, sampling splits seeds."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from radsynth.stage import sha256_file
from radsynth.training.checkpoint import list_checkpoints

pytestmark = pytest.mark.slow
TINY = ["--preset", "tiny", "--device", "cpu", "--cpu-threads", "1", "--condition-on", "label"]


def torchrun(*args: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [str(torchrun), "--nproc_per_node", "2", "--master_port", str(port), "-m"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(
        [*cmd, "radsynth.cli", *args], check=True, env=env, capture_output=True, timeout=600
    )


def test_two_processes_train_resume_exactly_and_sample_each_seed_once(gan_data, tmp_path):
    straight, split = tmp_path / "straight", tmp_path / "split"
    torchrun("train-gan", str(gan_data), str(straight), *TINY)
    torchrun("train-gan", str(gan_data), str(split), *TINY, "--total-kimg", "0.008")
    torchrun("train-gan", str(gan_data), str(split), *TINY, "--resume")
    a, b = list_checkpoints(straight)[-1], list_checkpoints(split)[-1]
    assert a.name == "step-0000004"
    for name in ("model.safetensors", "ema.safetensors", "discriminator.safetensors"):
        assert sha256_file(a / name) == sha256_file(b / name), name

    # torchrun takes --n for its own flag, so the values go in a config file.
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("n: 5\nbatch: 2\nlabel: dark\nprogress: false\ndevice: cpu\n")
    torchrun("sample", str(a), str(tmp_path / "two"), "--config", str(cfg))
    from radsynth.cli import main

    assert main(["sample", str(a), str(tmp_path / "one"), "--config", str(cfg)]) == 0
    one = {p.name: p.read_bytes() for p in (tmp_path / "one").glob("*.png")}
    two = {p.name: p.read_bytes() for p in (tmp_path / "two").glob("*.png")}
    assert len(one) == 5 and one == two
