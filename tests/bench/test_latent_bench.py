"""The latent rows' measurements: ``bench train`` on random latents and ``bench sample`` with
the decode to full-size films, on the tiny presets (32 px films, 8 x 8 x 3 latents)."""

from __future__ import annotations

import pytest
import torch

from radsynth.cli import main
from radsynth.config import build_config
from radsynth.hardware.flops import backward_flops, call_flops
from radsynth.sampling.bench import BenchSampleConfig, measure_sample
from radsynth.training.bench import BenchTrainConfig, measure_train

TINY = {"preset": "tiny", "device": "cpu", "cpu_threads": 1}


def test_flop_counts_of_a_convolution_by_hand():
    conv = torch.nn.Conv2d(2, 3, 3, padding=1, bias=False)
    x = torch.zeros(1, 2, 8, 8)
    forward = 2 * 64 * 3 * 18  # 2 FLOPs per multiply-add: 2 * (H * W) * C_out * (C_in * 3 * 3)
    assert call_flops(lambda: conv(x)) == forward
    # The backward pass computes the weight's gradient (the input needs none): as many again.
    assert backward_flops(conv, lambda: conv(x)) == 2 * forward
    assert conv.weight.grad is None  # cleared after


def test_latent_training_row_trains_the_unet_on_latents_and_repeats():
    fields = {**TINY, "batch_size": 2, "steps": 1, "warmup_steps": 1}
    pixels = measure_train(build_config(BenchTrainConfig, fields))
    latent = {**fields, "latent_channels": 3, "latent_factor": 4}
    first = measure_train(build_config(BenchTrainConfig, latent))
    again = measure_train(build_config(BenchTrainConfig, latent))
    assert first["latent_shape"] == [3, 8, 8] and pixels["latent_shape"] is None
    assert first["probe"].shape == (2, 3, 8, 8)  # the UNet's output over latents
    assert 0 < first["train_flops_per_image"] < pixels["train_flops_per_image"]
    assert torch.equal(first["probe"], again["probe"])  # same seed, same trained network


def test_latent_sampling_row_decodes_full_size_films_and_repeats():
    fields = {**TINY, "autoencoder": "tiny", "batch": 2, "steps": 2, "compile": "off"}
    first = measure_sample(build_config(BenchSampleConfig, fields))
    again = measure_sample(build_config(BenchSampleConfig, fields))
    assert first["probe"].shape == (2, 1, 32, 32)  # decoded films, not latents
    assert first["image_size_px"] == 32 and first["latent_shape"] == [3, 8, 8]
    assert first["decode_flops_per_image"] > 0 and first["network"] == "random tiny + tiny"
    assert first["probe"].abs().max() <= 1  # the decoder's output is clamped to [-1, 1]
    assert torch.equal(first["probe"], again["probe"])  # image n depends on seed n alone


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--latent-channels", "3", "--latent-factor", "5"], "does not divide 32 px"),
        (["sample", "--autoencoder", "f8-512"], "decodes 512 px films, --preset tiny is for 32"),
        (["sample", "--autoencoder", "f16"], "'f16' is not a train-autoencoder preset"),
    ],
)
def test_a_mismatched_latent_shape_is_one_line(args, message, capsys):
    assert main(["bench", *args, "--preset", "tiny", "--device", "cpu"]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
