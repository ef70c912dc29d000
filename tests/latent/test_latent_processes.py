"""Two gloo processes on CPU (torchrun), as ``accelerate launch`` runs them on GPUs: a latent
diffusion run resumes bit-identically across processes, and SD fine-tuning runs. Slow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from fake_runs import make_disc_ingest
from latent_helpers import assert_throughput_rows
from sd_helpers import make_tiny_sd_folder

from radsynth.stage import sha256_file
from radsynth.training.checkpoint import list_checkpoints

pytestmark = pytest.mark.slow
TINY = ["--preset", "tiny", "--device", "cpu", "--cpu-threads", "1"]


def torchrun(data: Path, out: Path, *flags: str) -> None:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    cmd += ["-m", "radsynth.cli", "train", str(data), str(out), *TINY, *flags]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-1500:]


def test_two_processes_latent_resume_bit_identical(ingest_32, tiny_run, tmp_path):
    ae = ["--autoencoder", str(tiny_run)]
    torchrun(ingest_32, tmp_path / "straight", *ae, "--total-steps", "4")
    torchrun(ingest_32, tmp_path / "split", *ae, "--total-steps", "2")
    torchrun(ingest_32, tmp_path / "split", *ae, "--total-steps", "4", "--resume")
    a, b = list_checkpoints(tmp_path / "straight")[-1], list_checkpoints(tmp_path / "split")[-1]
    for name in ("model.safetensors", "ema.safetensors"):
        assert sha256_file(a / name) == sha256_file(b / name)


def test_two_processes_fine_tune_stable_diffusion(tmp_path):
    sd = make_tiny_sd_folder(tmp_path / "sd")
    data = make_disc_ingest(tmp_path / "data", {"train": 8, "val": 2})
    flags = ["--init-from", str(sd), "--prompt", "a chest x-ray showing {label}"]
    torchrun(data, tmp_path / "run", *flags, "--total-steps", "2", "--grad-accum-steps", "2")
    assert [p.name for p in list_checkpoints(tmp_path / "run")] == ["step-0000002"]
    assert_throughput_rows(tmp_path / "run", [2], devices=2)
