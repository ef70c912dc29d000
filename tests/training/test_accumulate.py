"""Gradient accumulation and activation checkpointing leave the gradient as it was (up to float
rounding), and ``radsynth train`` runs with both; a split that does not divide is refused."""

from __future__ import annotations

import pytest
import torch

from radsynth.cli import main
from radsynth.diffusion.schedule import alphas_cumprod, cosine_betas
from radsynth.errors import RadsynthError
from radsynth.training.accumulate import backward_in_parts, check_parts
from radsynth.training.checkpoint import list_checkpoints


def batch_gradients(net: torch.nn.Module, parts: int) -> tuple[float, list[torch.Tensor]]:
    """The loss and gradients of one fixed batch of 4, backpropagated in ``parts`` parts."""
    from accelerate import Accelerator

    gen = torch.Generator().manual_seed(3)
    x0 = torch.rand((4, 1, 32, 32), generator=gen) * 2 - 1
    t = torch.randint(0, 100, (4,), generator=gen)
    noise = torch.randn(x0.shape, generator=gen)
    alpha_bar = alphas_cumprod(cosine_betas(100)).float()
    net.zero_grad(set_to_none=True)
    loss = backward_in_parts(
        Accelerator(cpu=True), net, x0, t, noise, alpha_bar, "epsilon", None, parts
    )
    return loss.item(), [p.grad.clone() for p in net.parameters()]


def assert_same_gradient(a, b) -> None:
    assert a[0] == pytest.approx(b[0], rel=1e-5)
    for ga, gb in zip(a[1], b[1], strict=True):
        torch.testing.assert_close(ga, gb, rtol=1e-4, atol=1e-7)


def test_two_and_four_parts_give_the_whole_batch_gradient(tiny_unet):
    whole = batch_gradients(tiny_unet, 1)
    assert any(g.abs().sum() > 0 for g in whole[1])
    assert_same_gradient(batch_gradients(tiny_unet, 2), whole)
    assert_same_gradient(batch_gradients(tiny_unet, 4), whole)


def test_activation_checkpointing_gives_the_same_gradient(tiny_unet):
    plain = batch_gradients(tiny_unet, 1)
    tiny_unet.enable_gradient_checkpointing()
    tiny_unet.train()
    assert_same_gradient(batch_gradients(tiny_unet, 1), plain)


def test_a_split_that_does_not_divide_is_refused():
    check_parts(8, 4)
    with pytest.raises(RadsynthError, match="--grad-accum-steps 3 does not divide the 4 images"):
        check_parts(4, 3)


def test_train_cli_with_both_and_a_refusal(fake_ingest, tmp_path, capsys):
    base = ["train", str(fake_ingest), "--preset", "tiny", "--cpu-threads", "1"]
    out = tmp_path / "run"
    flags = ["--grad-accum-steps", "2", "--gradient-checkpointing", "--total-steps", "2"]
    assert main([base[0], base[1], str(out), *base[2:], *flags]) == 0
    assert [p.name for p in list_checkpoints(out)] == ["step-0000002"]
    capsys.readouterr()
    refused = tmp_path / "refused"
    assert main([base[0], base[1], str(refused), *base[2:], "--grad-accum-steps", "3"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not divide" in err[0]
    assert not refused.exists()
