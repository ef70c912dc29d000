"""Which way a lateral film faces, learned from the collection itself (no labels).

1. **Anatomical prior** per image, a signed score whose sign says the orientation (the frontal
   heart-side prior below is kept for comparison in ``radsynth bench orient``):
   - *frontal*: centre on the thorax's symmetry axis (midpoint of the two outer body edges), then
     compare the lower-chest brightness right vs left of that axis. The heart is radio-opaque and
     lies on the patient's left, i.e. the image right in standard display.
   - *lateral*: the anterior half of the neck holds the dark airway and thin soft tissue, the
     posterior half holds the spinous processes and thick muscle, so the half that is darker
     around the spine's level is anterior (the direction the patient faces).
2. **Self-supervised refinement** on the input set itself. Each image's antisymmetric part
   ``A = (x - mirror(x)) / 2`` (on a coarse grid) changes sign exactly when the image is mirrored.
   Patient position (a horizontal shift by s) adds ``s * dS/dx`` to A, where ``S`` is the
   image's symmetric part; that component is projected out of A, which centres each image on its
   own symmetry axis to first order. A matched filter ``w = mean_i(y_i A_i)`` is then fitted to
   the prior's labels ``y_i`` and the labels are re-estimated as ``sign(A_i . w)``, a few times
   (hard-EM on a two-component mixture whose components are mirror images of each other). Since
   ``A`` flips sign with the mirror, the fit does not depend on how many inputs were mirrored.
3. **Confidence** per image: the posterior of the chosen side under an equal-variance Gaussian
   mixture of the final scores at ``+m`` and ``-m`` (Duda, Hart & Stork, *Pattern
   Classification*, 2nd ed., sec. 2.6): ``p = 1 / (1 + exp(-2 m |s| / sigma^2))``.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

# ---------------------------------------------------------------------------- priors


def _smooth(profile: np.ndarray, width: int) -> np.ndarray:
    return np.convolve(profile, np.ones(width) / width, mode="same")


def body_axis(img: np.ndarray) -> float:
    """Column (px) of a frontal chest film's symmetry axis: the midpoint of the strongest
    horizontal edge in each outer part of the column-intensity profile (the body outline)."""
    h, w = img.shape
    profile = _smooth(img[int(0.2 * h) : int(0.7 * h)].mean(0), max(3, w // 45))
    grad = np.abs(np.gradient(profile))
    margin, gap = max(2, w // 45), max(4, w // 11)
    left = margin + int(np.argmax(grad[margin : w // 2 - gap]))
    right = w // 2 + gap + int(np.argmax(grad[w // 2 + gap : w - margin]))
    return (left + right) / 2


def frontal_prior(img: np.ndarray) -> float:
    """Signed heart-side score of a frontal film: > 0 when the lower chest is brighter right of
    the body's symmetry axis (heart on the image right, standard display)."""
    h, w = img.shape
    c = int(round(body_axis(img)))
    band = img[int(0.45 * h) : int(0.85 * h)]
    gap, reach = max(1, w // 75), w // 4
    right = band[:, min(c + gap, w - 1) : min(c + reach, w)]
    left = band[:, max(c - reach, 0) : max(c - gap, 1)]
    return float(right.mean() - left.mean())


def lateral_prior(img: np.ndarray) -> float:
    """Signed facing score of a lateral film: > 0 when the anterior (darker: airway, thin soft
    tissue) half is on the image left, i.e. the patient faces left."""
    h, w = img.shape
    band = img[int(0.15 * h) : int(0.85 * h)]
    profile = band.mean(0)
    # The spine is the brightest column band; compare the halves on either side of it.
    spine = int(np.argmax(_smooth(profile, max(3, w // 8))[w // 5 : w - w // 5])) + w // 5
    reach = w // 3
    left = profile[max(spine - reach, 0) : max(spine - w // 20, 1)]
    right = profile[min(spine + w // 20, w - 1) : min(spine + reach, w)]
    return float(right.mean() - left.mean())


PRIORS = {"frontal": frontal_prior, "lateral": lateral_prior}


# ---------------------------------------------------------------- self-supervised filter


def antisymmetric_features(grid: np.ndarray) -> np.ndarray:
    """Shift-corrected antisymmetric part of coarse images, unit-normalised.

    Args:
        grid: (N, G, G) float images on the coarse grid.

    Returns:
        (N, G * G // 2) features; ``features(mirror(x)) == -features(x)``.
    """
    sym = (grid + grid[:, :, ::-1]) / 2
    anti = (grid - grid[:, :, ::-1]) / 2
    shift_pattern = np.gradient(sym, axis=2)  # what a small horizontal shift adds to `anti`
    half = grid.shape[2] // 2
    a = anti[:, :, half:].reshape(len(grid), -1).astype(np.float64)
    g = shift_pattern[:, :, half:].reshape(len(grid), -1).astype(np.float64)
    a -= ((a * g).sum(1) / ((g * g).sum(1) + 1e-12))[:, None] * g
    return a / (np.linalg.norm(a, axis=1, keepdims=True) + 1e-12)


def self_train(features: np.ndarray, prior: np.ndarray, iterations: int) -> np.ndarray:
    """Hard-EM matched filter: start from ``sign(prior)`` and alternate ``w = mean(y A)``,
    ``y = sign(A w)``. Returns the final signed scores (N,); > 0 agrees with the prior's
    convention."""
    labels = np.where(prior >= 0, 1.0, -1.0)
    scores = prior.astype(np.float64)
    for _ in range(iterations):
        w = (features * labels[:, None]).mean(0)
        scores = features @ w
        new = np.where(scores >= 0, 1.0, -1.0)
        if np.array_equal(new, labels):
            break
        labels = new
    return scores


def mixture_confidence(scores: np.ndarray) -> np.ndarray:
    """Posterior of the chosen sign under a two-Gaussian mixture at +-m with common variance:
    ``1 / (1 + exp(-2 m |s| / sigma^2))``."""
    mag = np.abs(scores)
    m = float(mag.mean())
    var = float(((mag - m) ** 2).mean()) if len(scores) > 1 else 0.0
    if m == 0.0:
        return np.full(len(scores), 0.5)
    var = max(var, 1e-6 * m * m)
    return 1.0 / (1.0 + np.exp(-2.0 * m * mag / var))


def analyse(img: np.ndarray, view: str, grid_px: int = 32) -> tuple[float, np.ndarray]:
    """One image's anatomical prior score and its (grid_px, grid_px) coarse copy."""
    return PRIORS[view](img), resize_grid(img, grid_px)


def detect(prior: np.ndarray, grid: np.ndarray, iterations: int = 10):
    """Detect the orientation of a set of images from :func:`analyse`'s outputs.

    Args:
        prior: (N,) prior scores.
        grid: (N, G, G) coarse images.

    Returns:
        (scores, confidence): (N,) arrays. ``scores > 0`` means facing left (lateral) or heart on
        the image right (frontal).
    """
    scores = self_train(antisymmetric_features(grid), np.asarray(prior), iterations)
    return scores, mixture_confidence(scores)


def resize_grid(img: np.ndarray, size: int) -> np.ndarray:
    pil = Image.fromarray(img.astype(np.float32), mode="F")
    return np.asarray(pil.resize((size, size), Image.Resampling.BOX), dtype=np.float32)
