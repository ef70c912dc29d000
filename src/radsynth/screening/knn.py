"""k-NN novelty score, shared by the anatomy part of the screen
(:mod:`radsynth.screening.screen`) and the novelty part of its projection-free part
(:mod:`radsynth.screening.consistency`): the mean Euclidean distance of a point to its ``k``
nearest reference points (Ramaswamy, Rastogi & Shim, "Efficient algorithms for mining outliers
from large data sets", SIGMOD 2000, with the mean over the ``k`` rather than the ``k``-th
distance). Its own module so that ``screen`` (which imports ``consistency``) and
``consistency`` both import it from below.
"""

from __future__ import annotations

import numpy as np


def knn_scores(
    queries: np.ndarray, base: np.ndarray, k: int, block_size: int = 1024, leave_one_out=False
) -> np.ndarray:
    """Mean Euclidean distance of each query row to its ``k`` nearest base rows.

    With ``leave_one_out`` the queries are the base itself and each row's own zero distance is
    left out. Memory is O(block_size x N).
    """
    base_sq = (base**2).sum(1)
    out = np.empty(len(queries))
    for q0 in range(0, len(queries), block_size):
        q = queries[q0 : q0 + block_size]
        d2 = (q**2).sum(1)[:, None] + base_sq[None, :] - 2.0 * q @ base.T
        if leave_one_out:
            d2[np.arange(len(q)), np.arange(q0, q0 + len(q))] = np.inf
        nearest = np.partition(d2, k - 1, axis=1)[:, :k]
        out[q0 : q0 + len(q)] = np.sqrt(np.maximum(nearest, 0.0)).mean(1)
    return out
