"""`radsynth bench sample`: measured images/s and MFU, and the FLOP count it rests on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from radsynth.cli import main
from radsynth.hardware.flops import forward_flops


class ConvNet(torch.nn.Module):
    """One 3x3 convolution, 2 -> 3 channels, called like a denoiser."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(2, 3, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def test_forward_flops_counts_a_convolution_by_hand():
    # 2 FLOPs per multiply-add: 2 * (H * W) * C_out * (C_in * 3 * 3) = 2 * 64 * 3 * 18
    assert forward_flops(ConvNet(), torch.zeros(1, 2, 8, 8)) == 2 * 64 * 3 * 18


def test_bench_prints_images_per_s_and_mfu(tiny_ckpt: Path, tmp_path: Path, capsys):
    out = tmp_path / "bench.json"
    args = ["bench", "sample", "--preset", "tiny", "--sampler", "heun", "--steps", "2"]
    assert main([*args, "--batch", "2", "--cpu", "--out", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert figures["function_evaluations"] == 3 and figures["images"] == 2
    assert figures["forward_flops_per_image"] > 1e6
    assert figures["images_per_s"] > 0
    assert figures["mfu"] is None or 0 < figures["mfu"] < 1
    assert "images/s" in capsys.readouterr().out
    ckpt_args = ["bench", "sample", "--ckpt", str(tiny_ckpt), "--steps", "0", "--sampler", "ddpm"]
    assert main([*ckpt_args, "--batch", "1", "--cpu", "--out", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert figures["steps"] == 100 and figures["network"].endswith("step-0000002")


@pytest.mark.gpu
def test_paper_preset_runs_the_gpu_branches(tmp_path: Path):
    """On a GPU the benchmark takes the bf16, channels_last and compile branches and reports a
    datasheet peak. The 27,000-images-in-10-minutes target is a benchmark figure (`make
    bench-gpu`, docs/benchmarks.md), not asserted here. Run with --rungpu."""
    out = tmp_path / "bench.json"
    args = ["bench", "sample", "--preset", "paper", "--sampler", "dpmpp", "--steps", "2"]
    assert main([*args, "--batch", "4", "--out", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert figures["precision"] == "bf16" and figures["compile"] and figures["channels_last"]
    assert "CPU" not in figures["device"] and figures["images_per_s"] > 0
