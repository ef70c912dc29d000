"""The screen's left-right symmetry and midline parts: the scores by hand, on drawn frontal films
(tests/sample_films.py) and phantoms, and the whole screen flagging the two planted kinds
(one side mirrored onto the other, halves swapped left-right) while passing plausible films."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from radsynth.data.imageio import list_images, read_gray, write_png
from radsynth.data.phantoms import PhantomConfig, render_phantom
from radsynth.errors import RadsynthError
from radsynth.records.screen import read_screen_rows
from radsynth.screening.bench_screen import (
    IMPLAUSIBLE,
    BenchScreenConfig,
    bench_screen,
    rate_text,
)
from radsynth.screening.midline import (
    content,
    midline_flags,
    midline_score,
    midline_scores,
    mirror_score,
)
from radsynth.screening.screen import ScreenConfig, screen

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sample_films import drawn_frontal  # noqa: E402

MIRRORED = "one side mirrored onto the other"
SWAPPED = "halves swapped left-right"


def _smooth_noise(seed: int, size: int = 128) -> np.ndarray:
    x = gaussian_filter(np.random.default_rng(seed).random((size, size)), 2.0)
    return (x - x.min()) / (x.max() - x.min())


def _drawn(n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [drawn_frontal(rng, 96) for _ in range(n)]


def _phantoms(n: int, seed: int) -> list[np.ndarray]:
    cfg = PhantomConfig(
        out=Path("unused"),
        size_px=64,
        seed=seed,
        negative_fraction=0.0,
        implausible_fraction=0.0,
        right_facing_fraction=0.5,
    )
    return [render_phantom(cfg, i).image for i in range(n)]


def test_scores_by_hand() -> None:
    x = _smooth_noise(0)
    # A film made of one half and its mirror image correlates perfectly with its mirror.
    assert mirror_score(IMPLAUSIBLE[MIRRORED](x)) == pytest.approx(1.0, abs=1e-9)
    assert mirror_score(x) < 0.9
    # Swapping the halves moves the middle to the edges and back: the midline score changes
    # sign exactly (both of its terms do, for an even width).
    assert midline_score(IMPLAUSIBLE[SWAPPED](x)) == pytest.approx(-midline_score(x), abs=1e-9)
    # A bright central band with dark edges (the mediastinum in the middle): plausible side.
    band = np.exp(-(((np.arange(128) - 64) / 12.0) ** 2))[None, :] * np.ones((128, 1))
    assert midline_score(band + 0.05 * x) < -1 < 1 < midline_score(IMPLAUSIBLE[SWAPPED](band))


def test_midline_flags_by_hand() -> None:
    # Reference scores 1..10 in both columns: rank p-values (1 + #{ref >= s}) / 11 down to
    # 1/11 at the largest; beyond it the exponential tail exp(-(s - 10) / scale) / 11, scale
    # the mean excess of the top 5 over their smallest, (0 + 1 + 2 + 3 + 4) / 5 = 2.
    ref = np.repeat(np.arange(1.0, 11.0)[:, None], 2, axis=1)
    new = np.array([[10.0, 0.0], [0.0, 10.0 + 2 * np.log(4.0)], [0.0, 10.5], [10.0 + 8, 0]])
    # p of the second film's midline score: exp(-log 4) / 11 = 1/44 = 0.0227; frr 0.05 puts
    # the cut at 0.025 (flagged), frr 0.04 at 0.02 (not). The tail alone (paired=False); the
    # paired test is checked by hand in test_midline_paired.py.
    tail = [midline_flags(ref, new, frr, paired=False) for frr in (0.05, 0.04)]
    np.testing.assert_array_equal(tail[0], [False, True, False, True])
    np.testing.assert_array_equal(tail[1], [False, False, False, True])
    # Paired: the second and third films' midline scores, 12.77 and 10.5, are above 0 and
    # above every reference film's (10).
    np.testing.assert_array_equal(midline_flags(ref, new, 0.04), [False, True, True, True])


def test_padding_is_cut_off_before_scoring() -> None:
    x = _smooth_noise(1, 96)
    boxed = np.zeros((128, 160))
    boxed[16:112, 32:128] = x  # letterboxed and pillarboxed
    np.testing.assert_array_equal(content(boxed), x)
    assert mirror_score(boxed) == mirror_score(x)
    assert midline_score(boxed) == midline_score(x)
    assert content(np.zeros((8, 8))).shape == (8, 8)  # all constant: left as it is
    assert midline_scores([]).shape == (0, 2)


@pytest.mark.parametrize("source", ["drawn", "phantoms"])
def test_planted_kinds_score_beyond_every_plausible_film(source: str) -> None:
    films = _drawn(200, seed=3) if source == "drawn" else _phantoms(200, seed=3)
    plausible = midline_scores(films)
    mirrored = midline_scores([IMPLAUSIBLE[MIRRORED](f) for f in films[:50]])
    swapped = midline_scores([IMPLAUSIBLE[SWAPPED](f) for f in films[:50]])
    # Measured, largest plausible mirror and midline scores, then the smallest planted one:
    # drawn (96 px): 0.938 and -0.595; mirrored 1.000, swapped 0.729. Phantoms (lateral C-spine,
    # 64 px): 0.409 and -1.616; mirrored 1.000, swapped 1.867.
    assert mirrored[:, 0].min() > plausible[:, 0].max()
    assert swapped[:, 1].min() > plausible[:, 1].max()


def _screen_folder(tmp_path: Path, films: list[np.ndarray], n_ref: int, n_plausible: int):
    """Write the first n_ref films as the reference and the next n_plausible as they are and
    with each of the two kinds planted; return the screen's folder and the truth per image."""
    truth = {}
    for i, f in enumerate(films[:n_ref]):
        write_png(tmp_path / "ref" / f"{i:04d}.png", f, bits=16)
    for i, f in enumerate(films[n_ref : n_ref + n_plausible]):
        for kind, img in (
            ("plausible", f),
            (MIRRORED, IMPLAUSIBLE[MIRRORED](f)),
            (SWAPPED, IMPLAUSIBLE[SWAPPED](f)),
        ):
            name = f"{kind[:4]}-{i:04d}.png"
            write_png(tmp_path / "scr" / name, img, bits=16)
            truth[name] = kind
    return truth


