"""A collapse flag for a scored checkpoint: its samples look like a few images repeated.

Two signs, each with its threshold stated here (and in docs/training.md):

- **near-zero diversity**: the samples' mean pairwise distance in feature space is under
  :data:`MIN_DIVERSITY` of the real films' (:func:`radsynth.metrics.formulas.diversity_ratio`);
- **recall 0 with high precision**: the samples lie on the real manifold (precision at least
  :data:`HIGH_PRECISION`) but cover none of it (recall under :data:`ZERO_RECALL`;
  Kynkaanniemi et al. 2019) -- a few plausible images, the textbook picture of mode collapse.

A checkpoint whose samples are merely poor (low precision and low recall, as early in training)
is not flagged: that is not collapse.
"""

from __future__ import annotations

import math

#: Diversity ratio (synthetic over real mean pairwise feature distance) below which the samples
#: are called collapsed: they are at least 4 times closer to each other than real films are.
MIN_DIVERSITY = 0.25
#: Recall below which the samples cover (almost) none of the real manifold.
ZERO_RECALL = 0.01
#: Precision from which the samples count as lying on the real manifold.
HIGH_PRECISION = 0.5


def collapse_reason(diversity: float, precision: float, recall: float) -> str:
    """Why a checkpoint's samples look collapsed, or "" when they do not (NaN: no evidence)."""
    reasons = []
    if not math.isnan(diversity) and diversity < MIN_DIVERSITY:
        reasons.append(f"diversity {diversity:.2f} of the real films' (< {MIN_DIVERSITY:g})")
    # NaN compares False, so a missing precision or recall never flags.
    if recall < ZERO_RECALL and precision >= HIGH_PRECISION:
        reasons.append(f"recall {recall:.3f} with precision {precision:.2f}")
    return "; ".join(reasons)
