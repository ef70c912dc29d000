"""FID, KID and precision/recall formulas on tiny hand-checkable inputs and against direct
implementations written out here."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import linalg

from radsynth.metrics import formulas


def test_fid_monai_example() -> None:
    # MONAI's FID test: means (1, 2) and (4/3, 2), covariances 0 and diag(1/3, 0):
    # |dmu|^2 = 1/9, tr(sigma2) = 1/3, cross term 0 -> 4/9.
    x = np.array([[1.0, 2.0], [1.0, 2.0], [1.0, 2.0]])
    y = np.array([[2.0, 2.0], [1.0, 2.0], [1.0, 2.0]])
    assert formulas.fid_from_features(x, y) == pytest.approx(4 / 9, abs=1e-12)
    assert formulas.frechet_distance(*formulas.gaussian_stats(x), *formulas.gaussian_stats(y)) == (
        pytest.approx(0.4444, abs=1e-4)
    )


def test_fid_one_dimensional_closed_form() -> None:
    # For 1-D Gaussians the Fréchet distance is (m1 - m2)^2 + (s1 - s2)^2.
    d = formulas.frechet_distance(
        np.array([1.0]), np.array([[4.0]]), np.array([3.0]), np.array([[9.0]])
    )
    assert d == pytest.approx((1 - 3) ** 2 + (2 - 3) ** 2)


def test_fid_low_rank_path_equals_covariance_path() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(7, 12)), rng.normal(0.3, 1.5, size=(9, 12))
    direct = formulas.frechet_distance(*formulas.gaussian_stats(x), *formulas.gaussian_stats(y))
    # N < D: the D x D path carries sqrt(round-off) of the 6 zero eigenvalues, whose size
    # depends on the BLAS kernel: measured 4e-9 to 1.1e-8 relative (OpenBLAS SkylakeX, Haswell,
    # Sandybridge, Nehalem kernels), bounded by about 6 sqrt(12 eps) / FID = 3e-8.
    assert formulas.fid_from_features(x, y) == pytest.approx(direct, rel=1e-6)
    # FID(x, x) cancels tr(S) + tr(S) - 2 tr(S): zero up to round-off relative to that scale.
    scale = 2.0 * x.var(axis=0, ddof=1).sum()
    assert abs(formulas.fid_from_features(x, x)) <= 1e-12 * scale


def test_trace_sqrt_product_against_scipy_sqrtm() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(40, 6)), rng.normal(size=(30, 6))
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    expected = np.trace(linalg.sqrtm(s1 @ s2)).real
    assert formulas.trace_sqrt_product(s1, s2) == pytest.approx(expected, rel=1e-9)
    root = formulas.sqrtm_psd(s1)
    assert np.allclose(root @ root, s1)


def test_fid_needs_two_samples() -> None:
    with pytest.raises(ValueError, match="N >= 2"):
        formulas.gaussian_stats(np.zeros((1, 3)))


def test_kid_by_hand() -> None:
    # D = 1, k(a, b) = (a b + 1)^3; x = {0, 1}, y = {1, 2}, one subset of both points:
    # off-diagonal sums: k_xx 2 * 1, k_yy 2 * 27; k_xy 1 + 1 + 8 + 27 = 37
    # MMD^2 = (2 + 54) / (2 * 1) - 2 * 37 / 4 = 28 - 18.5 = 9.5
    mean, std, m = formulas.kid(np.array([[0.0], [1.0]]), np.array([[1.0], [2.0]]), subsets=1)
    assert (mean, std, m) == (pytest.approx(9.5), 0.0, 2)


def _kid_naive(x, y, subsets, size, seed):
    """KID written out with explicit loops over pairs (Bińkowski et al. 2018, Eq. 5)."""
    rng = np.random.RandomState(seed)
    d = x.shape[1]
    values = []
    for _ in range(subsets):
        xs = x[rng.choice(len(x), size, replace=False)]
        ys = y[rng.choice(len(y), size, replace=False)]

        def k(a, b):
            return (float(np.dot(a, b)) / d + 1.0) ** 3

        same = sum(
            k(xs[i], xs[j]) + k(ys[i], ys[j]) for i, j in itertools.permutations(range(size), 2)
        )
        cross = sum(k(xs[i], ys[j]) for i in range(size) for j in range(size))
        values.append(same / (size * (size - 1)) - 2 * cross / size**2)
    return float(np.mean(values)), float(np.std(values))


def test_kid_against_naive_loops() -> None:
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(15, 4)), rng.normal(0.5, 1.0, size=(12, 4))
    mean, std, m = formulas.kid(x, y, subsets=5, subset_size=6, seed=7)
    ref_mean, ref_std = _kid_naive(x, y, 5, 6, 7)
    assert m == 6
    assert mean == pytest.approx(ref_mean, rel=1e-12)
    assert std == pytest.approx(ref_std, rel=1e-10)
    # The subset size is capped at the smaller set.
    assert formulas.kid(x, y, subsets=2)[2] == 12


def test_precision_recall_by_hand() -> None:
    # k = 1: real points 0, 1, 2, 3 on a line have radius 1 each; generated 0.5 and 10 have
    # radius 9.5 each. Precision: 0.5 is within 1 of 0, 10 is not -> 1/2. Recall: every real
    # point is within 9.5 of 0.5 -> 1.
    real = np.array([[0.0], [1.0], [2.0], [3.0]])
    fake = np.array([[0.5], [10.0]])
    assert formulas.precision_recall(real, fake, k=1) == (0.5, 1.0)


def test_precision_recall_against_brute_force() -> None:
    rng = np.random.default_rng(3)
    real, fake = rng.normal(size=(30, 5)), rng.normal(0.8, 1.0, size=(25, 5))

    def coverage(queries, support, k):
        radii = [sorted(np.linalg.norm(support - s, axis=1))[k] for s in support]
        inside = [any(np.linalg.norm(q - s) <= r for s, r in zip(support, radii, strict=True))
                  for q in queries]  # fmt: skip
        return float(np.mean(inside))

    p, r = formulas.precision_recall(real, fake, k=3)
    assert (p, r) == (coverage(fake, real, 3), coverage(real, fake, 3))
    # Chunking changes memory use, not the answer.
    assert formulas.manifold_coverage(fake, real, 3, chunk_rows=7) == p
    assert 0 < p < 1 and 0 < r <= 1
