"""Which transform turned this film out of its collection's canonical form? Label-free.

A collection of radiographs is mostly stored one way (positive polarity, upright, standard
side). Given a group of image transforms ``T_0 = identity, T_1, ..., T_{K-1}`` (inversion,
rotations by 90/180/270 degrees, the mirror), a classifier is trained to tell ``T_k(x)`` from
the other transforms of the same film, using the collection's own films as the canonical
examples: the pretext task of RotNet (Gidaris, Singh & Komodakis, "Unsupervised Representation
Learning by Predicting Image Rotations", ICLR 2018), used here directly as the detector. A film
whose most probable transform is ``T_k`` with ``k != 0`` is a film that was stored transformed.

Three things make that hold on a new collection:

- **Hard EM** (as in :mod:`radsynth.screening.orient`): start from labels given by hand-made
  cues (or "all canonical"), canonicalise each film by its label's inverse, train on the
  canonicalised films and all their transforms, relabel, repeat. Because the classes are images
  of each other under the group, the fit does not need the canonical films to be a large
  majority, only the starting labels to be mostly right.
- **Cross-fitting**: each film is scored by a model that never saw it (k folds), so a wrong
  label cannot confirm itself.
- **Calibration**: the softmax is temperature-scaled (Guo et al., "On Calibration of Modern
  Neural Networks", ICML 2017) on the held-out folds' transformed copies, whose labels are known.

The features are a film's coarse grid (shrunk to ``grid x grid``, standardised to zero mean and
unit variance: a learned linear template, which covers the hand-made spatial cues such as "the
mediastinum is brighter than the lung fields", collimator bands and markers) and the symmetric
quantiles of its standardised intensities (the histogram's shape). Both transform exactly under
the group: inversion negates the grid and maps quantile ``p`` to minus quantile ``1 - p``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy.optimize import minimize, minimize_scalar

#: Probabilities of the histogram-shape quantiles (symmetric about 1/2, so inversion maps them).
QUANTILES = np.linspace(0.02, 0.98, 17)


@dataclass(frozen=True)
class Film:
    """A film's coarse representation: standardised grid (g, g) and quantiles (len(QUANTILES),)."""

    grid: np.ndarray
    quantiles: np.ndarray


def represent(img: np.ndarray, grid_px: int = 16) -> Film:
    """The :class:`Film` of a float (H, W) image; the content is stretched to a square."""
    x = np.asarray(img, dtype=np.float32)
    mu, sd = float(x.mean()), float(x.std()) + 1e-6
    pil = Image.fromarray(x, mode="F").resize((grid_px, grid_px), Image.Resampling.BOX)
    g = (np.asarray(pil, dtype=np.float64) - mu) / sd
    q = (np.quantile(x, QUANTILES) - mu) / sd
    return Film(grid=g, quantiles=q)


# A transform is (invert, quarter turns counter-clockwise, mirror), applied mirror first.
Transform = tuple[bool, int, bool]
POLARITY_ROTATION: tuple[Transform, ...] = tuple(
    (inv, k, False) for inv in (False, True) for k in range(4)
)


def apply(film: Film, t: Transform) -> Film:
    """``T(film)`` for t = (invert, quarter turns, mirror)."""
    invert, turns, mirror = t
    g, q = film.grid, film.quantiles
    if mirror:
        g = g[:, ::-1]
    g = np.rot90(g, turns)
    if invert:
        g, q = -g, -q[::-1]
    return Film(grid=np.ascontiguousarray(g), quantiles=q)


def undo(film: Film, t: Transform) -> Film:
    """``T^{-1}(film)``: undo inversion, then the rotation, then the mirror."""
    invert, turns, mirror = t
    f = apply(film, (invert, 0, False))
    f = Film(grid=np.ascontiguousarray(np.rot90(f.grid, -turns)), quantiles=f.quantiles)
    return apply(f, (False, 0, mirror))


def features(film: Film) -> np.ndarray:
    """Grid and quantile blocks, each scaled to about the same norm. Shape (g*g + 17,)."""
    g = film.grid.ravel()
    return np.concatenate([g, film.quantiles * np.sqrt(g.size / film.quantiles.size)])


# ------------------------------------------------------------ multinomial logistic regression


