"""Distances between two sets of feature vectors: FID, KID and improved precision/recall.

Pure numpy/scipy on (N, D) arrays, so every formula can be checked on tiny hand-made inputs.
Features are computed in float64 whatever their input dtype.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg

#: Defaults of torch-fidelity 0.4.0 (``torch_fidelity.defaults``), kept so KID values agree.
KID_SUBSETS = 100  # number of random subsets averaged
KID_SUBSET_SIZE = 1000  # images per subset, capped at the smaller set size
KID_SEED = 2020  # seed of ``np.random.RandomState`` drawing the subsets


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and unbiased covariance (D, D) of (N, D) features, N >= 2."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"need (N, D) features with N >= 2, got shape {x.shape}")
    return x.mean(axis=0), np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1])


def sqrtm_psd(a: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix by eigendecomposition.

    Round-off makes sample covariances slightly indefinite; eigenvalues below zero are set to
    zero, so the result is always real and symmetric (no complex parts, no ``eps`` offsets).
    """
    sym = (a + a.T) / 2.0
    w, v = linalg.eigh(sym)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """tr((sigma1 sigma2)^(1/2)) for covariance matrices.

    Uses the similar symmetric matrix S = sigma1^(1/2) sigma2 sigma1^(1/2), whose eigenvalues
    equal those of sigma1 sigma2 and are real and non-negative, so tr(S^(1/2)) is the sum of
    their square roots. This is stable even for singular covariances (N < D).
    """
    root1 = sqrtm_psd(sigma1)
    s = root1 @ sigma2 @ root1
    w = linalg.eigvalsh((s + s.T) / 2.0)
    return float(np.sqrt(np.clip(w, 0.0, None)).sum())


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray
) -> float:
    """Fréchet distance between Gaussians N(mu1, sigma1) and N(mu2, sigma2).

    d^2 = |mu1 - mu2|^2 + tr(sigma1) + tr(sigma2) - 2 tr((sigma1 sigma2)^(1/2))
    (Dowson & Landau 1982; used as FID by Heusel et al., NeurIPS 2017).
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"shape mismatch: {mu1.shape} vs {mu2.shape}")
    diff = mu1 - mu2
    tr_covmean = trace_sqrt_product(sigma1, sigma2)
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)


def fid_from_features(x: np.ndarray, y: np.ndarray) -> float:
    """FID between two (N, D) feature sets (Heusel et al. 2017).

    With fewer samples than dimensions, the sample covariances are sigma = A^T A / (n - 1) for
    the centred (n, D) features A, and the non-zero eigenvalues of sigma_x sigma_y are the
    squared singular values of A_x A_y^T / sqrt((n_x - 1)(n_y - 1)). So tr((sigma_x sigma_y)^(1/2))
    is that (n_x, n_y) matrix's nuclear norm: exact, and cheaper than any D x D square root.
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if min(len(x), len(y)) >= x.shape[1]:
        return frechet_distance(*gaussian_stats(x), *gaussian_stats(y))
    if min(len(x), len(y)) < 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"need (N, D) features with N >= 2, got {x.shape} and {y.shape}")
    mu_x, mu_y = x.mean(axis=0), y.mean(axis=0)
    a_x, a_y = x - mu_x, y - mu_y
    cross = a_x @ a_y.T / np.sqrt((len(x) - 1) * (len(y) - 1))
    tr_covmean = float(linalg.svdvals(cross).sum())
    tr_x, tr_y = (a_x * a_x).sum() / (len(x) - 1), (a_y * a_y).sum() / (len(y) - 1)
    diff = mu_x - mu_y
    return float(diff @ diff + tr_x + tr_y - 2.0 * tr_covmean)


def polynomial_kernel(x: np.ndarray, y: np.ndarray, degree: int = 3, coef0: float = 1.0):
    """k(x, y) = (x . y / D + coef0)^degree, the KID kernel (Bińkowski et al. 2018)."""
    return (x @ y.T / x.shape[1] + coef0) ** degree


def mmd2_unbiased(k_xx: np.ndarray, k_xy: np.ndarray, k_yy: np.ndarray) -> float:
    """Unbiased MMD^2 estimate from kernel matrices of two size-m samples.

    MMD^2 = sum_{i!=j} k(x_i,x_j) / (m(m-1)) + sum_{i!=j} k(y_i,y_j) / (m(m-1))
            - 2 sum_{i,j} k(x_i,y_j) / m^2        (Gretton et al. 2012, Eq. 3 as in KID).
    """
    m = k_xx.shape[0]
    off_xx = k_xx.sum() - np.trace(k_xx)
    off_yy = k_yy.sum() - np.trace(k_yy)
    return float((off_xx + off_yy) / (m * (m - 1)) - 2.0 * k_xy.sum() / (m * m))


