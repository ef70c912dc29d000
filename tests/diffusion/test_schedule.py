"""Schedule math against closed-form values."""

from __future__ import annotations

import math

import pytest
import torch

from radsynth.diffusion.schedule import (
    DiffusionConfig,
    alphas_cumprod,
    cosine_betas,
    linear_betas,
    make_betas,
    predict_x0,
    q_sample,
    sigmoid_betas,
    training_target,
    v_target,
)


def test_linear_matches_ho_et_al():
    betas = linear_betas(1000)
    assert betas.dtype == torch.float64
    assert betas[0].item() == pytest.approx(1e-4) and betas[-1].item() == pytest.approx(0.02)
    assert betas[1].item() - betas[0].item() == pytest.approx((0.02 - 1e-4) / 999)
    # Ho et al. 2020 report alpha-bar_T ~ 4.0e-5 (prod of 1 - beta): check against log-sum.
    expected = math.exp(sum(math.log(1 - b) for b in betas.tolist()))
    assert alphas_cumprod(betas)[-1].item() == pytest.approx(expected, rel=1e-9)
    assert expected == pytest.approx(4.04e-5, rel=1e-2)


@pytest.mark.parametrize("t_index", [0, 1, 250, 500, 999])
def test_cosine_alpha_bar_closed_form(t_index):
    T, s = 1000, 0.008
    f = lambda t: math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
    ab = alphas_cumprod(cosine_betas(T))
    # alpha-bar after step t is f(t + 1) / f(0), except where beta hits the 0.999 clip (t = T-1).
    if t_index < T - 1:
        assert ab[t_index].item() == pytest.approx(f(t_index + 1) / f(0), rel=1e-9)
    else:
        assert ab[t_index].item() < 1e-6


def test_sigmoid_alpha_bar_closed_form():
    T, start, end = 1000, -3.0, 3.0
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    g = lambda t: (sig(end) - sig(t * (end - start) + start)) / (sig(end) - sig(start))  # noqa: E731
    ab = alphas_cumprod(sigmoid_betas(T))
    for t in (0, 100, 500, 900):
        assert ab[t].item() == pytest.approx(g((t + 1) / T) / g(0), rel=1e-9)
    assert ab[500].item() == pytest.approx(0.5, abs=2e-3)  # symmetric around t = T/2


@pytest.mark.parametrize("name", ["linear", "cosine", "sigmoid"])
def test_schedules_are_valid(name):
    betas = make_betas(name, 1000)
    assert betas.shape == (1000,) and (betas > 0).all() and (betas <= 0.999).all()
    ab = alphas_cumprod(betas)
    assert (ab[1:] < ab[:-1]).all()


def test_unknown_schedule():
    with pytest.raises(ValueError, match="unknown beta schedule"):
        make_betas("quadratic", 10)


def test_q_sample_and_v_are_a_rotation():
    # With alpha = sqrt(ab), sigma = sqrt(1-ab): x_t = a x0 + s eps, v = a eps - s x0, so
    # x0 = a x_t - s v and eps = s x_t + a v (Salimans & Ho 2022), and |x_t|^2 + |v|^2 =
    # |x0|^2 + |eps|^2.
    ab = alphas_cumprod(cosine_betas(100))
    gen = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(3, 1, 4, 4, generator=gen), torch.randn(3, 1, 4, 4, generator=gen)
    t = torch.tensor([0, 40, 99])
    xt = q_sample(x0, t, eps, ab)
    v = v_target(x0, t, eps, ab)
    a = ab[t].float().sqrt().view(-1, 1, 1, 1)
    torch.testing.assert_close(xt, a * x0 + (1 - a**2).sqrt() * eps)
    torch.testing.assert_close(predict_x0("v_prediction", v, xt, t, ab), x0, atol=1e-5, rtol=0)
    torch.testing.assert_close(
        predict_x0("epsilon", eps[:2], xt[:2], t[:2], ab), x0[:2], atol=1e-4, rtol=0
    )
    torch.testing.assert_close(xt.pow(2) + v.pow(2), x0.pow(2) + eps.pow(2), atol=1e-5, rtol=0)
    assert training_target("epsilon", x0, t, eps, ab) is eps


def test_diffusion_config_round_trip_and_ddpm_scheduler():
    cfg = DiffusionConfig(num_train_timesteps=50, beta_schedule="sigmoid")
    assert DiffusionConfig.from_dict(cfg.to_dict()) == cfg
    from radsynth.diffusion.schedule import make_ddpm_scheduler

    sched = make_ddpm_scheduler(cfg)
    torch.testing.assert_close(
        sched.alphas_cumprod.double(), alphas_cumprod(cfg.betas()), atol=1e-6, rtol=0
    )
