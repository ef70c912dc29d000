"""radsynth recon-report: one checkpoint's reconstruction report on a named split, so a
checkpoint can be chosen on val and reported on test."""

from __future__ import annotations

import json
import math

import pytest

from radsynth.cli import main
from radsynth.errors import RadsynthError
from radsynth.latent.evaluate import ReconReportConfig, recon_report
from radsynth.training.autoencoder_checkpoint import list_checkpoints


def report_of(folder) -> dict:
    return json.loads((folder / "recon.json").read_text())


def test_val_report_of_the_last_checkpoint_matches_training(tiny_run, ingest_32, tmp_path):
    out = tmp_path / "val"
    recon_report(ReconReportConfig(tiny_run, ingest_32, out, split="val", feature="pixels"))
    mine, theirs = report_of(out), report_of(tiny_run)
    assert mine["split"] == "val" and mine["n_images"] == theirs["n_images"] == 4
    for key in ("psnr_db", "ssim", "fid"):
        assert mine[key] == pytest.approx(theirs[key], rel=1e-6)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] and manifest["recon"]["psnr_db"] == mine["psnr_db"]


def test_an_earlier_checkpoint_without_scale_factor_is_reported(tiny_run, ingest_32, tmp_path):
    first, last = list_checkpoints(tiny_run)[0], list_checkpoints(tiny_run)[-1]
    for ckpt, name in ((first, "first"), (last, "last")):
        recon_report(
            ReconReportConfig(
                ckpt, ingest_32, tmp_path / name, split="train", feature="pixels", max_images=6
            )
        )
    a, b = report_of(tmp_path / "first"), report_of(tmp_path / "last")
    assert a["split"] == "train" and a["n_images"] == 6 and math.isfinite(a["psnr_db"])
    assert a["psnr_db"] != b["psnr_db"]  # other weights, other reconstructions


def test_same_checkpoint_same_report(tiny_run, ingest_32, tmp_path):
    for name in ("a", "b"):
        recon_report(
            ReconReportConfig(tiny_run, ingest_32, tmp_path / name, split="val", feature="pixels")
        )
    assert report_of(tmp_path / "a") == report_of(tmp_path / "b")
    assert (tmp_path / "a" / "recon_sheet.png").read_bytes() == (
        tmp_path / "b" / "recon_sheet.png"
    ).read_bytes()


def test_a_split_with_no_images_is_one_line_and_writes_nothing(
    tiny_run, ingest_32, tmp_path, capsys
):
    out = tmp_path / "test"
    args = ["recon-report", str(tiny_run), str(ingest_32), str(out), "--split", "test"]
    assert main([*args, "--feature", "pixels"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "lists no test images" in err[0]
    assert not out.exists()
    with pytest.raises(RadsynthError, match="max-images"):
        recon_report(ReconReportConfig(tiny_run, ingest_32, out, max_images=0))


def test_films_of_another_size_are_one_line_and_write_nothing(tiny_run, tmp_path, capsys):
    from fake_runs import make_fake_ingest

    other = make_fake_ingest(tmp_path / "data64", size_px=64)
    out = tmp_path / "out"
    args = ["recon-report", str(tiny_run), str(other), str(out), "--split", "val"]
    assert main(args) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "the autoencoder was trained at 32 px" in err[0]
    assert not out.exists()
