"""train --autoencoder and sample of a latent checkpoint, on the tiny presets (32 px films,
8x8x3 latents): the cache, the seeded draws, determinism, resume, the refusals, and
batch 1 == batch 4 in decoded PNGs. The network is blocked (tests/latent/conftest.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from fake_runs import make_disc_ingest, make_fake_ingest
from latent_helpers import assert_throughput_rows
from PIL import Image
from safetensors.torch import load_file, save_file

from radsynth.cli import main
from radsynth.config import build_config
from radsynth.errors import RadsynthError
from radsynth.layout import latent_cache
from radsynth.sampling.config import SampleConfig
from radsynth.sampling.sample import sample
from radsynth.stage import sha256_file
from radsynth.training.autoencoder_checkpoint import AE_FILE, list_checkpoints, load_autoencoder
from radsynth.training.checkpoint import read_checkpoint_config
from radsynth.training.config import TrainConfig
from radsynth.training.data import load_ingest
from radsynth.training.latent_data import (
    LatentSet,
    build_cache,
    cache_key,
    latent_generator,
    read_cache,
)
from radsynth.training.train import train

FAST = {"preset": "tiny", "cpu_threads": 1}


def latent_config(data: Path, out: Path, ae: Path, **overrides) -> TrainConfig:
    return build_config(
        TrainConfig, {"data": data, "out": out, "autoencoder": ae, **FAST, **overrides}
    )


def unet_weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(sorted((run / "checkpoints").iterdir())[-1] / "model.safetensors")


@pytest.fixture(scope="module")
def latent_run(ingest_32: Path, tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One finished tiny latent diffusion run on the tiny autoencoder (read-only by tests)."""
    out = tmp_path_factory.mktemp("latent-diffusion") / "train"
    train(latent_config(ingest_32, out, tiny_run))
    return out


def test_checkpoint_records_the_autoencoder_and_learns_its_latents(latent_run, tiny_run):
    meta = read_checkpoint_config(sorted((latent_run / "checkpoints").iterdir())[-1])
    ae_folder = list_checkpoints(tiny_run)[-1]
    record = meta["autoencoder"]
    assert record["sha256"] == sha256_file(ae_folder / AE_FILE)
    assert Path(record["path"]) == ae_folder.resolve()
    assert record["scale_factor"] == load_autoencoder(tiny_run).scale_factor
    assert (meta["model"]["channels"], meta["model"]["image_size_px"]) == (3, 8)
    manifest = json.loads((latent_run / "manifest.json").read_text())
    assert manifest["space"] == "latent" and manifest["complete"] is True
    assert latent_cache(latent_run).is_file()


