"""The screen's paired midline test (issue 27): a film is flagged when its midline score is on the
halves-swapped side (above 0) and above every reference film's. By hand, its exact
false-rejection rate against a simulation, and the whole screen with a 30-film reference of
drawn frontal films (tests/sample_films.py)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import norm

from radsynth.data.imageio import write_png
from radsynth.screening.midline import (
    midline_flags,
    midline_score,
    paired_flags,
    paired_midline_score,
    swap_halves_lr,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sample_films import drawn_frontal  # noqa: E402
from test_midline import _run  # noqa: E402


def test_paired_score_is_the_sign_of_a_swap() -> None:
    rng = np.random.default_rng(0)
    film = drawn_frontal(rng, 96)
    d = paired_midline_score(film)
    # Antisymmetric under the swap, and for an even width equal to the midline score itself
    # (m(swap(x)) = -m(x) exactly there).
    assert paired_midline_score(swap_halves_lr(film)) == pytest.approx(-d, abs=1e-12)
    assert d == pytest.approx(midline_score(film), abs=1e-12)
    assert d < 0  # a standard film: the mediastinum in the middle
    # An odd width: still exactly antisymmetric up to the one column the swap cannot split.
    odd = film[:, :95]
    assert np.sign(paired_midline_score(odd)) == -np.sign(paired_midline_score(swap_halves_lr(odd)))
    np.testing.assert_array_equal(swap_halves_lr(np.arange(5)[None, :]), [[2, 3, 4, 0, 1]])


def test_paired_flags_by_hand() -> None:
    # Reference midline scores -4.0, -3.5, ..., -0.5 (8 films). The tail alone: rank p-values
    # down to 1/9; beyond -0.5 the exponential tail exp(-(s + 0.5) / scale) / 9 with scale the
    # mean excess of the top 5 over their smallest, (0 + 0.5 + 1 + 1.5 + 2) / 5 = 1. At frr
    # 0.005 (0.0025 per score) a film needs exp(-(s + 0.5)) < 0.0225, s > -0.5 + 3.79 = 3.29.
    ref_mid = np.arange(-4.0, 0.0, 0.5)
    ref = np.stack([np.zeros(8), ref_mid], axis=1)
    new = np.stack([np.zeros(5), [-0.2, 0.3, 3.0, 3.4, -5.0]], axis=1)
    np.testing.assert_array_equal(
        midline_flags(ref, new, 0.005, paired=False), [False, False, False, True, False]
    )
    # Paired: above 0 and above -0.5 (every reference film) suffices.
    np.testing.assert_array_equal(
        midline_flags(ref, new, 0.005, paired=True), [False, True, True, True, False]
    )
    # A reference film on the swapped side (0.8) moves the paired cut up to it.
    np.testing.assert_array_equal(
        paired_flags(np.append(ref_mid, 0.8), new[:, 1]), [False, False, True, True, False]
    )
    assert not paired_flags(np.array([]), np.array([-0.1])).any()
    assert paired_flags(np.array([]), np.array([0.1])).all()


@pytest.mark.parametrize(("q", "n"), [(0.0015, 30), (0.02, 30), (0.2, 30), (0.02, 300)])
def test_paired_false_rejection_rate_matches_its_formula(q: float, n: int) -> None:
    # Plausible films' midline scores: normal, shifted so that a share q lies above 0. Each
    # trial draws n reference films and one new film; the paired test flags the new film with
    # probability (1 - (1 - q) ** (n + 1)) / (n + 1) exactly (docs/screening.md).
    rng = np.random.default_rng(1)
    trials = 20_000
    scores = rng.normal(norm.ppf(q), 1.0, size=(trials, n + 1))
    flagged = (scores[:, 0] > 0) & (scores[:, 0] > scores[:, 1:].max(axis=1))
    want = (1 - (1 - q) ** (n + 1)) / (n + 1)
    se = np.sqrt(want * (1 - want) / trials)
    assert abs(flagged.mean() - want) < 5 * se + 1e-4
    assert want <= min(q, 1 / (n + 1))


def _write(folder: Path, films: list[np.ndarray], names: list[str]) -> None:
    for name, f in zip(names, films, strict=True):
        write_png(folder / name, f, bits=16)


def _off_centre(rng: np.random.Generator, shift_px: int) -> np.ndarray:
    """A drawn film of a patient off the detector's centre: a 96 px window shifted sideways."""
    f = drawn_frontal(rng, 128)
    return f[16:112, 16 + shift_px : 112 + shift_px]


def _screen(tmp_path: Path, out: str, paired: bool = True) -> dict[str, bool]:
    return _run(tmp_path, out, canonicalize=False, midline_paired=paired)


def test_swapped_drawn_films_flagged_with_a_30_film_reference(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    # 30 reference films, 4 of them of patients off centre (midline scores nearer 0).
    ref = [drawn_frontal(rng, 96) for _ in range(26)]
    ref += [_off_centre(rng, s) for s in (-16, -10, 10, 16)]
    _write(tmp_path / "ref", ref, [f"{i:03d}.png" for i in range(30)])
    plausible = [drawn_frontal(rng, 96) for _ in range(20)]
    _write(tmp_path / "scr", plausible, [f"plau-{i:02d}.png" for i in range(20)])
    swapped = [swap_halves_lr(f) for f in plausible]
    _write(tmp_path / "scr", swapped, [f"swap-{i:02d}.png" for i in range(20)])
    flagged = _screen(tmp_path, "screen")
    assert all(v for k, v in flagged.items() if k.startswith("swap"))
    # The paired test flags no plausible drawn film (all score below 0); the anatomy part at
    # 0.045 may. Measured: 0 of 20.
    assert sum(v for k, v in flagged.items() if k.startswith("plau")) <= 2
    info = json.loads((tmp_path / "screen" / "threshold.json").read_text())
    assert info["midline_paired"] is True
    assert info["midline_reference_swapped_side"] == 0 and info["midline_reference_max"] < 0
    # Deterministic: the same films give the same screen.csv, byte for byte.
    _screen(tmp_path, "again")
    same = (tmp_path / "screen" / "screen.csv").read_bytes()
    assert (tmp_path / "again" / "screen.csv").read_bytes() == same


def test_reference_on_the_swapped_side_is_reported(tmp_path: Path, caplog) -> None:
    rng = np.random.default_rng(6)
    films = [drawn_frontal(rng, 96) for _ in range(32)]
    # One reference film is itself halves-swapped (a contaminated reference): the paired test
    # then flags only films above it, and says so.
    ref = films[:29] + [swap_halves_lr(films[29])]
    _write(tmp_path / "ref", ref, [f"{i:03d}.png" for i in range(30)])
    _write(tmp_path / "scr", [films[30], swap_halves_lr(films[31])], ["plau.png", "swap.png"])
    with caplog.at_level(logging.WARNING, logger="radsynth.screening.screen"):
        _screen(tmp_path, "screen")
    assert "1 of 30 reference films have a midline score above 0" in caplog.text
    info = json.loads((tmp_path / "screen" / "threshold.json").read_text())
    assert info["midline_reference_swapped_side"] == 1
    assert info["midline_reference_max"] == pytest.approx(
        -paired_midline_score(films[29]), abs=1e-3
    )
    off = _screen(tmp_path, "off", paired=False)
    assert off["plau.png"] is False
    assert json.loads((tmp_path / "off" / "threshold.json").read_text())["midline_paired"] is False
