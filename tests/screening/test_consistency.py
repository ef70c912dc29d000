"""The projection-free screen: conformal p-values by hand, and each part on real chest films and
on phantoms with the gross implausibilities of issue 18 planted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from radsynth.data.imageio import list_images, read_gray
from radsynth.data.phantoms import PhantomConfig, render_phantom
from radsynth.films.selfsup import represent
from radsynth.screening.bench_screen import IMPLAUSIBLE
from radsynth.screening.consistency import (
    fit_consistency,
    flag_slots,
    min_p_threshold,
    p_values,
    raw_scores,
    tail_p_values,
    tail_p_values_loo,
)


def test_p_values_by_hand() -> None:
    cal = np.array([[1.0], [2.0], [3.0], [4.0]])
    # (1 + #{cal >= s}) / (n + 1): s = 0 -> 5/5, s = 3 -> 3/5, s = 9 -> 1/5.
    np.testing.assert_allclose(p_values(cal, np.array([[0.0], [3.0], [9.0]]))[:, 0],
                               [1.0, 0.6, 0.2])  # fmt: skip
    # Each calibration film against the others, same scale: (1 + #{others >= s}) / (n + 1);
    # the largest is beyond the other three: exp(-(4 - 3) / scale) / 5, where the tail's scale
    # is the mean excess of the top min(n, 5) others over their smallest, (0 + 1 + 2) / 3 = 1.
    np.testing.assert_allclose(tail_p_values_loo(cal)[:, 0], [0.8, 0.6, 0.4, np.exp(-1) / 5])
    # A new film beyond every calibration score: exp(-(s - 4) / scale) / (n + 1), scale 1.5.
    np.testing.assert_allclose(tail_p_values(cal, np.array([[7.0]]))[0, 0], np.exp(-2) / 5)
    # floor(0.25 * 5) = 1: the smallest calibration min-p.
    assert min_p_threshold(np.array([0.4, 0.2, 0.8, 0.6]), 0.25) == 0.2
    assert min_p_threshold(np.array([0.4, 0.2]), 0.1) == 0.0  # too few to flag anything


def test_flag_slots_marginal_and_training_conditional() -> None:
    from scipy.stats import binom

    assert flag_slots(300, 0.05) == 15  # floor(0.05 * 301)
    # Training-conditional: the largest k with P(Beta(k, n + 1 - k) <= frr) >= 0.9. Checked here
    # through the identity P(Beta(k, n + 1 - k) <= x) = P(Binomial(n, x) >= k), a different
    # formula from the incomplete beta function the code uses.
    for n, frr, conf in [(300, 0.05, 0.9), (150, 0.05, 0.9), (1000, 0.01, 0.95)]:
        k = flag_slots(n, frr, conf)
        assert binom.sf(k - 1, n, frr) >= conf > binom.sf(k, n, frr)
        assert k < flag_slots(n, frr)
    assert flag_slots(300, 0.05, 0.9) == 10
    assert flag_slots(40, 0.05, 0.9) == 0  # fewer than log(0.1) / log(0.95) = 45 films
    # Simulated: with uniform scores the rate of a cut at the k-th order statistic is that
    # order statistic; over 4,000 draws of 300 calibration scores it exceeds 0.05 in at most
    # 10% of draws (plus three Monte Carlo standard errors), and in about half without it.
    u = np.sort(np.random.default_rng(0).random((4000, 300)), axis=1)
    assert np.mean(u[:, flag_slots(300, 0.05, 0.9) - 1] > 0.05) <= 0.1 + 3 * np.sqrt(0.09 / 4000)
    assert np.mean(u[:, flag_slots(300, 0.05) - 1] > 0.05) > 0.3
    assert min_p_threshold(np.linspace(0.01, 1, 300), 0.05, 0.9) == pytest.approx(
        np.linspace(0.01, 1, 300)[9]
    )


def _flag_rates(films: list[np.ndarray], n_ref: int, n_plausible: int, frr: float = 0.05):
    """Fit on the first n_ref films; return (false-rejection rate, {kind: recall})."""
    model = fit_consistency([represent(f) for f in films[:n_ref]], seed=0)
    cut = min_p_threshold(tail_p_values_loo(model.calibration).min(1), frr)

    def flagged(imgs):
        p = tail_p_values(model.calibration, raw_scores(model, [represent(f) for f in imgs]))
        return p.min(1) < cut

    rest = films[n_ref:]
    plausible = rest[:n_plausible]
    planted = rest[n_plausible:]
    recall = {k: float(flagged([fn(f) for f in planted]).mean()) for k, fn in IMPLAUSIBLE.items()}
    return float(flagged(plausible).mean()), recall


def test_each_part_on_real_chest_films(cxr_dir: Path) -> None:
    paths = list_images(cxr_dir)
    pick = np.random.default_rng(7).choice(len(paths), size=300, replace=False)
    films = [read_gray(paths[i]) for i in pick]
    frr, recall = _flag_rates(films, n_ref=200, n_plausible=80)
    # 20 planted films per kind. Measured (projection-free part alone, no anatomy features,
    # cross-fitted, tail p-values): upside-down 0.95, every other kind 1.0; false rejections
    # 0.0125 (1/80). (Split half/half with rank p-values: 0.90, 1.0, 1.0, 0.75, 1.0; 2/80.)
    assert np.mean(list(recall.values())) >= 0.85 and min(recall.values()) >= 0.6, recall
    assert frr <= 0.1


def test_each_part_on_phantoms() -> None:
    cfg = PhantomConfig(out=Path("unused"), size_px=64, seed=41, negative_fraction=0.0,
                        implausible_fraction=0.0, right_facing_fraction=0.0)  # fmt: skip
    films = [render_phantom(cfg, i).image for i in range(300)]
    frr, recall = _flag_rates(films, n_ref=200, n_plausible=80)
    # Measured: every kind 1.0, false rejections 0.0375 (3/80).
    assert all(r >= 0.9 for r in recall.values()), recall
    assert frr <= 0.1


@pytest.mark.parametrize("kind", list(IMPLAUSIBLE))
def test_planted_kinds_keep_the_shape(kind: str) -> None:
    img = np.random.default_rng(0).random((32, 32))
    assert IMPLAUSIBLE[kind](img).shape == (32, 32)
    assert not np.array_equal(IMPLAUSIBLE[kind](img), img)
