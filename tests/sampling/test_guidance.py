"""Classifier-free guidance: an analytic two-class denoiser, and the sample stage on a tiny
conditional checkpoint (classes in sidecars, --guidance 1 bit-identical, errors)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from fake_runs import make_disc_ingest

from radsynth.cli import main
from radsynth.config import build_config
from radsynth.errors import RadsynthError
from radsynth.sampling.denoiser import VPDenoiser
from radsynth.sampling.guidance import ClassPlan, GuidedDenoiser, class_of_seed, parse_label_mix
from radsynth.sampling.sample import SampleConfig, sample_seeds
from radsynth.sampling.samplers import SeededNoise, get_sampler, start_noise
from radsynth.training.checkpoint import load_checkpoint
from radsynth.training.conditioning import ClassSpec
from radsynth.training.config import TrainConfig
from radsynth.training.train import train

MU = torch.tensor([-1.0, 1.0])  # class means (every pixel), class 2 = null
STD = 0.3  # per-pixel data std within a class


class TwoGaussians:
    """Exact x0 denoiser of x0 ~ N(mu_c, STD^2 I) per class c, and of their 50/50 mixture for
    the null class: D_c(x) = mu_c + STD^2 / (STD^2 + sigma^2) (x - mu_c); the mixture weighs
    D_c by the posterior p(c | x) from N(x; mu_c, (STD^2 + sigma^2) I)."""

    def __call__(self, x, sigma, class_labels=None, clip=None):
        var = STD**2 + sigma.reshape(-1, 1, 1, 1) ** 2  # (B, 1, 1, 1)
        d = torch.stack([m + STD**2 / var * (x - m) for m in MU])  # (2, B, C, H, W)
        logp = torch.stack([-((x - m) ** 2).sum((1, 2, 3)) / (2 * var.flatten()) for m in MU])
        w = torch.softmax(logp, dim=0)[..., None, None, None]  # (2, B, 1, 1, 1)
        mix = (w * d).sum(0)
        idx = torch.arange(len(x))
        return torch.where(
            (class_labels == 2)[:, None, None, None], mix, d[class_labels.clamp(max=1), idx]
        )


def guided_mean(guidance: float) -> float:
    """Mean pixel of 400 class-1 samples (8 pixels each) drawn with Heun, 30 steps."""
    seeds = range(400)
    noise = SeededNoise(seeds)
    sigmas = torch.cat([torch.linspace(20, 0.01, 30).exp().log(), torch.zeros(1)])
    den = GuidedDenoiser(TwoGaussians(), torch.ones(400, dtype=torch.long), 2, guidance, False)
    x = start_noise(noise, (1, 2, 4), float(sigmas[0]))
    return get_sampler("heun")(den, x, sigmas, noise).mean().item()


def test_guided_samples_move_toward_the_class_mean_as_s_grows() -> None:
    means = [guided_mean(s) for s in (0.0, 0.5, 1.0, 2.0, 4.0)]
    assert abs(means[0]) < 0.3  # S = 0: the unconditional mixture, centred between the classes
    assert abs(means[2] - 1.0) < 0.1  # S = 1: the class-1 distribution itself
    assert all(a < b for a, b in zip(means, means[1:], strict=False)), means


def test_guidance_one_is_a_single_plain_call() -> None:
    calls = []

    def den(x, sigma, class_labels=None, clip=None):
        calls.append((len(x), class_labels.tolist(), clip))
        return x * 0.5

    x, sigma = torch.randn(3, 1, 2, 2), torch.full((3,), 2.0)
    labels = torch.tensor([0, 1, 0])
    assert torch.equal(GuidedDenoiser(den, labels, 2, 1.0, True)(x, sigma), x * 0.5)
    GuidedDenoiser(den, labels, 2, 3.0, True)(x, sigma)
    assert calls == [(3, [0, 1, 0], None), (6, [0, 1, 0, 2, 2, 2], False)]  # one batched call


def test_label_mix_rule_and_errors() -> None:
    mix = parse_label_mix(["A=3", "B=2"])
    assert [class_of_seed(s, 10, mix) for s in range(10, 15)] == ["A", "A", "A", "B", "B"]
    with pytest.raises(RadsynthError, match="NAME=N"):
        parse_label_mix(["A"])
    spec = ClassSpec(("label",), ("A", "B"))
    with pytest.raises(RadsynthError, match="totals 5 images but --n is 4"):
        ClassPlan(spec, None, ["A=3", "B=2"], None, 0, 4)
    with pytest.raises(RadsynthError, match="knows: A, B"):
        ClassPlan(spec, "C", (), None, 0, 4)
    with pytest.raises(RadsynthError, match="--guidance needs a class-conditional"):
        ClassPlan(None, None, (), 2.0, 0, 4)


@pytest.fixture(scope="module")
def cond_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cond")
    data = make_disc_ingest(root / "data")
    cfg = build_config(TrainConfig, {"data": data, "out": root / "train", "preset": "tiny",
                                     "cpu_threads": 1, "condition_on": ("label",)})  # fmt: skip
    train(cfg)
    return root / "train"


def test_guidance_one_equals_unguided_conditional_sampling(cond_ckpt: Path) -> None:
    ck = load_checkpoint(cond_ckpt)
    cfg = SampleConfig(ckpt=cond_ckpt, out=Path("unused"), sampler="ddpm", steps=10)
    den = VPDenoiser(ck.model, ck.betas, ck.prediction_type, clip_x0=True)
    seeds, shape = [0, 1, 2], (1, 32, 32)
    plan = ClassPlan(ClassSpec.from_dict(ck.config["classes"]), "dark", (), 1.0, 0, 3)
    guided = sample_seeds(den, cfg, seeds, shape, "cpu", plan)
    labels = torch.ones(3, dtype=torch.long)  # "dark"

    class Plain:  # the conditional denoiser called directly, no guidance code at all
        train_sigmas = den.train_sigmas

        def __call__(self, x, sigma):
            return den(x, sigma, class_labels=labels)

    assert torch.equal(guided, sample_seeds(Plain(), cfg, seeds, shape, "cpu"))
    strong = ClassPlan(ClassSpec.from_dict(ck.config["classes"]), "dark", (), 3.0, 0, 3)
    assert not torch.equal(guided, sample_seeds(den, cfg, seeds, shape, "cpu", strong))


def test_sample_stage_label_mix_sidecars_and_resume(cond_ckpt: Path, tmp_path: Path) -> None:
    args = ["--n", "5", "--steps", "4", "--label-mix", "bright=3", "dark=2", "--guidance", "2"]
    one = tmp_path / "one"
    assert main(["sample", str(cond_ckpt), str(one), "--batch", "5", *args]) == 0
    record = json.loads((one / "sampling.json").read_text())
    assert record["label_mix"] == ["bright=3", "dark=2"] and record["guidance"] == 2.0
    assert record["classes"] == ["bright", "dark"]
    metas = [json.loads((one / "meta" / f"{s:06d}.json").read_text()) for s in range(5)]
    assert [m["label"] for m in metas] == ["bright"] * 3 + ["dark"] * 2
    assert {m["guidance"] for m in metas} == {2.0}
    two = tmp_path / "two"  # seeds written in two runs with another batch size
    assert main(["sample", str(cond_ckpt), str(two), "--batch", "2", *args[:1], "5",
                 *args[2:]]) == 0  # fmt: skip
    for s in range(5):
        assert (one / f"{s:06d}.png").read_bytes() == (two / f"{s:06d}.png").read_bytes()


def test_bad_conditional_sampling_is_one_line(cond_ckpt: Path, tmp_path: Path, capsys) -> None:
    from fake_runs import make_tiny_checkpoint

    out = tmp_path / "o"
    assert main(["sample", str(cond_ckpt), str(out), "--label", "grey"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "knows: bright, dark" in err and not out.exists()
    plain = make_tiny_checkpoint(tmp_path / "plain")
    assert main(["sample", str(plain), str(out), "--guidance", "2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unconditional" in err and not out.exists()


def test_bench_counts_guided_calls(tmp_path: Path) -> None:
    figures = {}
    for name, extra in (("plain", []), ("guided", ["--guidance", "3"])):
        out = tmp_path / f"{name}.json"
        assert main(["bench", "sample", "--preset", "tiny", "--steps", "3", "--batch", "2",
                     "--warmup-batches", "0", "--device", "cpu", "--out", str(out),
                     *extra]) == 0  # fmt: skip
        figures[name] = json.loads(out.read_text())
    plain, guided = figures["plain"], figures["guided"]
    assert guided["denoiser_calls_per_batch"] == plain["denoiser_calls_per_batch"]
    assert guided["network_images_per_image"] == 2 * plain["network_images_per_image"]


def test_sampler_sweep_over_guidance(cond_ckpt: Path, tmp_path: Path) -> None:
    import csv

    real = cond_ckpt.parent / "data" / "train"  # disc images of both classes
    out = tmp_path / "sweep"
    args = ["sampler-sweep", str(cond_ckpt), str(real), str(out), "--samplers", "dpmpp",
            "--steps", "3", "--reference-steps", "6", "--n", "4", "--feature", "pixels",
            "--no-progress", "--label", "dark", "--guidance", "1", "2"]  # fmt: skip
    assert main(args) == 0
    rows = list(csv.DictReader((out / "sweep.csv").read_text().splitlines()))
    assert [(r["sampler"], r["steps"], r["guidance"]) for r in rows] == [
        ("ddpm", "6", "1"), ("dpmpp", "3", "1"), ("dpmpp", "3", "2")]  # fmt: skip
    assert {r["label"] for r in rows} == {"dark"}
    meta = json.loads((out / "samples" / "dpmpp-0003-g2" / "meta" / "000000.json").read_text())
    assert meta["label"] == "dark" and meta["guidance"] == 2.0
