"""The projection-independent part of the screen, learned from the user's own real films.

Two scores, both fitted on one half of the held-out real films (the reference) and calibrated
on the other half, so that the calibration films are new to the model as screened films are:

- **Layout consistency**: a softmax classifier, trained on the real films and their copies
  turned by 90, 180 and 270 degrees, mirrored, and mirrored and turned by 180 degrees (RotNet's
  pretext task: Gidaris, Singh & Komodakis, ICLR 2018; :mod:`radsynth.data.selfsup`). A plausible
  film is recognised as "as is"; a film that is upside down, on its side, has its sides swapped
  or one side mirrored onto the other (exactly symmetric: "as is" and "mirrored" tie) is not.
  Score: ``1 - P(as is)``.
- **Symmetry**: the same classifier's margin between "as is" and "mirrored",
  ``-|z_as_is - z_mirrored|``. Real radiographs are asymmetric (the heart, the stomach, the
  patient's facing), so a film with one side mirrored onto the other, which is exactly
  symmetric, has a margin near 0 where real films have a large one.
- **Novelty**: the mean Euclidean distance from the film's standardised 16 x 16 grid to its
  ``k`` nearest real films (k-NN novelty, as in :mod:`radsynth.screening.screen`), which sees
  halves swapped top-bottom or left-right and other gross re-arrangements.

Each score becomes a conformal p-value against the calibration half, ``p = (1 + #{cal >= s}) /
(n_cal + 1)`` (Vovk et al. 2005); :mod:`radsynth.screening.screen` flags a film when the smallest
p-value of all its parts falls below the ``frr`` quantile of the same statistic on the
calibration films (each against the others), which calibrates the combination as a whole
instead of splitting ``frr`` between the parts (Bonferroni would cost recall).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from radsynth.data.selfsup import (
    Film,
    Transform,
    _expand,
    features,
    fit_logistic,
    fit_temperature,
    logits,
    softmax,
)

#: The layouts the consistency classifier tells apart; index 0 is "as is".
LAYOUTS: tuple[Transform, ...] = (
    (False, 0, False), (False, 1, False), (False, 2, False), (False, 3, False),
    (False, 0, True), (False, 2, True),
)  # fmt: skip
#: Nearest real films averaged in the novelty score.
NOVELTY_K = 5


@dataclass(frozen=True)
class ConsistencyModel:
    """The fitted projection-free screen."""

    weights: np.ndarray  # (D + 1, len(LAYOUTS)) softmax regression
    temperature: float  # softmax temperature fitted on the calibration half
    base: np.ndarray  # (n_fit, g*g) standardised grids of the fitting half (novelty)
    calibration: np.ndarray  # (n_cal, 3) scores of the calibration half
    calibration_index: np.ndarray  # (n_cal,) positions of the calibration films in the reference


def _grids(films: list[Film]) -> np.ndarray:
    return np.stack([f.grid.ravel() for f in films])


def raw_scores(model: ConsistencyModel, films: list[Film]) -> np.ndarray:
    """(N, 3) scores (1 - P(as is), k-NN novelty, symmetry); higher = less plausible."""
    from radsynth.screening.screen import knn_scores  # screen imports this module

    x = np.stack([features(f) for f in films])
    z = logits(model.weights, x) / model.temperature
    p_as_is = softmax(z)[:, 0]
    novelty = knn_scores(_grids(films), model.base, min(NOVELTY_K, len(model.base)))
    symmetry = -np.abs(z[:, 0] - z[:, LAYOUTS.index((False, 0, True))])
    return np.stack([1.0 - p_as_is, novelty, symmetry], axis=1)


def fit_consistency(reference: list[Film], seed: int = 0) -> ConsistencyModel:
    """Fit on a seeded random half of ``reference`` and calibrate on the other half."""
    order = np.random.default_rng(seed).permutation(len(reference))
    half = len(reference) // 2
    fit = [reference[i] for i in order[half:]]
    cal = [reference[i] for i in order[:half]]
    x, y = _expand(fit, LAYOUTS)
    w = fit_logistic(x, y, len(LAYOUTS), 1e-2)
    xc, yc = _expand(cal, LAYOUTS)
    temperature = fit_temperature(logits(w, xc), yc)
    model = ConsistencyModel(w, temperature, _grids(fit), np.zeros((0, 3)), order[:half])
    return ConsistencyModel(w, temperature, model.base, raw_scores(model, cal), order[:half])


def p_values(calibration: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Conformal p-values, column by column: (1 + #{cal >= s}) / (n_cal + 1). Shape of scores."""
    cal = np.sort(calibration, axis=0)
    n = len(cal)
    out = np.empty_like(scores, dtype=np.float64)
    for j in range(scores.shape[1]):
        at_least = n - np.searchsorted(cal[:, j], scores[:, j], side="left")
        out[:, j] = (1.0 + at_least) / (n + 1.0)
    return out


def p_values_loo(calibration: np.ndarray) -> np.ndarray:
    """Each calibration film's p-value against the other calibration films, on the same scale
    as a new film's (:func:`p_values`): (1 + #{others >= s}) / (n + 1), column by column. With
    the same denominator, a calibration film and a new film of the same rank tie, and the strict
    comparison in screen keeps the tie unflagged (a denominator of n made new films' p-values
    smaller than equally ranked calibration films' and inflated the false rejections)."""
    n = len(calibration)
    cal = np.sort(calibration, axis=0)
    out = np.empty_like(calibration, dtype=np.float64)
    for j in range(calibration.shape[1]):
        out[:, j] = (n - np.searchsorted(cal[:, j], calibration[:, j], side="left")) / (n + 1.0)
    return out


def min_p_threshold(calibration_min_p: np.ndarray, frr: float) -> float:
    """The ``floor(frr (n + 1))``-th smallest calibration min-p (0 when that is 0): a new film
    is flagged when its min-p is strictly below it, so at most about ``frr`` of plausible films
    are (split-conformal, Vovk et al. 2005)."""
    k = int(np.floor(frr * (len(calibration_min_p) + 1) + 1e-9))
    return 0.0 if k == 0 else float(np.sort(calibration_min_p)[k - 1])


def tail_scale(calibration: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column, the calibration median and the spread from the median to the 95th
    percentile (floored at 1e-9): the affine map that puts every part on one scale."""
    med = np.median(calibration, axis=0)
    spread = np.maximum(np.percentile(calibration, 95, axis=0) - med, 1e-9)
    return med, spread


def combined_score(calibration: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Max over parts of ``(s - median) / spread`` (:func:`tail_scale` of the calibration
    films). Shape (N,). Unlike the minimum of rank p-values, this keeps growing beyond the
    largest calibration score, so its conformal cut never collapses onto the smallest attainable
    p-value ``1 / (n + 1)`` (with 90 calibration films and four parts the old cut did, and then
    nothing at all could be flagged)."""
    med, spread = tail_scale(calibration)
    return ((scores - med) / spread).max(1)
