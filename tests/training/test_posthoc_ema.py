"""Post-hoc EMA maths (EDM2, Karras et al. 2024): sigma_rel <-> gamma, the profiles' inner
products, and reconstruction on a toy parameter sequence whose exact EMA of any length is known.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from radsynth.training.posthoc_ema import (
    SIGMA_REL_MAX,
    PostHocEMA,
    Profile,
    beta_at,
    gamma_of_sigma_rel,
    profile_inner_product,
    sigma_rel_of_gamma,
    solve_coefficients,
)

#: Toy run: T steps of a 3-parameter "network", snapshots every EVERY steps.
T, EVERY = 1000, 50


def test_sigma_rel_of_gamma_by_hand_and_its_inverse() -> None:
    # gamma = 0 is the uniform average on [0, 1]: std sqrt(1/12). gamma = 1: sqrt(2) / (3 * 2).
    assert sigma_rel_of_gamma(0.0) == pytest.approx(math.sqrt(1 / 12), rel=1e-12)
    assert sigma_rel_of_gamma(1.0) == pytest.approx(math.sqrt(2) / 6, rel=1e-12)
    # EDM2's two tracked profiles: sigma_rel 0.05 and 0.10 are gamma 16.97 and 6.94.
    assert gamma_of_sigma_rel(0.05) == pytest.approx(16.97, abs=0.005)
    assert gamma_of_sigma_rel(0.10) == pytest.approx(6.94, abs=0.005)
    for s in (0.01, 0.05, 0.1, 0.15, 0.2, 0.28, SIGMA_REL_MAX):
        assert sigma_rel_of_gamma(gamma_of_sigma_rel(s)) == pytest.approx(s, rel=1e-9)
    for bad in (0.0, -0.1, 0.3):
        with pytest.raises(ValueError, match="sigma_rel"):
            gamma_of_sigma_rel(bad)


def test_inner_product_matches_numerical_integral() -> None:
    for (ti, gi), (tj, gj) in [
        ((100, 6.94), (60, 16.97)),
        ((40, 2.0), (40, 2.0)),
        ((7, 0.0), (9, 3.5)),
    ]:
        tau = np.linspace(0, max(ti, tj), 400_001)
        pi = np.where(tau <= ti, (gi + 1) * tau**gi / ti ** (gi + 1), 0)
        pj = np.where(tau <= tj, (gj + 1) * tau**gj / tj ** (gj + 1), 0)
        numeric = np.trapezoid(pi * pj, tau)
        assert profile_inner_product(ti, gi, tj, gj) == pytest.approx(numeric, rel=1e-4)
        assert profile_inner_product(ti, gi, tj, gj) == profile_inner_product(tj, gj, ti, gi)


def toy_sequence() -> np.ndarray:
    """(T, 3) float64 weights theta(1..T): drift plus slow and fast oscillation plus noise."""
    tau = np.arange(1, T + 1)[:, None] / T
    waves = np.sin(2 * np.pi * tau * np.array([0.5, 1.0, 3.0])) + tau
    return waves + 0.1 * np.random.default_rng(0).standard_normal((T, 3))


def exact_ema(theta: np.ndarray, t: int, gamma: float) -> np.ndarray:
    """The power-function EMA at step t, as a weighted sum: weight (tau^(g+1) - (tau-1)^(g+1))
    / t^(g+1) on step tau (the integral of the profile over (tau-1, tau]). Independent of the
    per-step recursion the tracker uses."""
    tau = np.arange(1, t + 1, dtype=np.float64)
    w = (tau / t) ** (gamma + 1) - ((tau - 1) / t) ** (gamma + 1)
    return w @ theta[:t]


def tracked_snapshots(
    theta: np.ndarray, sigma_rels: tuple[float, ...]
) -> dict[int, list[np.ndarray]]:
    """Run the real tracker over the toy sequence; its averages every EVERY steps."""
    net = torch.nn.Linear(3, 1, bias=False)
    tracker = PostHocEMA(net, sigma_rels)
    snaps = {}
    for step in range(1, T + 1):
        with torch.no_grad():
            net.weight.copy_(torch.from_numpy(theta[step - 1])[None])
        tracker.update(net, step)
        if step % EVERY == 0:
            snaps[step] = [a[0].double().numpy().ravel().copy() for a in tracker.averages]
    return snaps


@pytest.fixture(scope="module")
def toy():
    theta = toy_sequence()
    tracked = (0.05, 0.10)
    return theta, tracked, tracked_snapshots(theta, tracked)


def reconstruct(toy, sigma_rel: float, t: int) -> tuple[np.ndarray, float]:
    theta, tracked, snaps = toy
    gammas = [gamma_of_sigma_rel(s) for s in tracked]
    sources = [(s, i) for s in sorted(snaps) if s <= t for i in range(len(tracked))]
    fit = solve_coefficients(
        [Profile(s, gammas[i]) for s, i in sources], Profile(t, gamma_of_sigma_rel(sigma_rel))
    )
    estimate = sum(x * snaps[s][i] for (s, i), x in zip(sources, fit.coefficients, strict=True))
    return estimate, fit.relative_error


def test_tracker_recursion_is_the_power_function_average(toy) -> None:
    theta, tracked, snaps = toy
    for step in (50, 500, 1000):
        for i, s in enumerate(tracked):
            exact = exact_ema(theta, step, gamma_of_sigma_rel(s))
            np.testing.assert_allclose(snaps[step][i], exact, atol=1e-5)  # float32 averages
    assert beta_at(1, 6.94) == 0.0  # the first step's weights replace the (initial) average


@pytest.mark.parametrize("t", [1000, 500])
def test_reconstruction_matches_the_exact_ema(toy, t) -> None:
    """Tolerance: between the tracked widths and a little beyond (0.07, 0.15), the
    reconstruction is within 0.5% of the sequence's range of the exact EMA; at a tracked width
    it is that profile itself (float32 rounding only)."""
    theta = toy[0]
    span = float(theta.max() - theta.min())
    for sigma_rel in (0.07, 0.15):
        estimate, fit_error = reconstruct(toy, sigma_rel, t)
        exact = exact_ema(theta, t, gamma_of_sigma_rel(sigma_rel))
        assert np.abs(estimate - exact).max() < 0.005 * span, sigma_rel
        assert 0 < fit_error < 0.1
    for sigma_rel in (0.05, 0.10):
        estimate, fit_error = reconstruct(toy, sigma_rel, t)
        np.testing.assert_allclose(
            estimate, exact_ema(theta, t, gamma_of_sigma_rel(sigma_rel)), atol=1e-5
        )
        assert fit_error < 1e-6


def test_a_different_length_is_a_different_average(toy) -> None:
    # The test above could not pass by returning one fixed average: lengths differ by far more.
    theta = toy[0]
    short, long = (exact_ema(theta, T, gamma_of_sigma_rel(s)) for s in (0.05, 0.15))
    assert np.abs(short - long).max() > 0.05 * float(theta.max() - theta.min())


def test_state_dict_round_trip_continues_identically() -> None:
    torch.manual_seed(0)
    net = torch.nn.Linear(4, 2)
    a, b = PostHocEMA(net, (0.05, 0.1)), PostHocEMA(net, (0.05, 0.1))
    for step in range(1, 4):
        with torch.no_grad():
            net.weight.add_(0.1)
        a.update(net, step)
    b.load_state_dict({k: v.clone() for k, v in a.state_dict().items()})
    with torch.no_grad():
        net.weight.mul_(0.5)
    a.update(net, 4)
    b.update(net, 4)
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    assert sorted(a.state_dict()) == ["0.bias", "0.weight", "1.bias", "1.weight"]
