"""Stable Diffusion fine-tuning on a tiny random SD folder (tests/latent/sd_helpers.py): one
training step, then sampling with a prompt and guidance; LoRA; and the refusals. The network
is blocked (tests/latent/conftest.py), so nothing can download."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from fake_runs import make_disc_ingest
from latent_helpers import assert_throughput_rows
from PIL import Image
from safetensors.torch import load_file
from sd_helpers import make_tiny_sd_folder

from radsynth.cli import main
from radsynth.config import build_config
from radsynth.errors import RadsynthError
from radsynth.sampling.config import SampleConfig
from radsynth.sampling.sample import sample
from radsynth.stage import sha256_file
from radsynth.training.checkpoint import list_checkpoints
from radsynth.training.config import TrainConfig
from radsynth.training.train import train

PROMPT = "a chest x-ray showing {label}"


@pytest.fixture(scope="module")
def sd_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_sd_folder(tmp_path_factory.mktemp("sd") / "sd")


@pytest.fixture(scope="module")
def discs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 train + 2 val discs labelled bright/dark, 32 px."""
    return make_disc_ingest(tmp_path_factory.mktemp("discs") / "data", {"train": 8, "val": 2})


def sd_config(data: Path, out: Path, sd: Path, **overrides) -> TrainConfig:
    base = {"data": data, "out": out, "preset": "tiny", "cpu_threads": 1, "init_from": sd}
    return build_config(TrainConfig, {**base, "prompt": PROMPT, "total_steps": 1, **overrides})


def sample_config(ckpt: Path, out: Path, **overrides) -> SampleConfig:
    base = {"ckpt": ckpt, "out": out, "n": 2, "steps": 3, "device": "cpu"}
    return build_config(SampleConfig, {**base, "label": "dark", "guidance": 2.0, **overrides})