def _run(
    tmp_path: Path, out: str, canonicalize: bool = True, **settings: object
) -> dict[str, bool]:
    """Screen ``tmp_path/scr`` against ``tmp_path/ref`` into ``tmp_path/out`` (further
    ScreenConfig fields in ``settings``); each film's flag."""
    cfg = ScreenConfig(
        src=tmp_path / "scr",
        out=tmp_path / out,
        reference=tmp_path / "ref",
        canonicalize=canonicalize,
        **settings,
    )
    screen(cfg)
    return {r.image: r.flagged for r in read_screen_rows(tmp_path / out / "screen.csv")}


@pytest.mark.parametrize("source", ["drawn", "phantoms"])
def test_screen_flags_both_kinds_and_passes_plausible_films(source: str, tmp_path: Path) -> None:
    films = _drawn(100, seed=5) if source == "drawn" else _phantoms(100, seed=5)
    truth = _screen_folder(tmp_path, films, n_ref=60, n_plausible=40)
    # Turning films to face left is orient's lateral step (the phantoms are lateral films). On
    # the drawn frontal films it is fitted on each set separately, and the screened set holds
    # the planted films, so the reference and the plausible films were turned differently and
    # the anatomy part alone rejected 11 of 40 plausible films (p_anatomy 2/61 each).
    canonicalize = source == "phantoms"
    flagged = _run(tmp_path, "screen", canonicalize)
    for kind in (MIRRORED, SWAPPED):
        hits = [flagged[n] for n, k in truth.items() if k == kind]
        assert all(hits), f"{kind}: {sum(hits)}/{len(hits)}"
    false = [flagged[n] for n, k in truth.items() if k == "plausible"]
    # 60 reference films (too few for the projection-free part): the anatomy part at frr 0.045
    # OR the midline test at 0.005, about 2 of 40 on average. Measured: drawn 2, phantoms 1.
    assert sum(false) <= 5
    # Deterministic: the same films give the same screen.csv, byte for byte.
    _run(tmp_path, "again", canonicalize)
    same = (tmp_path / "screen" / "screen.csv").read_bytes()
    assert (tmp_path / "again" / "screen.csv").read_bytes() == same


def test_screen_on_real_chest_films(cxr_dir: Path, tmp_path: Path) -> None:
    paths = list_images(cxr_dir)
    pick = np.random.default_rng(11).choice(len(paths), size=170, replace=False)
    films = [read_gray(paths[i]) for i in sorted(pick)]
    truth = _screen_folder(tmp_path, films, n_ref=130, n_plausible=40)
    flagged = _run(tmp_path, "screen")
    # Measured: 4 of 40 plausible films flagged (the anatomy part), 40 of 40 of each kind.
    for kind in ("plausible", MIRRORED, SWAPPED):
        hits = [flagged[n] for n, k in truth.items() if k == kind]
        if kind != "plausible":
            assert all(hits), f"{kind}: {sum(hits)}/{len(hits)}"
        else:
            assert sum(hits) <= 5


def test_rate_text_matches_r() -> None:
    # R: binom.test(19, 20)$conf.int -> 0.7512672 0.9987349; binom.test(0, 24) -> 0 0.1424736
    assert rate_text(19, 20) == "0.950 (19/20; 95% CI 0.751-0.999)"
    assert rate_text(0, 24) == "0.000 (0/24; 95% CI 0.000-0.142)"


def test_bench_screen_plants_into_the_plausible_films(tmp_path: Path) -> None:
    for i, f in enumerate(_drawn(60, seed=9)):
        write_png(tmp_path / "films" / f"{i:03d}.png", f, bits=16)
    cfg = BenchScreenConfig(
        src=tmp_path / "films",
        n_reference=40,
        n_plausible=20,
        n_per_kind=20,
        plant_into_plausible=True,
        size_px=64,
    )
    out = bench_screen(cfg).summary
    # Measured: false rejections 0/20, upside-down 13/20, every other kind 20/20.
    assert "40 reference, 20 plausible, 20 per planted kind, planted into copies" in out
    assert "plausible: false rejections" in out
    for kind in (MIRRORED, SWAPPED):  # R: binom.test(20, 20)$conf.int -> 0.8315665 1
        assert f"{kind}: flagged 1.000 (20/20; 95% CI 0.832-1.000)" in out
    with pytest.raises(RadsynthError, match="must not exceed n_plausible"):
        bench_screen(
            BenchScreenConfig(src=tmp_path / "films", n_plausible=5, plant_into_plausible=True)
        )
