"""Mirrored frontal films (combined detector with review) on real paediatric films and on
phantoms, and a smoke run of each film-check benchmark subcommand."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from radsynth.cli import main
from radsynth.data.imageio import list_images, read_gray, write_png
from radsynth.data.phantoms import PhantomConfig, render_phantom
from radsynth.screening.mirror import detect_mirrored, marker_asymmetry, marker_disagrees


def _real(cxr_dir: Path, n: int, seed: int) -> list[np.ndarray]:
    paths = list_images(cxr_dir)
    pick = np.random.default_rng(seed).choice(len(paths), size=n, replace=False)
    return [read_gray(paths[i]) for i in sorted(pick)]


def test_combined_mirror_detector_on_real_films(cxr_dir: Path) -> None:
    films = _real(cxr_dir, 160, seed=8)
    mirrored = np.random.default_rng(8).random(len(films)) < 0.5
    planted = [f[:, ::-1] if m else f for f, m in zip(films, mirrored, strict=True)]
    call = detect_mirrored(planted)
    kept = ~call.review
    # Goal: >= 90% on the films not reviewed with <= 10% reviewed (paediatric: 98.1% / 1.7% on
    # 600 films in docs/screening.md).
    assert call.review.mean() <= 0.1
    assert np.mean(call.mirrored[kept] == mirrored[kept]) >= 0.9
    assert np.all((call.confidence >= 0.5) & (call.confidence <= 1.0))
    again = detect_mirrored(planted)
    assert np.array_equal(again.mirrored, call.mirrored)


def test_marker_asymmetry_and_veto_by_hand() -> None:
    film = np.full((224, 224), 0.3)
    film[20:34, 30:40] = 0.95  # a lead letter in the top-left corner
    assert marker_asymmetry(film) > 0.5
    assert marker_asymmetry(film[:, ::-1]) < -0.5
    assert abs(marker_asymmetry(np.full((224, 224), 0.3))) < 1e-6
    # Markers (left-minus-right) of five films and the mirror calls: the collection puts its
    # marker on the left (films 0, 1 as stored, film 2 once flipped); film 3 is called
    # mirrored but its marker is already on the left: review. Film 4 has no marker.
    marker = np.array([0.6, 0.5, -0.4, 0.7, 0.05])
    mirrored = np.array([False, False, True, True, True])
    assert marker_disagrees(marker, mirrored).tolist() == [False, False, False, True, False]


def test_standard_held_out_films_are_not_flipped(cxr_dir: Path) -> None:
    """Real films shown to readers must not be mirrored by mistake: 200 standard held-out films
    (the test folder, none mirrored) run through the detector as orient does."""
    paths = list_images(cxr_dir / "test")
    pick = np.random.default_rng(9).choice(len(paths), size=200, replace=False)
    call = detect_mirrored([read_gray(paths[i]) for i in sorted(pick)])
    flipped = call.mirrored & ~call.review
    # Measured on these 200: 6 flipped without the marker check, 1 with it (5% to review); on
    # 400 held-out films (docs/screening.md): 9 and 2.
    assert flipped.sum() <= 2 and call.review.mean() <= 0.1


def test_small_collection_uses_the_heart_side_filter_only() -> None:
    cfg = PhantomConfig(out=Path("unused"), size_px=64, seed=2, negative_fraction=0.0,
                        implausible_fraction=0.0, right_facing_fraction=0.0)  # fmt: skip
    films = [render_phantom(cfg, i).image for i in range(10)]
    call = detect_mirrored(films)
    assert len(call.mirrored) == 10 and call.review.dtype == bool


def test_bench_subcommands_smoke(tmp_path: Path, capsys) -> None:
    cfg = PhantomConfig(out=Path("unused"), size_px=64, seed=3, negative_fraction=0.0,
                        implausible_fraction=0.0, right_facing_fraction=0.0)  # fmt: skip
    for i in range(140):
        write_png(tmp_path / "ph" / f"{i:03d}.png", render_phantom(cfg, i).image)
    src = str(tmp_path / "ph")
    assert main(["bench", "polarity", src, "--n", "40", "--size-px", "64"]) == 0
    out = capsys.readouterr().out
    assert "polarity (combined): accuracy" in out and "rotation: accuracy" in out
    assert main(["bench", "orient", src, "--n", "40", "--size-px", "64", "--view", "lateral"]) == 0
    assert "lateral facing: accuracy 1.0000" in capsys.readouterr().out
    args = ["bench", "screen", src, "--n-reference", "120", "--n-plausible", "10",
            "--n-per-kind", "2", "--size-px", "64"]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "plausible: false rejections" in out and "rotated 90 degrees: flagged" in out
    assert main(["bench", "screen", src, "--n-reference", "200"]) == 2  # too few films
