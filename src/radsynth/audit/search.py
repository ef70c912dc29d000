"""Blockwise cosine top-k search: exact, in bounded memory, for 100k x 100k sets.

imagededup (used in the study) compares images within one set and materialises a dense N x N
similarity matrix; here queries and base are separate sets and the similarity matrix is never
held whole. Queries and base are cut into blocks of ``block_size`` rows; each (query block, base
block) product ``Q_b @ B_b^T`` is merged into a running top-k per query.

Ranking does not depend on the BLAS kernel. A matrix product's float sums run in an order that
depends on the kernel (AVX2 vs AVX-512) and on where a column falls in the block, so two equal
base rows can get similarities that differ in the last bit, and which of them wins would then
depend on the machine and on ``block_size``. Both paths here therefore normalise and multiply
in float64 (error below ~1e-13 for D <= 4096) and round every similarity to
``SIMILARITY_DECIMALS`` = 7 decimal places (about the resolution of float32 features, so no
real difference is lost) before ranking by (-similarity, base index): equal similarities are
equal bit for bit, and the lower base index wins.

Memory beyond the caller's features: their unit-normalised float64 copies, ``8 (Q + N) D``
bytes, one similarity block of ``8 block_size^2`` bytes, and the running top-k, ``16 Q k``
bytes: **O((Q + N) D + block_size^2)**, at most O(block_size x N) for the similarity part (k > 1
adds a few (block_size, block_size + k) sort buffers). E.g. 100k x 100k, D = 768, block 4096:
1.2 GB of normalised features + 134 MB for the block.
"""

from __future__ import annotations

import numpy as np

from radsynth.errors import RadsynthError

SIMILARITY_DECIMALS = 7  # similarities are rounded to this many decimals before ranking


def normalise_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (float64); all-zero rows stay zero."""
    x = np.asarray(x, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def cosine_block(q_unit: np.ndarray, b_unit: np.ndarray) -> np.ndarray:
    """Cosine similarities of unit rows, rounded to ``SIMILARITY_DECIMALS`` (see module doc).

    Args:
        q_unit: (bq, D) float64 unit rows.
        b_unit: (bb, D) float64 unit rows.

    Returns:
        (bq, bb) float64; values that differ only by the kernel's summation order come out equal.
    """
    sims = q_unit @ b_unit.T
    return np.round(sims, SIMILARITY_DECIMALS, out=sims)  # in place: no second block in memory


def topk_cosine(
    queries: np.ndarray, base: np.ndarray, k: int = 1, block_size: int = 4096
) -> tuple[np.ndarray, np.ndarray]:
    """The k most cosine-similar base rows of each query row.

    Args:
        queries: (Q, D) features.
        base: (N, D) features.
        k: neighbours per query (k <= N).
        block_size: rows per block of queries and of base; bounds the similarity block to
            ``block_size^2`` floats.

    Returns:
        (similarity, index): (Q, k) float64 (rounded to ``SIMILARITY_DECIMALS``) and int64
        arrays, best first; ties broken by the lower base index, whatever the BLAS kernel.
    """
    if queries.ndim != 2 or base.ndim != 2 or queries.shape[1] != base.shape[1]:
        raise RadsynthError(f"feature shapes do not match: {queries.shape} vs {base.shape}")
    if not 1 <= k <= len(base):
        raise RadsynthError(f"k must be between 1 and {len(base)}, got {k}")
    if block_size < 1:
        raise RadsynthError(f"block_size must be positive, got {block_size}")
    q, b = normalise_rows(queries), normalise_rows(base)
    best_sim = np.full((len(q), k), -np.inf, dtype=np.float64)
    best_idx = np.zeros((len(q), k), dtype=np.int64)
    for q0 in range(0, len(q), block_size):
        q_blk = q[q0 : q0 + block_size]
        sim_run, idx_run = best_sim[q0 : q0 + block_size], best_idx[q0 : q0 + block_size]
        for b0 in range(0, len(b), block_size):
            sims = cosine_block(q_blk, b[b0 : b0 + block_size])  # (bq, bb)
            idx = np.broadcast_to(np.arange(b0, b0 + sims.shape[1]), sims.shape)
            sim_run, idx_run = _merge(sim_run, idx_run, sims, idx, k)
            del sims, idx  # so that the next block's product never coexists with this one
        best_sim[q0 : q0 + block_size], best_idx[q0 : q0 + block_size] = sim_run, idx_run
    return best_sim, best_idx


def _merge(sim_a, idx_a, sim_b, idx_b, k):
    """Top-k of two candidate sets per row, ordered by (-similarity, index)."""
    if k == 1:  # the common case, O(n): argmax takes the first (lowest-index) maximum
        j = np.argmax(sim_b, axis=1)
        cand = np.take_along_axis(sim_b, j[:, None], 1)
        better = cand > sim_a  # strict: on a tie the earlier block's lower index stays
        cand_idx = np.take_along_axis(idx_b, j[:, None], 1)
        return np.where(better, cand, sim_a), np.where(better, cand_idx, idx_a)
    sims = np.concatenate([sim_a, sim_b], axis=1)
    idx = np.concatenate([idx_a, idx_b], axis=1)
    order = np.lexsort((idx, -sims), axis=1)[:, :k]
    return np.take_along_axis(sims, order, 1), np.take_along_axis(idx, order, 1)


def topk_cosine_dense(queries: np.ndarray, base: np.ndarray, k: int = 1):
    """Reference: the same top-k from the full (Q, N) similarity matrix (tests only)."""
    sims = cosine_block(normalise_rows(queries), normalise_rows(base))
    idx = np.broadcast_to(np.arange(sims.shape[1]), sims.shape)
    order = np.lexsort((idx, -sims), axis=1)[:, :k]
    return np.take_along_axis(sims, order, 1), order.astype(np.int64)
