"""512 px end to end on tiny networks (a factor-16 autoencoder, 32x32x3 latents): train the
autoencoder, train the latent UNet a few steps, sample full-size PNGs; and the 512/1024 px
presets build, with no attention anywhere in the 1024 px autoencoder."""

from __future__ import annotations

from pathlib import Path

from fake_runs import make_fake_ingest
from latent_helpers import tiny_config
from PIL import Image

from radsynth.config import build_config
from radsynth.latent.config import AutoencoderConfig
from radsynth.latent.train import model_shape, train_autoencoder
from radsynth.models.autoencoder import build_autoencoder
from radsynth.sampling.config import SampleConfig
from radsynth.sampling.sample import sample
from radsynth.training.config import TrainConfig
from radsynth.training.train import train


def test_512_px_trains_and_samples_end_to_end(tmp_path: Path) -> None:
    data = make_fake_ingest(tmp_path / "data", n_train=4, n_val=2, size_px=512)
    small = {"image_size_px": 512, "total_steps": 2, "batch_size": 2}
    ae = tmp_path / "ae"
    train_autoencoder(tiny_config(data, ae, block_channels=(4, 4, 8, 8, 8), **small))
    run = tmp_path / "train"
    cfg = {"data": data, "out": run, "preset": "tiny", "cpu_threads": 1, "autoencoder": ae}
    train(build_config(TrainConfig, {**cfg, **small}))
    out = tmp_path / "samples"
    sample(build_config(SampleConfig, {"ckpt": run, "out": out, "n": 2, "steps": 3}))
    for seed in range(2):
        with Image.open(out / f"{seed:06d}.png") as img:
            assert img.size == (512, 512) and img.mode == "L"


def test_presets_for_512_and_1024_px() -> None:
    for preset, side in (("latent-512", 512), ("latent-1024", 1024)):
        cfg = build_config(TrainConfig, {"data": ".", "out": ".", "preset": preset})
        assert cfg.image_size_px == side
    for preset, side in (("f8-512", 512), ("f8-1024", 1024)):
        cfg = build_config(AutoencoderConfig, {"data": ".", "out": ".", "preset": preset})
        assert (cfg.image_size_px, cfg.factor) == (side, 8)
    cfg = build_config(AutoencoderConfig, {"data": ".", "out": ".", "preset": "f8-1024"})
    shape = model_shape(cfg, channels=1)
    kinds = {type(m).__name__ for m in build_autoencoder(shape).modules()}
    assert not any("Attention" in k for k in kinds), kinds
    assert shape.latent_shape == (4, 128, 128)
