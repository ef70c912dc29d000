"""Fixtures of the pipeline tests: a tiny training run with two checkpoints and real-like data."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_runs import make_fake_ingest, make_tiny_checkpoint


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """RUN/train with checkpoints at steps 1 and 2, RUN/data with 10 + 4 real images."""
    root = tmp_path_factory.mktemp("run")
    for step in (1, 2):
        make_tiny_checkpoint(root / "train", steps=step, seed=step)
    make_fake_ingest(root / "data", n_train=10, n_val=4)
    return root
