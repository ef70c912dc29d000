"""Multiple-testing adjustment: Holm's step-down method, stated explicitly.

statsmodels' ``multipletests`` defaults to Holm-Sidak, which is *not* what the study reported;
this is plain Holm (1979), identical to R's ``p.adjust(p, "holm")``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def holm(p_values: Sequence[float]) -> tuple[float, ...]:
    """Holm (1979) adjusted p-values, like R ``p.adjust(p, method = "holm")``.

    Sorted ascending, the i-th smallest (1-based) becomes ``min(1, max_{j<=i} (n - j + 1) p_j)``.
    NaN entries are passed through and not counted in ``n``, as in R for NA.
    """
    finite = [(p, i) for i, p in enumerate(p_values) if not math.isnan(p)]
    n = len(finite)
    adjusted = [float("nan")] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(sorted(finite)):
        running = max(running, (n - rank) * p)
        adjusted[i] = min(1.0, running)
    return tuple(adjusted)