def fit_logistic(x: np.ndarray, y: np.ndarray, n_classes: int, l2: float) -> np.ndarray:
    """L2-regularised softmax regression; returns W of shape (D + 1, K) (last row: bias)."""
    xb = np.hstack([x, np.ones((len(x), 1))])
    onehot = np.eye(n_classes)[y]

    def loss(flat: np.ndarray) -> tuple[float, np.ndarray]:
        w = flat.reshape(xb.shape[1], n_classes)
        z = xb @ w
        z -= z.max(1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(1, keepdims=True))
        reg = 0.5 * l2 * float((w[:-1] ** 2).sum())
        grad = xb.T @ (np.exp(logp) - onehot) / len(x)
        grad[:-1] += l2 * w[:-1]
        return float(-(onehot * logp).sum() / len(x)) + reg, grad.ravel()

    w0 = np.zeros(xb.shape[1] * n_classes)
    res = minimize(loss, w0, jac=True, method="L-BFGS-B", options={"maxiter": 300})
    return res.x.reshape(xb.shape[1], n_classes)


def logits(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """(N, K) class logits of rows x (N, D)."""
    return x @ w[:-1] + w[-1]


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def fit_temperature(z: np.ndarray, y: np.ndarray) -> float:
    """The temperature T > 0 minimising the NLL of softmax(z / T) (Guo et al. 2017)."""

    def nll(log_t: float) -> float:
        p = softmax(z / np.exp(log_t))
        return float(-np.log(p[np.arange(len(y)), y] + 1e-12).mean())

    return float(np.exp(minimize_scalar(nll, bounds=(-4.0, 4.0), method="bounded").x))


# ---------------------------------------------------------------------- the detector


@dataclass(frozen=True)
class TransformFit:
    """Per-film result of :func:`detect_transforms`."""

    probs: np.ndarray  # (N, K) calibrated P(film = T_k(canonical))
    labels: np.ndarray  # (N,) argmax
    temperature: float  # the fitted softmax temperature (mean over folds)


def _expand(films: list[Film], ts: tuple[Transform, ...]) -> tuple[np.ndarray, np.ndarray]:
    x = np.stack([features(apply(f, t)) for f in films for t in ts])
    return x, np.tile(np.arange(len(ts)), len(films))


def detect_transforms(
    films: list[Film],
    ts: tuple[Transform, ...],
    init: np.ndarray,
    *,
    folds: int = 5,
    rounds: int = 3,
    l2: float = 1e-2,
    max_train: int = 600,
    seed: int = 0,
) -> TransformFit:
    """Cross-fitted hard-EM transform classifier (module docstring).

    Args:
        films: the collection, from :func:`represent`.
        ts: the transform group; ``ts[0]`` must be the identity.
        init: (N,) starting labels (indices into ``ts``).
        folds: cross-fitting folds (at least 2, at most N).
        rounds: EM rounds; stops early when the labels stop changing.
        l2: ridge penalty of the softmax regression.
        max_train: at most this many films (a seeded random subset) train each fold's model,
            which bounds the time on large collections.
        seed: seed of the fold assignment and of the training subsets.

    Returns:
        The calibrated probabilities and labels.
    """
    n, k = len(films), len(ts)
    folds = max(2, min(folds, n))
    rng = np.random.default_rng(seed)
    fold = rng.permutation(n) % folds
    subset = rng.permutation(n) < max_train * folds / max(folds - 1, 1)
    labels = np.asarray(init, dtype=int).copy()
    probs, temps = np.zeros((n, k)), []
    for _ in range(max(1, rounds)):
        canon = [undo(f, ts[lab]) for f, lab in zip(films, labels, strict=True)]
        own = np.stack([features(f) for f in films])
        probs, temps = np.zeros((n, k)), []
        for j in range(folds):
            out = fold == j
            train = ~out & subset
            x, y = _expand([c for c, t in zip(canon, train, strict=True) if t], ts)
            w = fit_logistic(x, y, k, l2)
            xh, yh = _expand([c for c, o in zip(canon, out, strict=True) if o], ts)
            temp = fit_temperature(logits(w, xh), yh)
            temps.append(temp)
            probs[out] = softmax(logits(w, own[out]) / temp)
        new = probs.argmax(1)
        if np.array_equal(new, labels):
            break
        labels = new
    return TransformFit(probs=probs, labels=probs.argmax(1), temperature=float(np.mean(temps)))
