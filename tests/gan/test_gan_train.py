"""radsynth train-gan on a tiny preset: checkpoints, classes, determinism, resume, NaN stop."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from gan_helpers import tiny_config

from radsynth.cli import main
from radsynth.errors import RadsynthError
from radsynth.gan.checkpoint import DISCRIMINATOR_FILE, FORMAT, load_gan_checkpoint
from radsynth.gan.train import train_gan
from radsynth.stage import sha256_file
from radsynth.training.checkpoint import list_checkpoints

WEIGHTS = ("model.safetensors", "ema.safetensors", DISCRIMINATOR_FILE)


def test_trains_and_writes_gan_checkpoints(gan_run):
    found = list_checkpoints(gan_run)
    assert [p.name for p in found] == ["step-0000002", "step-0000004"]
    meta = json.loads((found[-1] / "config.json").read_text())
    assert meta["format"] == FORMAT and meta["step"] == 4
    assert "diffusion" not in meta and "train" not in meta  # no diffusion setting leaks in
    assert all((found[-1] / f).is_file() for f in (*WEIGHTS, "state.pt"))
    with open(gan_run / "losses.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["step"] for r in rows] == ["2", "4"]
    assert set(rows[0]) == {"step", "kimg", "loss_d", "adversarial_d", "r1", "r2", "loss_g"}
    assert all(float(r["loss_g"]) > 0 and float(r["r1"]) >= 0 for r in rows)
    manifest = json.loads((gan_run / "manifest.json").read_text())
    assert manifest["stage"] == "train-gan" and manifest["images_seen"] == 16


def test_class_names_and_average_latents_round_trip(gan_run):
    loaded = load_gan_checkpoint(gan_run)
    assert loaded.config["classes"] == {"columns": ["label"], "names": ["bright", "dark"]}
    assert loaded.shape.num_classes == 2
    assert loaded.w_avg.shape == (2, loaded.shape.latent_dim)
    assert not torch.allclose(loaded.w_avg[0], loaded.w_avg[1])
    online = load_gan_checkpoint(gan_run, weights="online")
    assert online.checkpoint_id != loaded.checkpoint_id


def test_same_seed_same_weights_other_seed_other_weights(gan_data, gan_run, tmp_path):
    train_gan(tiny_config(gan_data, tmp_path / "again", condition_on=("label",)))
    train_gan(tiny_config(gan_data, tmp_path / "other", condition_on=("label",), seed=1))
    a, b = list_checkpoints(gan_run)[-1], list_checkpoints(tmp_path / "again")[-1]
    c = list_checkpoints(tmp_path / "other")[-1]
    for name in WEIGHTS:
        assert sha256_file(a / name) == sha256_file(b / name)
    assert sha256_file(a / "ema.safetensors") != sha256_file(c / "ema.safetensors")


def test_resume_reproduces_the_uninterrupted_weights(gan_data, gan_run, tmp_path):
    out = tmp_path / "split"
    train_gan(tiny_config(gan_data, out, condition_on=("label",), total_kimg=0.008))
    assert [p.name for p in list_checkpoints(out)] == ["step-0000002"]
    train_gan(tiny_config(gan_data, out, condition_on=("label",), resume=True))
    a, b = list_checkpoints(gan_run)[-1], list_checkpoints(out)[-1]
    for name in WEIGHTS:
        assert sha256_file(a / name) == sha256_file(b / name), name
    assert (out / "losses.csv").read_text() == (gan_run / "losses.csv").read_text()


def test_resume_refuses_a_changed_setting(gan_data, gan_run, tmp_path):
    out = tmp_path / "run"
    train_gan(tiny_config(gan_data, out, condition_on=("label",), total_kimg=0.008))
    with pytest.raises(RadsynthError, match="cannot resume.*gamma"):
        train_gan(tiny_config(gan_data, out, condition_on=("label",), resume=True, gamma=9.0))


def test_nan_loss_stops_and_keeps_last_good_checkpoint(gan_data, tmp_path):
    out = tmp_path / "run"
    # lr 100 keeps the weights finite for one step and blows the losses up at the second.
    with pytest.raises(RadsynthError, match="loss became NaN/inf") as info:
        train_gan(tiny_config(gan_data, out, lr=1e2, total_kimg=0.16, checkpoint_every_steps=1))
    assert "\n" not in str(info.value)
    good = list_checkpoints(out)
    assert good and "last good checkpoint" in str(info.value)
    for weights in ("ema", "online"):
        g = load_gan_checkpoint(good[-1], weights=weights).generator
        assert all(torch.isfinite(p).all() for p in g.parameters())


def test_cli_trains_and_refuses_a_diffusion_flag(gan_data, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["train-gan", str(gan_data), str(out), "--preset", "tiny", "--device", "cpu"]) == 0
    assert list_checkpoints(out)
    with pytest.raises(SystemExit):  # argparse: exit status 2, one line
        main(["train-gan", str(gan_data), str(tmp_path / "x"), "--uncond-prob", "0.1"])
    assert not (tmp_path / "x").exists()


def test_each_family_refuses_the_others_checkpoint(gan_run, tiny_ckpt):
    from radsynth.training.checkpoint import load_checkpoint

    with pytest.raises(RadsynthError, match="not a radsynth-ddpm-checkpoint.*gan"):
        load_checkpoint(gan_run)
    with pytest.raises(RadsynthError, match="not a radsynth-gan-checkpoint.*ddpm"):
        load_gan_checkpoint(tiny_ckpt)
