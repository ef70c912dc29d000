"""Fixtures for the autoencoder tests: a tiny ingest folder, one tiny run, no network."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from fake_runs import make_fake_ingest
from latent_helpers import tiny_config

from radsynth.latent.train import train_autoencoder


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a connection fails the test: nothing may download weights."""

    def refuse(*args, **kwargs):
        raise AssertionError("a latent test tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(scope="session")
def ingest_32(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 train + 4 val drawn 32 px discs in an ingest-shaped folder (read-only by tests)."""
    return make_fake_ingest(tmp_path_factory.mktemp("latent") / "data")


@pytest.fixture(scope="session")
def tiny_run(ingest_32: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One finished tiny train-autoencoder run (read-only by tests)."""
    out = tmp_path_factory.mktemp("latent-run") / "ae"
    train_autoencoder(tiny_config(ingest_32, out))
    return out
