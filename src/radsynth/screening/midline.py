"""Left-right symmetry and layout of a film: two scores that need no fitting, only calibration.

Both are measured on the film's content (rows and columns at the border that are constant, such
as letterbox padding, are cut off first), shrunk to ``WORK_PX`` pixels across.

- **Mirror symmetry** (one side mirrored onto the other): the largest Pearson correlation, over
  vertical axes in the middle ``AXIS_RANGE`` of the width, between the band-passed film left of
  the axis and the band-passed film right of it, mirrored. The band pass (a difference of
  Gaussians, Marr & Hildreth, Proc. R. Soc. B 1980) keeps the ribs, vessels, heart border and
  markers, which real films carry asymmetrically, and removes the coarse body outline, which is
  nearly symmetric in every chest film. A film built from one side and its mirror image scores
  1 (exactly, for a planted one); real films score far less.
- **Midline** (halves swapped left-right): where the spine and mediastinum sit, and whether the
  middle is continuous. In a real frontal film the brightest column band (spine, mediastinum,
  heart) is in the middle and the edges are darker (lungs' outer parts, soft tissue, air); its
  two middle columns are neighbours and its two edge columns show unrelated anatomy. Swapping
  the halves puts the mediastinum at the edges, makes the edge columns neighbours and the middle
  a seam between the former edges. Score: (mean brightness of the outer ``EDGE_SHARE`` of the
  columns minus that of the central ``EDGE_SHARE``, over the middle ``1 - 2 ROW_MARGIN`` of the
  rows, in film standard deviations) plus (correlation of the two edge columns minus that of the
  two middle columns, each column high-passed along its rows so that only the row-to-row
  structure, ribs and vertebrae, counts). Both terms change sign when the halves are swapped;
  on paediatric films the sum is below -1.5, on their swapped copies above +1.5.

A constant column has no correlation with anything: its correlation counts as 0.

The screen (:mod:`radsynth.screening.screen`) turns each score into a p-value against the
reference films' scores, continued beyond the largest of them by the exponential tail of
:func:`radsynth.screening.consistency.tail_p_values`, and flags a film when either p-value is
below half the test's false-rejection budget (Bonferroni over the two scores).

**Paired test** (issue 27). A tail fitted to a small reference cannot certify a 0.25% budget
(with 30 films, a halves-swapped film needed a midline score above about 3 to reach it). The
midline score has a physical sign instead: the screen uses its antisymmetrised form
``d(x) = (m(x) - m(swap(x))) / 2`` (:func:`paired_midline_score`; equal to ``m(x)`` for an
even width, where ``m(swap(x)) = -m(x)`` exactly), so ``d > 0`` says "the film looks more
halves-swapped than its own halves-swapped copy". A film is also flagged when ``d > 0`` and
``d`` is above every reference film's ``d``. If a share ``q`` of a source's plausible films
have ``d > 0``, a plausible film exchangeable with ``n`` reference films is flagged by this rule
with probability exactly ``(1 - (1 - q) ** (n + 1)) / (n + 1)`` (the largest of ``n + 1``
exchangeable scores is equally likely to be any of them, whatever the event "the largest is
above 0"; continuous scores), which is at most ``q`` and at most ``1 / (n + 1)``. On the
paediatric films ``q`` is 0/3,285 (exact 95% upper bound 0.11%). A source whose reference
holds films with ``d > 0`` shows it (``midline_reference_swapped_side`` in threshold.json),
and the rule then flags only beyond them.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter, gaussian_filter1d

from radsynth.screening.consistency import tail_p_values

#: Width (and height) in pixels the film's content is shrunk to before scoring.
WORK_PX = 64
#: Share of the width, centred, in which the symmetry axis is searched.
AXIS_RANGE = 0.4
#: Difference-of-Gaussians sigmas in pixels at WORK_PX: detail kept, outline removed.
BAND_SIGMAS_PX = (0.7, 2.0)
#: Sigma in pixels of the along-row smoothing removed from each column (midline score).
ROW_SIGMA_PX = 3.0
#: Share of the width (both sides together) whose brightness is compared with the centre's.
EDGE_SHARE = 0.1
#: Share of the height left out at the top and at the bottom in the brightness profile.
ROW_MARGIN = 0.15
#: A border row or column is padding when its standard deviation is below this share of the
#: film's intensity range.
FLAT_TOLERANCE = 1e-3


def content(img: np.ndarray) -> np.ndarray:
    """The film without constant border rows and columns (padding); the film itself if all of
    it is constant."""
    x = np.asarray(img, dtype=np.float64)
    tol = FLAT_TOLERANCE * max(float(x.max() - x.min()), 1e-12)
    cols = np.flatnonzero(x.std(axis=0) > tol)
    rows = np.flatnonzero(x.std(axis=1) > tol)
    if len(cols) < 2 or len(rows) < 2:
        return x
    return x[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _shrink(x: np.ndarray) -> np.ndarray:
    pil = Image.fromarray(np.ascontiguousarray(x), mode="F")
    return np.asarray(pil.resize((WORK_PX, WORK_PX), Image.Resampling.BOX), dtype=np.float64)


def working_copy(img: np.ndarray) -> np.ndarray:
    """(WORK_PX, WORK_PX) float64 copy of the film's content, standardised (zero mean, unit
    standard deviation; all zeros for a constant film)."""
    x = content(img).astype(np.float32)
    # PIL's box filter is not mirror-equivariant at a non-integer scale (an exactly symmetric
    # 96 px film came out with correlation 0.95); the mean of the film's and its mirror's
    # resampling, mirrored back, is.
    w = 0.5 * (_shrink(x) + _shrink(x[:, ::-1])[:, ::-1])
    return (w - w.mean()) / (w.std() + 1e-12)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two equally shaped arrays; 0 when either is constant."""
    a, b = a - a.mean(), b - b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 1e-12 else 0.0


