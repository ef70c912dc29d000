"""Shared pytest options and fixtures: slow/GPU markers and the real radiographs in ../shared."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", help="run tests marked slow")
    parser.addoption("--rungpu", action="store_true", help="run tests marked gpu")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "slow" in item.keywords and not config.getoption("--runslow"):
            item.add_marker(pytest.mark.skip(reason="slow: run with --runslow"))
        if "gpu" in item.keywords and not config.getoption("--rungpu"):
            item.add_marker(pytest.mark.skip(reason="gpu: run with --rungpu"))


def shared_data_dir() -> Path | None:
    """The real paediatric chest X-rays beside the repo, or None where users lack them."""
    env = os.environ.get("RADSYNTH_SHARED_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(REPO.parent / "shared" / "data" / "cxr-pediatric-224")
    for path in candidates:
        if (path / "manifest.csv").is_file():
            return path
    return None


@pytest.fixture(scope="session")
def cxr_dir() -> Path:
    """../shared/data/cxr-pediatric-224 (CC BY 4.0, Kermany et al. 2018); skips when absent."""
    path = shared_data_dir()
    if path is None:
        pytest.skip("real radiographs in ../shared/data are not available")
    return path
