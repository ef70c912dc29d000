"""Fixtures of the evaluation tests: one tiny random checkpoint, on one CPU thread."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from fake_runs import make_tiny_checkpoint


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Run these tiny networks on one thread, restoring the setting afterwards: on the shared
    2-core test machine two spinning OpenMP threads cost ~30x the CPU time of one."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny-preset checkpoint (32 px, 100 timesteps) written by the real save code."""
    return make_tiny_checkpoint(tmp_path_factory.mktemp("train"), steps=2, seed=0)
