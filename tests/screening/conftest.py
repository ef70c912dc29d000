"""Phantom sets shared by the screening tests: real-stand-in reference images (all plausible)
and a labelled set to screen (half implausible), both with mixed facing."""

from __future__ import annotations

from pathlib import Path

import pytest

SIZE_PX = 64


@pytest.fixture(scope="session")
def reference_phantoms(tmp_path_factory) -> Path:
    """200 plausible phantoms (seed 10), half facing right: the held-out 'real' images."""
    phantoms = pytest.importorskip("radsynth.data.phantoms")
    out = tmp_path_factory.mktemp("phantoms") / "reference"
    phantoms.make_phantoms(phantoms.PhantomConfig(
        out=out, n=200, size_px=SIZE_PX, seed=10, implausible_fraction=0.0,
        negative_fraction=0.0, right_facing_fraction=0.5, contact_sheet_n=0,
    ))  # fmt: skip
    return out


@pytest.fixture(scope="session")
def labelled_phantoms(tmp_path_factory) -> Path:
    """200 phantoms (seed 11), half implausible (all four defects), half facing right."""
    phantoms = pytest.importorskip("radsynth.data.phantoms")
    out = tmp_path_factory.mktemp("phantoms") / "labelled"
    phantoms.make_phantoms(phantoms.PhantomConfig(
        out=out, n=200, size_px=SIZE_PX, seed=11, implausible_fraction=0.5,
        negative_fraction=0.0, right_facing_fraction=0.5, contact_sheet_n=0,
    ))  # fmt: skip
    return out
