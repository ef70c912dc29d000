"""radsynth sample on a GAN checkpoint: seeds, batch invariance, classes, truncation, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from radsynth.cli import main
from radsynth.data.imageio import read_gray
from radsynth.gan.checkpoint import load_gan_checkpoint
from radsynth.gan.sample import generate, seed_latents

FLAGS = ["--device", "cpu", "--no-progress"]


def sample(ckpt: Path, out: Path, *flags: str) -> int:
    return main(["sample", str(ckpt), str(out), *FLAGS, *flags])


def pngs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.png"))}


def test_batch_one_and_batch_four_give_the_same_images(gan_run, tmp_path):
    mix = ["--label-mix", "bright=3", "dark=3"]
    assert sample(gan_run, tmp_path / "b1", "--n", "6", "--batch", "1", *mix) == 0
    assert sample(gan_run, tmp_path / "b4", "--n", "6", "--batch", "4", *mix) == 0
    assert len(pngs(tmp_path / "b1")) == 6
    assert pngs(tmp_path / "b1") == pngs(tmp_path / "b4")
    loaded = load_gan_checkpoint(gan_run)
    seeds, y = list(range(6)), torch.tensor([0, 0, 0, 1, 1, 1])
    z = seed_latents(seeds, loaded.shape.latent_dim)
    four = torch.cat([generate(loaded, z[i : i + 4], y[i : i + 4], 1.0, "cpu") for i in (0, 4)])
    one = torch.cat([generate(loaded, z[i : i + 1], y[i : i + 1], 1.0, "cpu") for i in seeds])
    assert torch.allclose(four, one, atol=1e-5, rtol=0)
    assert four.std() > 0  # not a constant image


def test_latent_of_a_seed_is_its_own_generator_draw():
    z = seed_latents([7, 3], 5)
    assert torch.equal(z[0], torch.randn(5, generator=torch.Generator().manual_seed(7)))
    assert torch.equal(seed_latents([3], 5)[0], z[1])


def test_sidecars_record_classes_and_a_folder_matches_the_ddpm_layout(gan_run, tmp_path):
    out = tmp_path / "s"
    assert sample(gan_run, out, "--n", "4", "--label-mix", "dark=1", "bright=3") == 0
    lines = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
    assert [x["label"] for x in lines] == ["dark", "bright", "bright", "bright"]
    assert all(x["sampler"] == "gan" and x["checkpoint_step"] == 4 for x in lines)
    record = json.loads((out / "sampling.json").read_text())
    assert record["classes"] == ["bright", "dark"] and record["guidance"] is None
    assert json.loads((out / "manifest.json").read_text())["stage"] == "sample"
    # Without a label, seed n of a conditional GAN gets class n mod K.
    assert sample(gan_run, tmp_path / "cycled", "--n", "3") == 0
    meta = [
        json.loads((tmp_path / "cycled" / "meta" / f"{s:06d}.json").read_text()) for s in (0, 1, 2)
    ]
    assert [m["label"] for m in meta] == ["bright", "dark", "bright"]


def test_truncation_zero_gives_each_class_its_average_image(gan_run, tmp_path):
    out = tmp_path / "psi0"
    assert sample(gan_run, out, "--n", "4", "--label", "dark", "--truncation-psi", "0") == 0
    images = [read_gray(p) for p in sorted(out.glob("*.png"))]
    assert all(np.array_equal(images[0], im) for im in images[1:])
    assert sample(gan_run, tmp_path / "psi1", "--n", "4", "--label", "dark") == 0
    varied = [read_gray(p) for p in sorted((tmp_path / "psi1").glob("*.png"))]
    assert not all(np.array_equal(varied[0], im) for im in varied[1:])


@pytest.mark.parametrize(
    "flags",
    [
        ["--sampler", "dpmpp"],  # given at its default value: still refused
        ["--steps", "25"],
        ["--eta", "0"],
        ["--guidance", "2"],
        ["--spacing", "karras"],
        ["--no-clip-x0"],
    ],
)
def test_a_diffusion_setting_for_a_gan_is_a_one_line_refusal(gan_run, tmp_path, capsys, flags):
    out = tmp_path / "refused"
    assert sample(gan_run, out, "--n", "2", "--label", "dark", *flags) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "diffusion setting" in err[0]
    assert flags[0].replace("--no-", "--") in err[0]
    assert not out.exists()


def test_a_diffusion_setting_in_yaml_is_refused_too(gan_run, tmp_path, capsys):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("n: 2\nlabel: dark\nsteps: 25\n")
    assert sample(gan_run, tmp_path / "refused", "--config", str(cfg)) == 2
    assert "--steps is a diffusion setting" in capsys.readouterr().err
    assert not (tmp_path / "refused").exists()


def test_truncation_for_a_diffusion_checkpoint_is_refused(tiny_ckpt, tmp_path, capsys):
    assert sample(tiny_ckpt, tmp_path / "refused", "--truncation-psi", "0.7") == 2
    assert "--truncation-psi is a GAN setting" in capsys.readouterr().err
    assert not (tmp_path / "refused").exists()


def test_an_unknown_class_is_refused(gan_run, tmp_path, capsys):
    assert sample(gan_run, tmp_path / "refused", "--n", "2", "--label", "grey") == 2
    assert "knows: bright, dark" in capsys.readouterr().err
    assert not (tmp_path / "refused").exists()


def test_fid_sweep_refuses_sampler_settings_for_a_gan_run(gan_run, tmp_path, capsys):
    out = tmp_path / "sweep"
    assert main(["fid-sweep", str(gan_run), "--out", str(out), "--steps", "10"]) == 2
    assert "--steps is a diffusion setting" in capsys.readouterr().err
    assert not out.exists()


def test_fid_sweep_scores_every_gan_checkpoint(gan_run, gan_data, tmp_path):
    out = tmp_path / "sweep"
    args = ["fid-sweep", str(gan_run), "--out", str(out), "--real", str(gan_data / "train")]
    args += ["--every", "1", "--n", "5", "--feature", "pixels", "--extra-features", "none"]
    assert main([*args, "--device", "cpu"]) == 0
    rows = (out / "fid.csv").read_text().splitlines()
    assert rows[0].startswith("step,") and [r.split(",")[0] for r in rows[1:]] == ["2", "4"]
    record = json.loads((out / "samples" / "step-0000004" / "sampling.json").read_text())
    assert record["sampler"] == "gan" and record["classes_by_seed"] == "seed mod K"


def test_progress_bar_off_a_terminal_only_when_asked_for_both_families(
    gan_run, tiny_ckpt, tmp_path, capsys
):
    gan = ["sample", str(gan_run), "--n", "3", "--label", "dark", "--device", "cpu"]
    ddpm = ["sample", str(tiny_ckpt), "--n", "2", "--sampler", "ddim", "--steps", "1"]
    for i, args in enumerate((gan, ddpm)):
        assert main([args[0], args[1], str(tmp_path / f"quiet{i}"), *args[2:]]) == 0
        assert "img/s" not in capsys.readouterr().err  # stderr is not a terminal here
        assert main([args[0], args[1], str(tmp_path / f"asked{i}"), *args[2:], "--progress"]) == 0
        err = capsys.readouterr().err
        n = args[args.index("--n") + 1]
        assert f"sample:   0%|          | 0/{n}" in err and "img/s" in err
