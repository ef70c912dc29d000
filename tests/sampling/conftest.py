"""Fixtures for sampling tests: one tiny random checkpoint, and a reference sample of it."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_runs import one_thread, tiny_ckpt
from sampling_reference import REFERENCE

__all__ = ["one_thread", "reference_samples", "tiny_ckpt"]


@pytest.fixture(scope="session")
def reference_samples(tiny_ckpt: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Seeds 0..5 sampled in one uninterrupted run with batch 3."""
    from radsynth.cli import main

    out = tmp_path_factory.mktemp("reference") / "samples"
    assert main(["sample", str(tiny_ckpt), str(out), "--n", "6", "--batch", "3", *REFERENCE]) == 0
    return out
