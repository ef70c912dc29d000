"""The projection-independent part of the screen, learned from the user's own real films.

Three scores, cross-fitted on the held-out real films (the reference): two models, each fitted
on one half and scoring the other, so that every reference film gets a score from a model that
never saw it (cross-conformal calibration, Vovk, "Cross-conformal predictors", Ann. Math. Artif.
Intell. 2015) and a new film gets the mean of the two models' scores:

- **Layout consistency**: a softmax classifier, trained on the real films and their copies
  turned by 90, 180 and 270 degrees, mirrored, and mirrored and turned by 180 degrees (RotNet's
  pretext task: Gidaris, Singh & Komodakis, ICLR 2018; :mod:`radsynth.films.selfsup`). A plausible
  film is recognised as "as is"; a film that is upside down, on its side, has its sides swapped
  or one side mirrored onto the other (exactly symmetric: "as is" and "mirrored" tie) is not.
  Score: ``1 - P(as is)``.
- **Symmetry**: the same classifier's margin between "as is" and "mirrored",
  ``-|z_as_is - z_mirrored|``. Real radiographs are asymmetric (the heart, the stomach, the
  patient's facing), so a film with one side mirrored onto the other, which is exactly
  symmetric, has a margin near 0 where real films have a large one.
- **Novelty**: the mean Euclidean distance from the film's standardised 16 x 16 grid to its
  ``k`` nearest real films (k-NN novelty, :mod:`radsynth.screening.knn`), which sees
  halves swapped top-bottom or left-right and other gross re-arrangements.

Each score becomes a conformal p-value against the reference films' out-of-fold scores,
``p = (1 + #{cal >= s}) / (n + 1)``, continued beyond the largest calibration score by an
exponential tail fitted to the top tenth of the calibration scores (Coles, *An Introduction to
Statistical Modeling of Extreme Values*, 2001, sec. 4.2, shape 0). Without the tail the p-value
of every film beyond the largest calibration score is ``1 / (n + 1)``, and with several parts
the calibrated cut could equal that floor, so that nothing was flagged at all.
:mod:`radsynth.screening.screen` flags a film when its weighted minimum p-value
``min_j p_j / w_j`` (weighted Bonferroni, Genovese, Roeder & Wasserman, Biometrika 2006) falls
below the ``frr`` quantile of the same statistic on the reference films (each against the
others), which calibrates the combination as a whole.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import betainc

from radsynth.films.selfsup import (
    Film,
    Transform,
    _expand,
    features,
    fit_logistic,
    fit_temperature,
    logits,
    softmax,
)
from radsynth.screening.knn import knn_scores

#: The layouts the consistency classifier tells apart; index 0 is "as is".
LAYOUTS: tuple[Transform, ...] = (
    (False, 0, False),
    (False, 1, False),
    (False, 2, False),
    (False, 3, False),
    (False, 0, True),
    (False, 2, True),
)
#: Nearest real films averaged in the novelty score.
NOVELTY_K = 5


@dataclass(frozen=True)
class LayoutFold:
    """One fold's fitted model."""

    weights: np.ndarray  # (D + 1, len(LAYOUTS)) softmax regression
    temperature: float  # softmax temperature fitted on the other fold's transformed copies
    base: np.ndarray  # (n_fit, g*g) standardised grids of the films it was fitted on (novelty)


@dataclass(frozen=True)
class ConsistencyModel:
    """The fitted projection-free screen."""

    folds: tuple[LayoutFold, ...]  # two models, each fitted on one half of the reference
    calibration: np.ndarray  # (n_ref, 3) out-of-fold scores of every reference film


def _grids(films: list[Film]) -> np.ndarray:
    return np.stack([f.grid.ravel() for f in films])


def _fold_scores(fold: LayoutFold, films: list[Film]) -> np.ndarray:
    x = np.stack([features(f) for f in films])
    z = logits(fold.weights, x) / fold.temperature
    p_as_is = softmax(z)[:, 0]
    novelty = knn_scores(_grids(films), fold.base, min(NOVELTY_K, len(fold.base)))
    symmetry = -np.abs(z[:, 0] - z[:, LAYOUTS.index((False, 0, True))])
    return np.stack([1.0 - p_as_is, novelty, symmetry], axis=1)


def raw_scores(model: ConsistencyModel, films: list[Film]) -> np.ndarray:
    """(N, 3) scores (1 - P(as is), k-NN novelty, symmetry) of new films, the mean over the
    folds' models; higher = less plausible."""
    return np.mean([_fold_scores(fold, films) for fold in model.folds], axis=0)


