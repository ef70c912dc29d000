"""Fixtures of the metric tests: small folders of real radiographs."""

from __future__ import annotations

from pathlib import Path

import pytest

#: Images per set in the real-radiograph tests: TF-Inception runs at ~5-20 images/s on this CPU.
N_PER_SET = 16


def copy_images(src: Path, dest: Path, n: int) -> Path:
    """Copy the first ``n`` PNGs of ``src`` (sorted by name) into a flat folder ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for path in sorted(src.glob("*.png"))[:n]:
        (dest / path.name).write_bytes(path.read_bytes())
    return dest


@pytest.fixture(scope="module")
def cxr_sets(cxr_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two small flat folders of real radiographs: normal (as 'real') and pneumonia ('fake')."""
    root = tmp_path_factory.mktemp("cxr")
    real = copy_images(cxr_dir / "train" / "NORMAL", root / "real", N_PER_SET)
    fake = copy_images(cxr_dir / "train" / "PNEUMONIA", root / "fake", N_PER_SET)
    return real, fake