def mirror_score(img: np.ndarray) -> float:
    """Largest correlation of the band-passed film with its mirror image about a vertical axis
    (module docstring); in [-1, 1], 1 for an exactly symmetric film."""
    x = working_copy(img)
    lo, hi = BAND_SIGMAS_PX
    band = gaussian_filter(x, lo, mode="reflect") - gaussian_filter(x, hi, mode="reflect")
    w = band.shape[1]
    first = int(round(w * (0.5 - AXIS_RANGE / 2)))
    best = -1.0
    for axis in range(first, w - first + 1):
        # Axis between columns axis-1 and axis (even), and through column axis (odd).
        for gap in (0, 1):
            half = min(axis, w - axis - gap)
            if half < 4:
                continue
            left = band[:, axis - half : axis][:, ::-1]
            right = band[:, axis + gap : axis + gap + half]
            best = max(best, _corr(left, right))
    return best


def swap_halves_lr(img: np.ndarray) -> np.ndarray:
    """The film with its left and right halves swapped (the right ``W - W // 2`` columns
    first)."""
    h = img.shape[1] // 2
    return np.concatenate([img[:, h:], img[:, :h]], axis=1)


def midline_score(img: np.ndarray) -> float:
    """Brightness of the edges minus the centre, plus continuity across the edges minus across
    the middle (module docstring); high = halves swapped left-right."""
    x = working_copy(img)
    h, w = x.shape
    k = max(1, int(round(EDGE_SHARE * w / 2)))
    profile = x[int(ROW_MARGIN * h) : h - int(ROW_MARGIN * h)].mean(axis=0)
    mid = w // 2
    layout = 0.5 * (profile[:k].mean() + profile[-k:].mean()) - profile[mid - k : mid + k].mean()
    detail = x - gaussian_filter1d(x, ROW_SIGMA_PX, axis=0, mode="reflect")
    edges = _corr(detail[:, 0], detail[:, -1])
    middle = _corr(detail[:, mid - 1], detail[:, mid])
    return float(layout) + edges - middle


def paired_midline_score(img: np.ndarray) -> float:
    """``(m(x) - m(swap(x))) / 2`` with ``m`` :func:`midline_score` and ``swap``
    :func:`swap_halves_lr`: exactly antisymmetric under the swap for an even width; above 0
    when the film looks more halves-swapped than its own swapped copy (module docstring)."""
    return 0.5 * (midline_score(img) - midline_score(swap_halves_lr(img)))


def midline_scores(films: list[np.ndarray]) -> np.ndarray:
    """(N, 2) scores (mirror symmetry, paired midline) of float (H, W) films; higher = less
    plausible."""
    rows = [[mirror_score(f), paired_midline_score(f)] for f in films]
    return np.array(rows, dtype=np.float64).reshape(len(films), 2)


def paired_flags(reference: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """(N,) bool: the paired midline score is above 0 (the physical sign: more swapped than
    its own swapped copy) and above every reference film's (module docstring).

    Args:
        reference: (n,) paired midline scores of the reference films.
        scores: (N,) paired midline scores of the films screened.
    """
    top = float(np.max(reference)) if len(reference) else -np.inf
    return (scores > 0.0) & (scores > top)


def midline_flags(
    reference: np.ndarray, scores: np.ndarray, frr: float, paired: bool = True
) -> np.ndarray:
    """(N,) bool: a film is flagged when the tail p-value of either of its two scores against
    the reference films' scores is below ``frr / 2`` or, with ``paired``, by
    :func:`paired_flags` on the midline score.

    Args:
        reference: (n, 2) :func:`midline_scores` of the reference (real) films.
        scores: (N, 2) :func:`midline_scores` of the films screened.
        frr: this test's false-rejection budget (0-1), split evenly over the two scores.
        paired: add the paired test of the midline score (no reference tail needed).
    """
    flags = (tail_p_values(reference, scores) < frr / 2).any(axis=1)
    if paired:
        flags |= paired_flags(reference[:, 1], scores[:, 1])
    return flags