def fit_consistency(reference: list[Film], seed: int = 0) -> ConsistencyModel:
    """Cross-fit on two seeded random halves of ``reference``: each half's model scores the
    other half (module docstring)."""
    order = np.random.default_rng(seed).permutation(len(reference))
    halves = (order[: len(order) // 2], order[len(order) // 2 :])
    folds, calibration = [], np.zeros((len(reference), 3))
    for fit_idx, cal_idx in (halves, halves[::-1]):
        fit = [reference[i] for i in fit_idx]
        cal = [reference[i] for i in cal_idx]
        x, y = _expand(fit, LAYOUTS)
        w = fit_logistic(x, y, len(LAYOUTS), 1e-2)
        xc, yc = _expand(cal, LAYOUTS)
        fold = LayoutFold(w, fit_temperature(logits(w, xc), yc), _grids(fit))
        calibration[cal_idx] = _fold_scores(fold, cal)
        folds.append(fold)
    return ConsistencyModel(tuple(folds), calibration)


def p_values(calibration: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Conformal p-values, column by column: (1 + #{cal >= s}) / (n_cal + 1). Shape of scores."""
    cal = np.sort(calibration, axis=0)
    n = len(cal)
    out = np.empty_like(scores, dtype=np.float64)
    for j in range(scores.shape[1]):
        at_least = n - np.searchsorted(cal[:, j], scores[:, j], side="left")
        out[:, j] = (1.0 + at_least) / (n + 1.0)
    return out


def min_p_threshold(
    calibration_min_p: np.ndarray, frr: float, confidence: float | None = None
) -> float:
    """The ``k``-th smallest calibration min-p, ``k = flag_slots(n, frr, confidence)`` (0 when
    ``k`` is 0): a new film is flagged when its min-p is strictly below it, so at most about
    ``frr`` of plausible films are (split-conformal, Vovk et al. 2005)."""
    k = flag_slots(len(calibration_min_p), frr, confidence)
    return 0.0 if k == 0 else float(np.sort(calibration_min_p)[k - 1])


def flag_slots(n: int, frr: float, confidence: float | None = None) -> int:
    """How many of ``n`` calibration scores may lie on the flagged side of the threshold.

    - ``confidence`` None: ``floor(frr (n + 1))``; the false-rejection rate is at most ``frr`` on
      average over draws of the calibration set (marginal validity).
    - ``confidence`` 1 - delta: the largest ``k`` with ``P(Beta(k, n + 1 - k) <= frr) >= 1 -
      delta``. The false-rejection rate of a threshold at the ``k``-th order statistic of ``n``
      exchangeable scores is distributed Beta(k, n + 1 - k), so it is at most ``frr`` with
      probability ``1 - delta`` over the draw of the calibration set (training-conditional
      validity; Vovk, "Conditional validity of inductive conformal predictors", ACML 2012).
    """
    if confidence is None:
        return int(np.floor(frr * (n + 1) + 1e-9))
    k = 0
    while k < n and betainc(k + 1, n - k, frr) >= confidence:
        k += 1
    return k


def tail_p_values(calibration: np.ndarray, scores: np.ndarray, tail: float = 0.1) -> np.ndarray:
    """Conformal p-values with an exponential tail (module docstring), column by column.

    Args:
        calibration: (n, J) calibration scores.
        scores: (N, J) scores of new films.
        tail: share of the largest calibration scores whose mean excess over the smallest of
            them is the tail's scale (at least 5 scores).

    Returns:
        (N, J) p-values; equal to :func:`p_values` up to the largest calibration score, then
        ``exp(-(s - max) / scale) / (n + 1)``.
    """
    out = p_values(calibration, scores)
    cal = np.sort(calibration, axis=0)
    top_n = min(len(cal), max(5, int(tail * len(cal))))
    for j in range(scores.shape[1]):
        top = cal[-top_n:, j]
        scale = max(float((top - top[0]).mean()), 1e-12)
        beyond = scores[:, j] > top[-1]
        out[beyond, j] = np.exp(-(scores[beyond, j] - top[-1]) / scale) / (len(cal) + 1.0)
    return out


def tail_p_values_loo(calibration: np.ndarray, tail: float = 0.1) -> np.ndarray:
    """Each calibration film's :func:`tail_p_values` against the other ``n - 1`` calibration
    films, on a new film's scale: denominator ``n + 1`` as for a new film, so a calibration
    film and a new film of the same rank tie (a denominator of n made new films' p-values
    smaller than equally ranked calibration films' and inflated the false rejections)."""
    n = len(calibration)
    out = np.empty_like(calibration, dtype=np.float64)
    for i in range(n):
        others = np.delete(calibration, i, axis=0)
        out[i] = tail_p_values(others, calibration[i : i + 1], tail)[0] * n / (n + 1.0)
    return out
