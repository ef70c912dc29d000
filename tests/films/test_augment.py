"""The augmentations of the shipped film-check networks, each on drawn frontal films: seeded,
shape- and range-preserving, and each doing what its name says."""

from __future__ import annotations

import numpy as np
import pytest
from sample_films import drawn_frontal
from scipy import ndimage

from radsynth.films.augment import (
    AUGMENTATIONS,
    augment,
    collimation,
    crop,
    letterbox,
    portable_ap,
    processing,
    side_marker,
    text_block,
    tubes_wires,
)


def _film(seed: int = 0) -> np.ndarray:
    return drawn_frontal(np.random.default_rng(seed), 64).astype(np.float32)


@pytest.mark.parametrize("name", [n for n, _ in AUGMENTATIONS])
def test_each_augmentation_is_seeded_and_keeps_shape_and_range(name: str) -> None:
    fn = dict(AUGMENTATIONS)[name]
    film = _film()
    a = fn(film, np.random.default_rng(5))
    b = fn(film, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    assert a.shape == film.shape and a.dtype == np.float32
    assert a.min() >= 0.0 and a.max() <= 1.0
    assert not np.array_equal(a, film)
    others = [fn(film, np.random.default_rng(s)) for s in range(6, 10)]
    assert any(not np.array_equal(a, o) for o in others)  # the seed matters


def test_letterbox_leaves_dark_uniform_bands() -> None:
    for seed in range(10):
        out = letterbox(_film(seed), np.random.default_rng(seed))
        rows, cols = out.std(1) < 1e-6, out.std(0) < 1e-6
        band = max(rows.mean(), cols.mean())
        assert band >= 0.19  # a frame 1.25-1.8 times the film: 20-44% of the side is frame
        assert out[rows].max(initial=0) <= 0.08 and out[:, cols].max(initial=0) <= 0.08


def test_text_block_writes_bright_glyphs_in_a_box_at_an_edge() -> None:
    for seed in range(10):
        film = _film(seed)
        out = text_block(film, np.random.default_rng(seed))
        changed = np.argwhere(out != film)
        (top, left), (bottom, right) = changed.min(0), changed.max(0)
        assert left == 0 or right == film.shape[1] - 1  # against the left or right edge
        area = (bottom - top + 1) * (right - left + 1) / film.size
        assert 0.02 <= area <= 0.2
        assert (out >= 0.85).sum() > (film >= 0.85).sum()


def test_side_marker_is_small_bright_and_near_the_top() -> None:
    for seed in range(10):
        film = _film(seed)
        out = side_marker(film, np.random.default_rng(seed))
        changed = np.argwhere(out != film)
        assert 0 < len(changed) <= 0.01 * film.size
        assert changed[:, 0].max() < film.shape[0] * 0.3
        assert out[out != film].min() >= 0.9


def test_tubes_and_wires_only_brighten_thin_paths() -> None:
    for seed in range(10):
        film = _film(seed)
        out = tubes_wires(film, np.random.default_rng(seed))
        assert np.all(out >= film)
        assert 0 < (out > film).mean() < 0.2


def test_crop_zooms_into_the_film() -> None:
    film = _film(1)
    out = crop(film, np.random.default_rng(1))
    # The drawn trunk fills more of the frame after a crop.
    assert (out > 0.4).mean() > (film > 0.4).mean()


def test_collimation_puts_bright_uniform_bands_at_edges() -> None:
    for seed in range(10):
        out = collimation(_film(seed), np.random.default_rng(seed))
        edges = [out[0], out[-1], out[:, 0], out[:, -1]]
        assert any(e.std() < 1e-6 and e.mean() >= 0.8 for e in edges)


def test_portable_ap_magnifies_and_flattens() -> None:
    film = _film(2)
    out = portable_ap(film, np.random.default_rng(2))
    assert np.corrcoef(out.ravel(), film.ravel())[0, 1] > 0.3  # the same film
    assert out.std() < film.std()  # flatter contrast


def test_processing_trades_large_scale_contrast_for_detail_and_keeps_polarity() -> None:
    def bands(x: np.ndarray) -> tuple[float, float]:
        low = ndimage.gaussian_filter(x, 4.0)
        return float(low.std()), float((x - low).std())

    for seed in range(10):
        film = _film(seed)
        out = processing(film, np.random.default_rng(seed))
        (low_in, detail_in), (low_out, detail_out) = bands(film), bands(out)
        assert low_out / detail_out < 0.8 * low_in / detail_in  # the low band compressed
        assert np.corrcoef(out.ravel(), film.ravel())[0, 1] > 0.5  # still positive, same film


def test_processing_is_applied_only_when_asked_and_draws_nothing_otherwise() -> None:
    film = _film(4)
    seven = [(n, fn) for n, fn in AUGMENTATIONS if n != "processing"]
    for seed in range(5):
        rng, by_hand = np.random.default_rng(seed), np.asarray(film, dtype=np.float32)
        for _, fn in seven:  # the seven of before, in their order, as augment drew them
            if rng.random() < 0.5:
                by_hand = fn(by_hand, rng)
        np.testing.assert_array_equal(augment(film, np.random.default_rng(seed), 0.5), by_hand)
    only = [n for n, _ in AUGMENTATIONS].index("processing")
    a = augment(film, np.random.default_rng(0), 1.0, with_processing=True)
    assert a.shape == film.shape
    assert not np.array_equal(a, augment(film, np.random.default_rng(0), 1.0))
    assert 0 < only < len(AUGMENTATIONS) - 1  # after the film's own artefacts, before overlays


def test_augment_applies_none_or_all() -> None:
    film = _film(3)
    np.testing.assert_array_equal(augment(film, np.random.default_rng(0), p=0.0), film)
    a = augment(film, np.random.default_rng(0), p=1.0)
    np.testing.assert_array_equal(a, augment(film, np.random.default_rng(0), p=1.0))
    assert not np.array_equal(a, film)
