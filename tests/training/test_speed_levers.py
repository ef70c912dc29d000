"""The training loop's speed levers: device-resident data, the optimizer kernels, the batch rule
for the learning rate, and SDPA attention. Each must leave what is learned unchanged (or change
it only as stated)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from radsynth.config import build_config
from radsynth.errors import RadsynthError
from radsynth.stage import sha256_file
from radsynth.training.checkpoint import list_checkpoints
from radsynth.training.config import TrainConfig, check_resumable, effective_lr
from radsynth.training.data import DataOrder
from radsynth.training.device_data import DeviceImages, DeviceOrder, batch_source, uint8_table
from radsynth.training.optim import make_optimizer, optimizer_impl
from radsynth.training.train import train

FAST = {"preset": "tiny", "cpu_threads": 1}


def _cfg(**overrides) -> TrainConfig:
    return build_config(TrainConfig, {"data": ".", "out": ".", **FAST, **overrides})


def test_device_order_slices_the_same_stream_as_the_host_order():
    host, dev = DataOrder(7, seed=5), DeviceOrder(7, seed=5, device=torch.device("cpu"))
    for position, count in [(0, 7), (3, 9), (12, 2), (20, 15), (5, 0)]:
        assert torch.equal(dev.indices(position, count), host.indices(position, count))
    assert torch.equal(dev.batch(6, 4, 1, 2), host.batch(6, 4, 1, 2))


@pytest.mark.parametrize("chunk", [256, 2])  # one chunk, and the last of several
def test_uint8_images_give_the_host_paths_values_exactly(chunk, monkeypatch):
    from radsynth.training import device_data

    monkeypatch.setattr(device_data, "CHUNK", chunk)
    codes = torch.arange(256, dtype=torch.uint8).reshape(1, 1, 16, 16).repeat(3, 1, 1, 1)
    host = (codes.float() / 255).half()  # the host path holds float16(k / 255)
    dev = DeviceImages.from_host(host, torch.device("cpu"))
    assert dev.images.dtype == torch.uint8 and dev.table is not None
    idx = torch.tensor([2, 0])
    assert torch.equal(dev.batch(idx), host[idx].float() * 2 - 1)
    assert uint8_table()[0] == -1 and uint8_table()[255] == 1
    # A 16-bit film is not an 8-bit level: it stays float16, with the same values.
    deep = host.clone()
    deep[2, 0, 0, 1] = 0.5  # in the last image: the last chunk
    kept = DeviceImages.from_host(deep, torch.device("cpu"))
    assert kept.table is None and torch.equal(kept.batch(idx), deep[idx].float() * 2 - 1)


def test_batch_source_draws_the_same_batches_on_and_off_device():
    images = (torch.randint(0, 256, (9, 1, 8, 8)).float() / 255).half()
    labels = torch.arange(9) % 3
    cpu = torch.device("cpu")
    on = batch_source(images, labels, 3, cpu, on_device=True)
    off = batch_source(images, labels, 3, cpu, on_device=False)
    for position in (0, 4, 8, 17):
        (xa, ya), (xb, yb) = on.draw(position, 4, 0, 1), off.draw(position, 4, 0, 1)
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_training_with_data_on_device_is_bit_identical(fake_ingest, tmp_path: Path):
    for name in ("on", "off"):
        args = {"data": fake_ingest, "out": tmp_path / name, "data_on_device": name, "hflip": True}
        train(build_config(TrainConfig, {**args, **FAST, "total_steps": 4}))
    a, b = list_checkpoints(tmp_path / "on")[-1], list_checkpoints(tmp_path / "off")[-1]
    for file in ("model.safetensors", "ema.safetensors"):
        assert sha256_file(a / file) == sha256_file(b / file)


def test_lr_rule_scales_with_batch_relative_to_the_preset():
    assert effective_lr(_cfg()) == _cfg().lr == 1e-3  # tiny: batch 4 is its reference
    assert effective_lr(_cfg(batch_size=16)) == pytest.approx(2e-3)  # sqrt(16 / 4) = 2
    assert effective_lr(_cfg(batch_size=16, lr_scale="linear")) == pytest.approx(4e-3)
    assert effective_lr(_cfg(batch_size=16, lr_scale="none")) == 1e-3
    paper = build_config(TrainConfig, {"data": ".", "out": ".", "batch_size": 64})
    assert effective_lr(paper) == pytest.approx(5e-5 * math.sqrt(8))
    net = torch.nn.Linear(2, 2)
    assert make_optimizer(net, _cfg(batch_size=16)).param_groups[0]["lr"] == pytest.approx(2e-3)


def test_runs_from_before_the_lr_rule_resume_when_the_lr_is_the_same():
    from radsynth.config import config_to_dict

    old = config_to_dict(_cfg())
    del old["lr_scale"], old["lr_reference_batch"]
    check_resumable(old, _cfg())  # batch 4 at reference 4: lr as before
    bigger = {**old, "batch_size": 16}  # trained at 16 with lr as given
    check_resumable(bigger, _cfg(batch_size=16, lr_scale="none"))
    with pytest.raises(RadsynthError, match="lr_scale"):
        check_resumable(bigger, _cfg(batch_size=16))  # sqrt would now double its lr


def test_fused_adam_takes_the_same_steps_as_the_default():
    torch.manual_seed(0)
    nets = [torch.nn.Linear(16, 4) for _ in range(2)]
    nets[1].load_state_dict(nets[0].state_dict())
    assert optimizer_impl("auto", "cuda") == "fused" and optimizer_impl("auto", "cpu") == "default"
    opts = [
        make_optimizer(n, _cfg(optimizer_impl=i))
        for n, i in zip(nets, ("auto", "fused"), strict=True)
    ]
    x = torch.randn(8, 16)
    for _ in range(5):
        for net, opt in zip(nets, opts, strict=True):
            net(x).square().mean().backward()
            opt.step()
            opt.zero_grad()
    for a, b in zip(nets[0].parameters(), nets[1].parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert opts[1].state_dict()["state"].keys() == opts[0].state_dict()["state"].keys()


def test_sdpa_attention_matches_the_explicit_softmax(tiny_unet):
    from radsynth.models.unet import set_attention

    x, t = (
        torch.randn(2, 1, 32, 32, generator=torch.Generator().manual_seed(1)),
        torch.tensor([3, 70]),
    )
    assert set_attention(tiny_unet, "math") == 4  # 1 down, 1 middle, 2 up (one more up)
    explicit = tiny_unet(x, t).sample
    set_attention(tiny_unet, "sdpa")
    fused = tiny_unet(x, t).sample
    torch.testing.assert_close(fused, explicit, rtol=1e-4, atol=1e-5)
    assert not torch.equal(fused, tiny_unet(x, t + 1).sample)  # the comparison can fail


def test_unknown_compile_mode_is_refused():
    with pytest.raises(RadsynthError, match="compile_mode must be one of"):
        _cfg(compile_mode="fastest")


def test_changing_the_optimizer_kernels_on_resume_is_allowed(fake_ingest, tmp_path: Path):
    out = tmp_path / "run"
    args = {"data": fake_ingest, "out": out, **FAST, "checkpoint_every_steps": 2}
    train(build_config(TrainConfig, {**args, "total_steps": 2}))
    more = {"total_steps": 4, "resume": True, "optimizer_impl": "fused", "data_on_device": "off"}
    train(build_config(TrainConfig, {**args, **more}))
    assert [p.name for p in list_checkpoints(out)] == ["step-0000002", "step-0000004"]


@pytest.mark.gpu
def test_device_batches_never_wait_for_the_host():
    """On a GPU the device path draws a batch without one host synchronisation."""
    device = torch.device("cuda")
    images = (torch.randint(0, 256, (64, 1, 32, 32)).float() / 255).half()
    source = batch_source(images, torch.arange(64) % 2, 0, device, on_device=True)
    source.draw(0, 16, 0, 1)  # the first epoch's permutation crosses once
    torch.cuda.set_sync_debug_mode("error")
    try:
        for position in range(16, 60, 16):
            x0, y = source.draw(position, 16, 0, 1)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert x0.device.type == "cuda" and y.device.type == "cuda"
