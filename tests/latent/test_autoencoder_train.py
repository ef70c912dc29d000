"""train-autoencoder end to end on the tiny preset: outputs, scale factor, determinism, resume,
the report, and each bad input refused in one line with nothing written."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch
from latent_helpers import assert_throughput_rows, tiny_config
from PIL import Image
from safetensors.torch import load_file, save_file

from radsynth.cli import main
from radsynth.errors import RadsynthError
from radsynth.latent.perceptual import PerceptualNet
from radsynth.latent.train import SCALE_SEED, latent_scale_factor, train_autoencoder
from radsynth.models.autoencoder import draw_latent
from radsynth.training.autoencoder_checkpoint import (
    AE_FILE,
    list_checkpoints,
    load_autoencoder,
    read_config,
)
from radsynth.training.data import load_ingest


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(list_checkpoints(run)[-1] / AE_FILE)


def same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_run_writes_checkpoints_losses_and_manifest(tiny_run):
    assert [p.name for p in list_checkpoints(tiny_run)] == ["step-0000002", "step-0000004"]
    lines = (tiny_run / "losses.csv").read_text().splitlines()
    assert lines[0] == "step,rec,kl,g_adv,adaptive_weight,d_loss,val_rec" and len(lines) == 3
    last = dict(zip(lines[0].split(","), map(float, lines[2].split(",")), strict=True))
    assert last["adaptive_weight"] > 0 and last["d_loss"] > 0  # the discriminator acted
    manifest = json.loads((tiny_run / "manifest.json").read_text())
    assert manifest["stage"] == "train-autoencoder" and manifest["complete"] is True
    assert manifest["final_step"] == 4


def test_round_trip_and_stored_scale_factor(tiny_run, ingest_32):
    ae = load_autoencoder(tiny_run, expect_size_px=32, expect_channels=1)
    x = load_ingest(ingest_32, 32).train.float() * 2 - 1  # (12, 1, 32, 32)
    mean, std = ae.encode_moments(x)
    assert mean.shape == (12, 3, 8, 8) and ae.decode(mean).shape == (12, 1, 32, 32)
    # The training latents, drawn with the documented per-image seeds, and their 1 / std.
    z = torch.cat(
        [
            draw_latent(
                mean[i : i + 1], std[i : i + 1], torch.Generator().manual_seed(SCALE_SEED + i)
            )
            for i in range(len(x))
        ]
    )
    assert ae.scale_factor == pytest.approx(1 / z.double().std().item(), rel=1e-5)
    assert read_config(list_checkpoints(tiny_run)[-1])["scale_factor"] == ae.scale_factor
    assert read_config(list_checkpoints(tiny_run)[0])["scale_factor"] is None


def test_report_files(tiny_run):
    report = json.loads((tiny_run / "recon.json").read_text())
    assert report["n_images"] == 4 and report["feature"] == "pixels"
    assert math.isfinite(report["psnr_db"]) and -1 <= report["ssim"] <= 1
    assert math.isfinite(report["fid"]) and math.isfinite(report["kid_mean"])
    with Image.open(tiny_run / "recon_sheet.png") as sheet:
        assert sheet.size == (4 * 32, 2 * 32)  # 4 originals over their 4 reconstructions
    assert len(list((tiny_run / "recon" / "reconstruction").glob("*.png"))) == 4


def test_same_seed_same_weights_other_seed_other(tiny_run, ingest_32, tmp_path):
    train_autoencoder(tiny_config(ingest_32, tmp_path / "again"))
    assert same_weights(weights(tmp_path / "again"), weights(tiny_run))
    train_autoencoder(tiny_config(ingest_32, tmp_path / "seed1", seed=1, total_steps=2))
    assert not same_weights(
        weights(tmp_path / "seed1"), load_file(list_checkpoints(tiny_run)[0] / AE_FILE)
    )


def test_resume_reproduces_the_uninterrupted_run(tiny_run, ingest_32, tmp_path):
    out = tmp_path / "resumed"
    train_autoencoder(tiny_config(ingest_32, out, total_steps=2))
    assert [p.name for p in list_checkpoints(out)] == ["step-0000002"]
    train_autoencoder(tiny_config(ingest_32, out, total_steps=4, resume=True))
    assert same_weights(weights(out), weights(tiny_run))
    assert (out / "losses.csv").read_text() == (tiny_run / "losses.csv").read_text()
    assert_throughput_rows(out, [2, 4])  # the first run's row survives the resume


def test_run_records_its_speed_and_peak_memory_per_checkpoint(tiny_run):
    assert_throughput_rows(tiny_run, [2, 4])


def test_cli_smoke(ingest_32, tmp_path, capsys):
    out = tmp_path / "cli"
    args = ["train-autoencoder", str(ingest_32), str(out), "--preset", "tiny", "--total-steps", "2"]
    assert main([*args, "--cpu-threads", "1"]) == 0
    assert "trained a factor-4 autoencoder for 2 steps" in capsys.readouterr().out


def test_refuses_another_size_or_channel_count(tiny_run):
    with pytest.raises(RadsynthError, match="trained at 32 px, not 64 px"):
        load_autoencoder(tiny_run, expect_size_px=64, expect_channels=1)
    with pytest.raises(RadsynthError, match="1 channels, not 3"):
        load_autoencoder(tiny_run, expect_size_px=32, expect_channels=3)


def test_refuses_a_run_without_scale_factor(tiny_run):
    with pytest.raises(RadsynthError, match="no latent scale factor"):
        load_autoencoder(list_checkpoints(tiny_run)[0])


def test_missing_ingest_folder_writes_nothing(tmp_path):
    with pytest.raises(RadsynthError, match="data folder not found"):
        train_autoencoder(tiny_config(tmp_path / "nowhere", tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_preset_size_mismatch_is_one_line(ingest_32, tmp_path, capsys):
    # f8 at 24 px would leave a 3 px latent; tiny (factor 4) cannot take 30 px.
    for args in (
        ["--preset", "f8", "--image-size-px", "24"],
        ["--preset", "tiny", "--image-size-px", "30"],
    ):
        code = main(["train-autoencoder", str(ingest_32), str(tmp_path / "out"), *args])
        err = capsys.readouterr().err.strip()
        assert code != 0 and "does not fit" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("file", "message"),
    [(AE_FILE, "corrupt or mismatched weights"), ("state.pt", "corrupt training state")],
)
def test_corrupt_checkpoint_on_resume_writes_nothing(tiny_run, ingest_32, tmp_path, file, message):
    out = tmp_path / "corrupt"
    shutil.copytree(tiny_run, out)
    (list_checkpoints(out)[-1] / file).write_bytes(b"not a checkpoint file")
    before = snapshot(out)
    with pytest.raises(RadsynthError, match=message) as info:
        train_autoencoder(tiny_config(ingest_32, out, total_steps=6, resume=True))
    assert len(str(info.value).splitlines()) == 1
    assert snapshot(out) == before


def test_nan_stops_and_keeps_the_last_good_checkpoint(ingest_32, tmp_path):
    # An absurd learning rate: the first step's weights are finite, the second step's loss not.
    out = tmp_path / "nan"
    with pytest.raises(RadsynthError, match="NaN/inf"):
        train_autoencoder(tiny_config(ingest_32, out, lr=1e30, checkpoint_every_steps=1))
    assert [p.name for p in list_checkpoints(out)] == ["step-0000001"]


def test_trains_with_a_perceptual_net(ingest_32, tmp_path):
    torch.manual_seed(0)
    save_file(PerceptualNet().state_dict(), tmp_path / "net.safetensors")
    out = tmp_path / "perceptual"
    train_autoencoder(
        tiny_config(ingest_32, out, total_steps=2, perceptual_net=tmp_path / "net.safetensors")
    )
    lines = (out / "losses.csv").read_text().splitlines()
    assert float(lines[1].split(",")[1]) > 0


def test_scale_factor_does_not_depend_on_batch_size(tiny_run, ingest_32):
    ae = load_autoencoder(tiny_run).model
    images = load_ingest(ingest_32, 32).train
    by_one, by_five = latent_scale_factor(ae, images, 1), latent_scale_factor(ae, images, 5)
    assert by_one == pytest.approx(by_five, rel=1e-5)