def kid(
    x: np.ndarray,
    y: np.ndarray,
    subsets: int = KID_SUBSETS,
    subset_size: int = KID_SUBSET_SIZE,
    seed: int = KID_SEED,
) -> tuple[float, float, int]:
    """Kernel Inception Distance: mean and std of unbiased MMD^2 over random subsets.

    Bińkowski et al., "Demystifying MMD GANs", ICLR 2018. Subsets are drawn without
    replacement, first from ``x`` then from ``y`` in each round, with one
    ``np.random.RandomState(seed)``; this is torch-fidelity's scheme, where ``x`` is the
    generated set (its ``input1``). The std is the population std over subsets (ddof=0).

    Returns:
        (kid_mean, kid_std, subset size used): the size is capped at min(len(x), len(y)).
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    m = min(subset_size, len(x), len(y))
    if m < 2:
        raise ValueError(f"KID needs at least 2 samples per set, got {len(x)} and {len(y)}")
    rng = np.random.RandomState(seed)
    values = np.empty(subsets)
    for i in range(subsets):
        xs = x[rng.choice(len(x), m, replace=False)]
        ys = y[rng.choice(len(y), m, replace=False)]
        k_xx, k_yy = polynomial_kernel(xs, xs), polynomial_kernel(ys, ys)
        values[i] = mmd2_unbiased(k_xx, polynomial_kernel(xs, ys), k_yy)
    return float(values.mean()), float(values.std()), m


def pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances (len(a), len(b)) in float64."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    d2 = (a * a).sum(axis=1)[:, None] + (b * b).sum(axis=1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.clip(d2, 0.0, None))


def mean_pairwise_distance(x: np.ndarray, max_n: int = 512, seed: int = 0) -> float:
    """Mean Euclidean distance between distinct rows of ``x`` (N, D); above ``max_n`` rows, over
    a seeded subset of ``max_n`` (the same rows for the same ``x`` and seed)."""
    x = np.asarray(x, np.float64)
    if len(x) > max_n:
        x = x[np.random.default_rng(seed).choice(len(x), size=max_n, replace=False)]
    n = len(x)
    if n < 2:
        raise ValueError("a mean pairwise distance needs at least 2 rows")
    return float(pairwise_distances(x, x).sum() / (n * (n - 1)))


def diversity_ratio(real: np.ndarray, fake: np.ndarray, max_n: int = 512, seed: int = 0) -> float:
    """How spread out the generated set is relative to the real one in feature space: the mean
    pairwise distance among generated samples over that among real samples (1: as diverse as
    the real films; near 0: the samples collapse onto a few points). The average pairwise
    distance as a diversity measure follows Mao et al., "Mode Seeking Generative Adversarial
    Networks", CVPR 2019 (there in LPIPS space)."""
    return mean_pairwise_distance(fake, max_n, seed) / mean_pairwise_distance(real, max_n, seed)


def knn_radii(x: np.ndarray, k: int = 3, chunk_rows: int = 1024) -> np.ndarray:
    """Distance from each row of ``x`` to its k-th nearest other row (self excluded).

    Rows are processed in chunks, so memory stays O(chunk_rows * N) for large sets.
    """
    if len(x) <= k:
        raise ValueError(f"k-NN radii with k={k} need more than {k} samples, got {len(x)}")
    radii = np.empty(len(x))
    for start in range(0, len(x), chunk_rows):
        d = pairwise_distances(x[start : start + chunk_rows], x)
        # Column k of the sorted row is the k-th neighbour, since column 0 is the point itself.
        radii[start : start + chunk_rows] = np.partition(d, k, axis=1)[:, k]
    return radii


def manifold_coverage(
    queries: np.ndarray, support: np.ndarray, k: int = 3, chunk_rows: int = 1024
) -> float:
    """Fraction of ``queries`` inside at least one k-NN ball around a ``support`` point."""
    radii = knn_radii(support, k, chunk_rows)
    inside = np.empty(len(queries), dtype=bool)
    for start in range(0, len(queries), chunk_rows):
        d = pairwise_distances(queries[start : start + chunk_rows], support)
        inside[start : start + chunk_rows] = (d <= radii[None, :]).any(axis=1)
    return float(inside.mean())


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al., NeurIPS 2019), k-NN radii, k=3.

    precision = fraction of generated samples inside the real manifold (union of k-NN balls
    around real samples); recall = fraction of real samples inside the generated manifold.
    """
    return manifold_coverage(fake, real, k), manifold_coverage(real, fake, k)
