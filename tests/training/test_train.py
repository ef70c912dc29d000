"""The training stage end to end on the tiny preset: outputs, determinism, exact resume, errors."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import torch
from fake_runs import make_fake_ingest

from radsynth.cli import main
from radsynth.config import build_config
from radsynth.errors import RadsynthError
from radsynth.stage import sha256_file
from radsynth.training.checkpoint import list_checkpoints, load_checkpoint, load_training_state
from radsynth.training.config import TrainConfig
from radsynth.training.train import train

FAST = {"preset": "tiny", "cpu_threads": 1}


def run(data: Path, out: Path, **overrides) -> None:
    train(build_config(TrainConfig, {"data": data, "out": out, **FAST, **overrides}))


def rows(out: Path) -> list[dict[str, str]]:
    with open(out / "losses.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_cli_smoke_writes_every_output(fake_ingest, tmp_path, capsys):
    out = tmp_path / "train"
    assert (
        main(["train", str(fake_ingest), str(out), "--preset", "tiny", "--cpu-threads", "1"]) == 0
    )
    assert "trained 4 steps" in capsys.readouterr().out
    assert [p.name for p in list_checkpoints(out)] == ["step-0000002", "step-0000004"]
    table = rows(out)
    assert list(table[0]) == ["step", "train_loss", "val_loss"]
    assert [r["step"] for r in table] == ["2", "4"]
    assert all(math.isfinite(float(r[k])) for r in table for k in ("train_loss", "val_loss"))
    assert (out / "loss_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert any((out / "tb").iterdir())
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stage"] == "train" and manifest["complete"] is True
    assert manifest["final_step"] == 4 and len(manifest["inputs"]) == 17  # csv + 16 images
    loaded = load_checkpoint(out)
    assert loaded.step == 4 and loaded.config["train"]["preset"] == "tiny"
    state = load_training_state(list_checkpoints(out)[-1])
    assert state["data_position"] == 4 * 4 and len(state["history"]) == 2
    # EMA and online weights are both saved, and differ after training.
    assert loaded.checkpoint_id != load_checkpoint(out, weights="online").checkpoint_id


def test_same_seed_same_run_other_seed_differs(fake_ingest, tmp_path):
    run(fake_ingest, tmp_path / "a", total_steps=2)
    run(fake_ingest, tmp_path / "b", total_steps=2)
    run(fake_ingest, tmp_path / "c", total_steps=2, seed=1)
    a, b, c = (rows(tmp_path / k) for k in "abc")
    assert a == b and a != c


def test_resume_is_bit_identical(fake_ingest, tmp_path):
    run(fake_ingest, tmp_path / "straight", total_steps=6, checkpoint_every_steps=3, hflip=True)
    run(fake_ingest, tmp_path / "split", total_steps=3, checkpoint_every_steps=3, hflip=True)
    run(fake_ingest, tmp_path / "split", total_steps=6, checkpoint_every_steps=3, hflip=True,
        resume=True)  # fmt: skip
    assert json.loads((tmp_path / "split" / "manifest.json").read_text())["complete"] is True
    a, b = list_checkpoints(tmp_path / "straight")[-1], list_checkpoints(tmp_path / "split")[-1]
    assert a.name == b.name == "step-0000006"
    for name in ("model.safetensors", "ema.safetensors"):
        assert sha256_file(a / name) == sha256_file(b / name), name
    sa, sb = load_training_state(a), load_training_state(b)
    for k in ("exp_avg", "exp_avg_sq"):
        assert all(
            torch.equal(sa["optimizer"]["state"][i][k], sb["optimizer"]["state"][i][k])
            for i in sa["optimizer"]["state"]
        )
    assert rows(tmp_path / "straight") == rows(tmp_path / "split")


def test_resume_with_incompatible_config_is_one_line(fake_ingest, tmp_path, capsys):
    out = tmp_path / "run"
    run(fake_ingest, out, total_steps=2)
    capsys.readouterr()
    code = main(
        ["train", str(fake_ingest), str(out), "--preset", "tiny", "--resume", "--lr", "0.5"]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and "cannot resume" in err and "lr" in err and "\n" not in err
    # Without --resume a used folder is refused, and nothing in it is touched.
    before = sha256_file(list_checkpoints(out)[-1] / "ema.safetensors")
    assert main(["train", str(fake_ingest), str(out), "--preset", "tiny"]) == 2
    assert sha256_file(list_checkpoints(out)[-1] / "ema.safetensors") == before


def test_nan_loss_stops_and_keeps_last_good_checkpoint(fake_ingest, tmp_path):
    out = tmp_path / "run"
    # An absurd learning rate blows the weights up within a few steps.
    with pytest.raises(RadsynthError, match=r"loss became (nan|inf)") as info:
        run(fake_ingest, out, lr=1e30, total_steps=40, checkpoint_every_steps=1)
    assert "\n" not in str(info.value)
    good = list_checkpoints(out)
    assert good and "last good checkpoint" in str(info.value)
    model = load_checkpoint(good[-1], weights="online").model
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_bad_inputs_are_one_line_errors(tmp_path, capsys):
    out = str(tmp_path / "out")
    empty = tmp_path / "empty"
    empty.mkdir()
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "a.png").write_bytes(b"")
    mixed = make_fake_ingest(tmp_path / "mixed", n_train=2, n_val=1)
    make_fake_ingest(tmp_path / "big", n_train=1, n_val=0, size_px=64)
    (tmp_path / "big" / "train" / "000000.png").rename(mixed / "train" / "000001.png")
    cases = {
        "not found": [str(tmp_path / "missing"), out],
        "is empty": [str(empty), out],
        "not written by radsynth ingest": [str(foreign), out],
        "mismatched image size": [str(mixed), out],
    }
    for expected, argv in cases.items():
        code = main(["train", *argv, "--preset", "tiny"])
        err = capsys.readouterr().err.strip()
        assert code == 2 and expected in err and "\n" not in err, (expected, err)
    config = tmp_path / "c.yaml"
    for text, expected in [
        ("preset: tiny\nlearning_rate: 0.1\n", "unknown config key(s) learning_rate"),
        ("preset: huge\n", "unknown preset 'huge'"),
        ("preset: tiny\nnorm_groups: 3\n", "norm_groups=3 must divide every block channel"),
    ]:
        config.write_text(text)
        assert main(["train", str(mixed), out, "--config", str(config)]) == 2
        assert expected in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:  # argparse rejects a bad --preset itself, status 2
        main(["train", str(mixed), out, "--preset", "huge"])
    assert info.value.code == 2 and "invalid choice: 'huge'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