@pytest.fixture(scope="module")
def sd_run(discs: Path, sd_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sd-run") / "train"
    train(sd_config(discs, out, sd_folder))
    return out


def test_one_step_then_sampling_with_a_prompt_and_guidance(sd_run, sd_folder, tmp_path):
    (ckpt,) = list_checkpoints(sd_run)
    meta = json.loads((ckpt / "config.json").read_text())
    assert meta["prompts"] == ["a chest x-ray showing bright", "a chest x-ray showing dark", ""]
    unet = load_file(sd_folder / "unet" / "diffusion_pytorch_model.safetensors")
    tuned = load_file(ckpt / "model.safetensors")
    assert tuned.keys() == unet.keys()  # the whole UNet was fine-tuned ...
    assert any(not torch.equal(tuned[k], unet[k]) for k in unet)  # ... and moved
    sample(sample_config(sd_run, tmp_path / "b1", batch=1))
    sample(sample_config(sd_run, tmp_path / "b2", batch=2))
    for seed in range(2):
        name = f"{seed:06d}.png"
        with Image.open(tmp_path / "b1" / name) as a, Image.open(tmp_path / "b2" / name) as b:
            assert a.size == (32, 32) and a.mode == "L"  # grey, at the films' size
            assert np.array_equal(np.asarray(a), np.asarray(b))
        side = json.loads((tmp_path / "b1" / "meta" / f"{seed:06d}.json").read_text())
        assert side["label"] == "dark" and side["guidance"] == 2.0
    record = json.loads((tmp_path / "b1" / "sampling.json").read_text())
    assert record["prompts"][1] == "a chest x-ray showing dark"


def test_the_same_seed_gives_the_same_weights(sd_run, discs, sd_folder, tmp_path):
    train(sd_config(discs, tmp_path / "again", sd_folder))
    name = "step-0000001/model.safetensors"
    again = sha256_file(tmp_path / "again" / "checkpoints" / name)
    assert again == sha256_file(sd_run / "checkpoints" / name)


def test_fine_tuning_records_its_speed_and_peak_memory_per_checkpoint(discs, sd_folder, tmp_path):
    out = tmp_path / "speed"
    train(sd_config(discs, out, sd_folder, total_steps=3, checkpoint_every_steps=2))
    assert_throughput_rows(out, [2, 3])


def test_lora_trains_adapters_only_and_samples(discs, sd_folder, tmp_path):
    pytest.importorskip("peft", reason="the lora extra (peft) is not installed")
    before = sha256_file(sd_folder / "unet" / "diffusion_pytorch_model.safetensors")
    out = tmp_path / "lora"
    train(sd_config(discs, out, sd_folder, lora_rank=2, grad_accum_steps=2))
    tuned = load_file(list_checkpoints(out)[-1] / "model.safetensors")
    assert tuned and all(".lora_" in k for k in tuned)
    assert sha256_file(sd_folder / "unet" / "diffusion_pytorch_model.safetensors") == before
    sample(sample_config(out, tmp_path / "samples", n=1))
    assert (tmp_path / "samples" / "000000.png").is_file()


def one_line_refusal(args: list[str], capsys) -> str:
    assert main(args) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_refusals_are_one_line_and_write_nothing(discs, sd_folder, tmp_path, capsys):
    out = tmp_path / "out"
    base = ["train", str(discs), str(out), "--preset", "tiny", "--cpu-threads", "1"]
    no_tokenizer = tmp_path / "no-tokenizer"
    shutil.copytree(sd_folder, no_tokenizer, ignore=shutil.ignore_patterns("tokenizer"))
    err = one_line_refusal([*base, "--init-from", str(no_tokenizer)], capsys)
    assert "has no tokenizer/ folder" in err
    xl = tmp_path / "xl"
    shutil.copytree(sd_folder, xl)
    index = json.loads((xl / "model_index.json").read_text())
    (xl / "model_index.json").write_text(
        json.dumps({**index, "_class_name": "StableDiffusionXLPipeline"})
    )
    assert "Stable Diffusion XL" in one_line_refusal([*base, "--init-from", str(xl)], capsys)
    prompt = ["--init-from", str(sd_folder), "--prompt", "a chest x-ray showing {finding}"]
    err = one_line_refusal([*base, *prompt], capsys)
    assert "no label column 'finding'" in err
    err = one_line_refusal([*base, "--init-from", str(sd_folder), "--hflip"], capsys)
    assert "--hflip cannot be used with --init-from" in err
    assert not out.exists()


def test_sampling_refuses_a_changed_sd_folder(discs, sd_folder, tmp_path):
    sd = tmp_path / "sd"
    shutil.copytree(sd_folder, sd)
    run = tmp_path / "train"
    train(sd_config(discs, run, sd))
    config = sd / "scheduler" / "scheduler_config.json"
    config.write_text(config.read_text().replace('"epsilon"', '"v_prediction"'))
    with pytest.raises(RadsynthError, match="changed since"):
        sample(sample_config(run, tmp_path / "changed"))
    shutil.rmtree(sd)
    with pytest.raises(RadsynthError, match="is gone"):
        sample(sample_config(run, tmp_path / "gone"))
    assert not (tmp_path / "changed").exists() and not (tmp_path / "gone").exists()


def test_prompt_templates(discs, tmp_path):
    from radsynth.training.sd_folder import prompt_classes

    manifest = discs / "manifest.csv"
    spec, labels, prompts = prompt_classes(manifest, "a chest x-ray")
    assert spec.names == ("",) and prompts == ["a chest x-ray", ""]
    assert labels["train"].tolist() == [0] * 8
    spec, labels, prompts = prompt_classes(manifest, "{label} {label} x-ray")
    assert spec.names == ("bright", "dark") and prompts[1] == "dark dark x-ray"
    assert labels["train"].tolist() == [0, 1] * 4 and labels["val"].tolist() == [0, 1]
    for bad in ("a {label", "a {label.upper}"):
        with pytest.raises(RadsynthError, match="--prompt"):
            prompt_classes(manifest, bad)