def test_cache_holds_the_posterior_of_every_film(latent_run, tiny_run, ingest_32):
    ae, data = load_autoencoder(tiny_run), load_ingest(ingest_32, 32)
    cached = read_cache(latent_cache(latent_run), cache_key(ae, data))
    mean, std = ae.encode_moments(data.train[:3].float() * 2 - 1)
    torch.testing.assert_close(cached["train_mean"][:3], mean, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(cached["train_std"][:3], std, rtol=1e-5, atol=1e-6)
    assert cached["train_mean"].shape == (12, 3, 8, 8) and cached["val_mean"].shape == (4, 3, 8, 8)


def test_a_stale_cache_is_rebuilt_and_a_current_one_read(latent_run, tiny_run, ingest_32, tmp_path):
    ae, data = load_autoencoder(tiny_run), load_ingest(ingest_32, 32)
    run = tmp_path / "run"
    shutil.copytree(latent_run, run)
    path = latent_cache(run)
    before = path.stat().st_mtime_ns
    assert build_cache(run, ae, data, torch.device("cpu")) is False  # current: read
    assert path.stat().st_mtime_ns == before
    # Another autoencoder's cache (its key differs) with wrong values: rebuilt, never read.
    tensors = {k: torch.zeros_like(v) for k, v in load_file(path).items()}
    save_file(tensors, path, metadata={"key": "ae=another;data=same"})
    assert read_cache(path, cache_key(ae, data)) is None
    assert build_cache(run, ae, data, torch.device("cpu")) is True
    rebuilt = read_cache(path, cache_key(ae, data))
    assert rebuilt is not None and rebuilt["train_std"].min() > 0
    path.write_bytes(b"truncated")  # unreadable: rebuilt too
    assert build_cache(run, ae, data, torch.device("cpu")) is True


def test_latent_draws_depend_on_stream_position_only():
    gen = torch.Generator().manual_seed(0)
    mean, std = torch.randn(5, 3, 4, 4, generator=gen), torch.rand(5, 3, 4, 4, generator=gen)
    latents = LatentSet(mean, std, mean[:2], scale_factor=0.5)
    pair = latents.train_batch(torch.tensor([1, 3]), first_position=10, seed=7)
    alone = latents.train_batch(torch.tensor([3]), first_position=11, seed=7)
    torch.testing.assert_close(pair[1:], alone, rtol=0, atol=0)
    eps = torch.randn((3, 4, 4), generator=latent_generator(7, 10))
    torch.testing.assert_close(pair[0], 0.5 * (mean[1] + std[1] * eps))
    torch.randn(10)  # the global RNG plays no part
    again = latents.train_batch(torch.tensor([1, 3]), first_position=10, seed=7)
    assert torch.equal(again, pair)
    assert not torch.equal(latents.train_batch(torch.tensor([1, 3]), 10, seed=8), pair)


def test_same_seed_same_weights_and_resume_is_exact(latent_run, ingest_32, tiny_run, tmp_path):
    train(latent_config(ingest_32, tmp_path / "again", tiny_run))
    a, b = unet_weights(tmp_path / "again"), unet_weights(latent_run)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    split = tmp_path / "split"
    train(latent_config(ingest_32, split, tiny_run, total_steps=2))
    train(latent_config(ingest_32, split, tiny_run, total_steps=4, resume=True))
    c = unet_weights(split)
    assert all(torch.equal(c[k], b[k]) for k in b)
    assert (split / "losses.csv").read_text() == (latent_run / "losses.csv").read_text()
    assert_throughput_rows(split, [2, 4])  # the first run's row survives the resume


def test_a_latent_run_records_its_speed_and_peak_memory_per_checkpoint(latent_run):
    assert_throughput_rows(latent_run, [2, 4])


def run_cli(args: list[str], capsys) -> str:
    code = main(args)
    err = capsys.readouterr().err.strip()
    assert code != 0 and len(err.splitlines()) == 1, err
    return err


def test_refusals_are_one_line_and_write_nothing(tiny_run, tmp_path, capsys):
    big = make_fake_ingest(tmp_path / "data64", size_px=64)
    out = tmp_path / "out"
    base = ["train", str(big), str(out), "--preset", "tiny", "--cpu-threads", "1"]
    err = run_cli([*base, "--image-size-px", "64", "--autoencoder", str(tiny_run)], capsys)
    assert "trained at 32 px, not 64 px" in err
    small = make_fake_ingest(tmp_path / "data32")
    base = ["train", str(small), str(out), "--preset", "tiny", "--cpu-threads", "1"]
    first = list_checkpoints(tiny_run)[0]  # saved before the run ended: no scale factor
    assert "no latent scale factor" in run_cli([*base, "--autoencoder", str(first)], capsys)
    err = run_cli([*base, "--autoencoder", str(tiny_run), "--hflip"], capsys)
    assert "--hflip cannot be used with --autoencoder" in err
    assert "not found" in run_cli([*base, "--autoencoder", str(tmp_path / "nowhere")], capsys)
    assert not out.exists()


def sample_config(ckpt: Path, out: Path, **overrides) -> SampleConfig:
    return build_config(
        SampleConfig, {"ckpt": ckpt, "out": out, "n": 4, "steps": 4, "device": "cpu", **overrides}
    )


def test_batch_1_and_batch_4_give_identical_decoded_pngs(latent_run, tiny_run, tmp_path):
    sample(sample_config(latent_run, tmp_path / "b1", batch=1))
    sample(sample_config(latent_run, tmp_path / "b4", batch=4))
    for seed in range(4):
        name = f"{seed:06d}.png"
        with Image.open(tmp_path / "b1" / name) as a, Image.open(tmp_path / "b4" / name) as b:
            assert a.size == (32, 32) and a.mode == "L"  # the decoded film, not the latent
            assert np.array_equal(np.asarray(a), np.asarray(b))
        assert (tmp_path / "b1" / "meta" / f"{seed:06d}.json").is_file()
    record = json.loads((tmp_path / "b1" / "sampling.json").read_text())
    assert record["decoded_size_px"] == 32 and record["clip_x0"] is False
    assert record["autoencoder"]["sha256"] == sha256_file(list_checkpoints(tiny_run)[-1] / AE_FILE)
    this_run = json.loads((tmp_path / "b4" / "manifest.json").read_text())["this_run"]
    assert this_run["images"] == 4 and this_run["seconds_per_image"] > 0
    assert this_run["peak_memory_gib"] > 0 and this_run["peak_memory_source"] == "cpu_peak_rss"


def test_sampling_refuses_a_missing_or_changed_autoencoder(ingest_32, tiny_run, tmp_path):
    ae = tmp_path / "ae"
    shutil.copytree(tiny_run, ae)
    run = tmp_path / "train"
    train(latent_config(ingest_32, run, ae, total_steps=2))
    with pytest.raises(RadsynthError, match="latents exceed it"):
        sample(sample_config(run, tmp_path / "clip", clip_x0=True))
    weights_file = list_checkpoints(ae)[-1] / AE_FILE
    changed = {k: v + 0.01 for k, v in load_file(weights_file).items()}
    save_file(changed, weights_file)
    with pytest.raises(RadsynthError, match="has changed since this latent model was trained"):
        sample(sample_config(run, tmp_path / "changed"))
    shutil.rmtree(ae)
    with pytest.raises(RadsynthError, match="autoencoder cannot be loaded") as info:
        sample(sample_config(run, tmp_path / "missing"))
    assert len(str(info.value).splitlines()) == 1
    assert not (tmp_path / "changed").exists() and not (tmp_path / "missing").exists()


def test_class_conditional_latent_model_samples_with_guidance(tiny_run, tmp_path):
    discs = make_disc_ingest(tmp_path / "discs", {"train": 8, "val": 2})
    run = tmp_path / "train"
    train(latent_config(discs, run, tiny_run, total_steps=2, condition_on=("label",)))
    out = tmp_path / "samples"
    sample(sample_config(run, out, n=2, label="bright", guidance=2.0))
    side = json.loads((out / "meta" / "000001.json").read_text())
    assert side["label"] == "bright" and side["guidance"] == 2.0
    with Image.open(out / "000001.png") as img:
        assert img.size == (32, 32)


def test_resume_refuses_a_changed_autoencoder(ingest_32, tiny_run, tmp_path):
    ae = tmp_path / "ae"
    shutil.copytree(tiny_run, ae)
    run = tmp_path / "train"
    train(latent_config(ingest_32, run, ae, total_steps=2))
    weights_file = list_checkpoints(ae)[-1] / AE_FILE
    save_file({k: v * 1.01 for k, v in load_file(weights_file).items()}, weights_file)
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    with pytest.raises(RadsynthError, match="changed since its checkpoints") as info:
        train(latent_config(ingest_32, run, ae, total_steps=4, resume=True))
    assert len(str(info.value).splitlines()) == 1
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before
