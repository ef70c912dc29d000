"""Pieces of the training loop: data order, EMA, LR schedule, validation loss, the bench."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from radsynth.cli import main
from radsynth.config import build_config
from radsynth.diffusion.schedule import alphas_cumprod, cosine_betas
from radsynth.training.config import TrainConfig
from radsynth.training.data import DataOrder, load_ingest
from radsynth.training.optim import WarmupConstant, ema_decay_at, ema_update
from radsynth.training.validation import validation_loss


def test_data_order_is_a_permutation_per_epoch_and_sharded():
    order = DataOrder(10, seed=3)
    first, second = order.indices(0, 10), order.indices(10, 10)
    assert sorted(first.tolist()) == list(range(10)) == sorted(second.tolist())
    assert not torch.equal(first, second)  # reshuffled each epoch
    assert torch.equal(DataOrder(10, seed=3).indices(7, 6), torch.cat([first[7:], second[:3]]))
    shards = [order.batch(4, 4, rank, 2) for rank in range(2)]
    assert torch.equal(torch.cat(shards), order.indices(4, 4))
    assert not torch.equal(DataOrder(10, seed=4).indices(0, 10), first)


def test_ema_update_and_warmup(tiny_unet):
    ema = copy.deepcopy(tiny_unet)
    with torch.no_grad():
        for p in tiny_unet.parameters():
            p.add_(1.0)
    before = [p.clone() for p in ema.parameters()]
    ema_update(ema, tiny_unet, decay=0.75)
    for e, b, p in zip(ema.parameters(), before, tiny_unet.parameters(), strict=True):
        torch.testing.assert_close(e, 0.75 * b + 0.25 * p)
    assert ema_decay_at(0, 0.999) == pytest.approx(0.1)
    assert ema_decay_at(10**6, 0.999) == 0.999
    assert [WarmupConstant(4)(s) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]


def test_val_loss_fixed_noise_and_timesteps(fake_ingest, tiny_unet):
    from accelerate import Accelerator

    cfg = build_config(TrainConfig, {"data": fake_ingest, "out": ".", "preset": "tiny"})
    val = load_ingest(fake_ingest, 32).val.float() * 2 - 1  # model space
    acc = Accelerator(cpu=True)
    ab = alphas_cumprod(cosine_betas(cfg.num_train_timesteps)).float()
    first = validation_loss(tiny_unet, val, cfg, ab, acc)
    torch.randn(100)  # consuming the global RNG must not change it
    assert validation_loss(tiny_unet, val, cfg, ab, acc) == first
    other = build_config(
        TrainConfig, {"data": fake_ingest, "out": ".", "preset": "tiny", "seed": 1}
    )
    assert validation_loss(tiny_unet, val, other, ab, acc) != first
    assert tiny_unet.training  # restored after evaluation


@pytest.mark.parametrize("clock", ["from /proc/cpuinfo", "missing"])
def test_bench_cli_prints_throughput_and_mfu(tmp_path, capsys, monkeypatch, clock):
    """MFU is a fraction of the estimated peak where /proc/cpuinfo gives a clock, and None
    (printed "unknown") where it does not, as on some virtual machines."""
    if clock == "missing":
        from radsynth.hardware import device

        monkeypatch.setattr(device, "_cpuinfo", lambda: "flags : avx2 fma\n")
    out = tmp_path / "bench.json"
    argv = ["bench", "train", "--preset", "tiny", "--steps", "2", "--warmup-steps", "1",
            "--cpu", "--cpu-threads", "1", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "images/s" in text and "MFU" in text
    figures = json.loads(out.read_text())
    assert figures["images_per_s"] > 0 and figures["achieved_tflops"] > 0
    assert figures["train_flops_per_image"] > 0 and figures["precision"] == "fp32"
    if figures["peak_tflops"] is None:  # no clock known: no MFU, and the text says so
        assert figures["mfu"] is None and "MFU unknown" in text
    else:
        assert "ESTIMATE" in text and 0 < figures["mfu"] < 1
        assert figures["mfu"] == pytest.approx(figures["achieved_tflops"] / figures["peak_tflops"])
    if clock == "missing":
        assert figures["mfu"] is None
