"""Checkpoint format: listing, loading, atomic saves, corrupt files."""

from __future__ import annotations

import pytest
import torch
from fake_runs import make_tiny_checkpoint

import radsynth.training.checkpoint as ckpt_mod
from radsynth.errors import RadsynthError
from radsynth.training.checkpoint import (
    list_checkpoints,
    load_checkpoint,
    load_training_state,
    save_checkpoint,
)


def test_tiny_checkpoint_loads(tmp_path):
    path = make_tiny_checkpoint(tmp_path / "run", steps=3, seed=1)
    assert path.name == "step-0000003"
    assert list_checkpoints(tmp_path / "run") == [path]
    assert list_checkpoints(tmp_path / "run" / "checkpoints") == [path]
    ema = load_checkpoint(tmp_path / "run")
    online = load_checkpoint(path, weights="online")
    assert ema.step == 3 and ema.prediction_type == "v_prediction" and ema.channels == 1
    assert ema.betas.dtype == torch.float64 and ema.betas.shape == (ema.num_train_timesteps,)
    assert ema.image_size_px == 32 and not ema.model.training
    assert ema.checkpoint_id != online.checkpoint_id and len(ema.checkpoint_id) == 64
    out = ema.model(torch.zeros(2, 1, 32, 32), torch.tensor([1, 2])).sample
    assert out.shape == (2, 1, 32, 32)
    assert load_training_state(path)["step"] == 3
    assert load_checkpoint(path / "ema.safetensors").checkpoint_id == ema.checkpoint_id


def test_same_seed_same_weights(tmp_path):
    a = load_checkpoint(make_tiny_checkpoint(tmp_path / "a", seed=4))
    b = load_checkpoint(make_tiny_checkpoint(tmp_path / "b", seed=4))
    c = load_checkpoint(make_tiny_checkpoint(tmp_path / "c", seed=5))
    assert a.checkpoint_id == b.checkpoint_id != c.checkpoint_id


def test_listing_sorted_and_ignores_partial(tmp_path):
    for step in (20, 3, 100):
        make_tiny_checkpoint(tmp_path, steps=step)
    (tmp_path / "checkpoints" / ".tmp-step-0000200-x").mkdir()  # left by a killed save
    (tmp_path / "checkpoints" / "step-0000300").mkdir()  # incomplete, e.g. hand-made
    assert [p.name for p in list_checkpoints(tmp_path)] == [
        "step-0000003", "step-0000020", "step-0000100",
    ]  # fmt: skip
    assert load_checkpoint(tmp_path).step == 100


def test_failure_mid_save_keeps_latest(tmp_path, monkeypatch):
    first = make_tiny_checkpoint(tmp_path, steps=2)
    loaded = load_checkpoint(first)

    def broken_save(obj, path):  # the weights are written already when state.pt fails
        path.write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(ckpt_mod.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(tmp_path, 4, model=loaded.model, ema=loaded.model, state={}, config={})
    assert list_checkpoints(tmp_path) == [first]
    assert not [p for p in (tmp_path / "checkpoints").iterdir() if p.name.startswith(".")]
    assert load_checkpoint(tmp_path).step == 2


def test_missing_and_corrupt(tmp_path):
    with pytest.raises(RadsynthError, match="not found"):
        load_checkpoint(tmp_path / "nope")
    with pytest.raises(RadsynthError, match="no complete checkpoint"):
        load_checkpoint(tmp_path)
    path = make_tiny_checkpoint(tmp_path)
    with pytest.raises(RadsynthError, match="weights must be"):
        load_checkpoint(path, weights="best")
    (path / "ema.safetensors").write_bytes(b"\x00" * 10)
    with pytest.raises(RadsynthError, match="corrupt"):
        load_checkpoint(path)
    (path / "config.json").write_text("{")
    with pytest.raises(RadsynthError, match="checkpoint config .* is not valid JSON"):
        load_checkpoint(path)
