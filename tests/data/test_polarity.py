"""The negative-scan detector on real radiographs and on phantoms, half of them inverted.

Issue criterion: at least 99.5% classified correctly, and at most 0.5% of the untouched
originals called inverted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from radsynth.data.imageio import list_images, read_gray
from radsynth.data.phantoms import PhantomConfig, render_phantom
from radsynth.data.polarity import detect_polarity, polarity_score, trim_uniform_edges


def check_detector(images, seed: int) -> tuple[float, float]:
    """Invert a seeded random half; return (accuracy, false-inversion rate on originals)."""
    rng = np.random.default_rng(seed)
    correct, false_neg, originals = 0, 0, 0
    for img in images:
        flip = bool(rng.random() < 0.5)
        called = detect_polarity(1.0 - img if flip else img).negative
        correct += called == flip
        if not flip:
            originals += 1
            false_neg += called
    return correct / len(images), false_neg / max(originals, 1)


def real_images(cxr_dir: Path, n: int | None, seed: int = 0):
    paths = list_images(cxr_dir)
    if n is not None:
        pick = np.random.default_rng(seed).choice(len(paths), size=n, replace=False)
        paths = [paths[i] for i in sorted(pick)]
    return (read_gray(p) for p in paths), len(paths)


def test_real_films_sample(cxr_dir: Path) -> None:
    images, n = real_images(cxr_dir, 300)
    accuracy, false_rate = check_detector(list(images), seed=1)
    assert accuracy >= 0.995 and false_rate <= 0.005


@pytest.mark.slow
def test_real_films_all(cxr_dir: Path) -> None:
    images, n = real_images(cxr_dir, None)
    assert n == 3306
    accuracy, false_rate = check_detector(list(images), seed=2)
    assert accuracy >= 0.995 and false_rate <= 0.005


def test_phantoms() -> None:
    cfg = PhantomConfig(out=Path("unused"), size_px=64, seed=11, negative_fraction=0.0,
                        implausible_fraction=0.3)  # fmt: skip
    images = [render_phantom(cfg, i).image for i in range(150)]
    accuracy, false_rate = check_detector(images, seed=3)
    assert accuracy >= 0.995 and false_rate <= 0.005


def test_score_is_odd_in_polarity() -> None:
    img = np.random.default_rng(0).random((40, 56))
    assert polarity_score(1.0 - img) == pytest.approx(-polarity_score(img), abs=1e-12)


def test_bright_centre_column_is_positive() -> None:
    yy, xx = np.mgrid[:32, :48]
    img = np.exp(-(((xx - 23.5) / 8.0) ** 2)) * 0.8 + 0.1
    assert not detect_polarity(img).negative and detect_polarity(1 - img).negative
    assert detect_polarity(img).confidence > 0.9


def test_collimator_bands_are_ignored() -> None:
    """White collimator shadows at the edges of a positive film must not flip the decision."""
    xx = np.mgrid[:64, :64][1]
    film = np.exp(-(((xx - 31.5) / 6.0) ** 2)) * 0.5 + 0.05
    film += 0.05 * np.random.default_rng(0).standard_normal(film.shape)  # quantum noise
    film[:, :18] = 1.0
    film[:, 46:] = 1.0
    assert trim_uniform_edges(film).shape == (64, 28)
    assert not detect_polarity(film).negative
