"""Fixtures for GAN tests: a labelled 16 px ingest folder and a tiny conditional GAN run."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_runs import make_disc_ingest, one_thread, tiny_ckpt
from gan_helpers import tiny_config

__all__ = ["gan_data", "gan_run", "one_thread", "tiny_ckpt"]


@pytest.fixture(scope="module")
def gan_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 train + 4 val discs of 16 px, labelled bright/dark."""
    root = tmp_path_factory.mktemp("gan") / "data"
    return make_disc_ingest(root, {"train": 8, "val": 4}, size_px=16)


@pytest.fixture(scope="module")
def gan_run(gan_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny class-conditional GAN trained 4 steps (checkpoints at steps 2 and 4)."""
    from radsynth.gan.train import train_gan

    out = tmp_path_factory.mktemp("gan") / "run"
    train_gan(tiny_config(gan_data, out, condition_on=("label",)))
    return out
