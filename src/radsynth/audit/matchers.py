"""Nearest training film of each query image, for every audit feature, in bounded memory.

A matcher is fitted on the training images once, then answers queries chunk by chunk:

- :class:`EmbeddingMatcher` (``pixels``, ``inception``, ``vit``): cosine top-1 of embeddings
  (:func:`radsynth.audit.search.topk_cosine`); never reports a mirror.
- :class:`CopyMatcher` (``copy``): the two-stage near-copy detector of
  :mod:`radsynth.audit.copy`; the score is the registered NCC and ``mirrored`` says whether the
  best registration mirrored the training film.

Both also find each query's nearest *other* query (:meth:`within`), to count near-duplicates
among the synthetic images themselves (mode collapse). Memory: the training side is held
whole (copy: ``N (work_px^2 + 4 Z D)`` floats, 20 MB per 1,000 images at 64 px), the query
side one ``chunk`` at a time, plus the query descriptors for :meth:`within` (``Q D`` floats).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from radsynth.audit import copy as cp
from radsynth.audit.embed import Embedder, embed_files
from radsynth.audit.search import topk_cosine
from radsynth.data.imageio import read_gray


@dataclass(frozen=True)
class Match:
    """Per query: best training index, its score, and whether it matched mirrored."""

    score: np.ndarray  # (Q,) float32: cosine (embeddings) or registered NCC (copy)
    index: np.ndarray  # (Q,) int64 into the training list
    mirrored: np.ndarray  # (Q,) bool


def _chunks(n: int, size: int):
    for start in range(0, n, size):
        yield start, min(n, start + size)


class EmbeddingMatcher:
    """Cosine nearest neighbour of embeddings (``pixels``, ``inception``, ``vit``)."""

    def __init__(self, embed: Embedder, batch: int, block_size: int) -> None:
        self.embed, self.batch, self.block = embed, batch, block_size
        self.base = np.zeros((0, 1), dtype=np.float32)

    def fit(self, train: Sequence[Path]) -> None:
        self.base = embed_files(self.embed, train, self.batch)

    def match(self, queries: Sequence[Path]) -> Match:
        feats = embed_files(self.embed, queries, self.batch)
        sim, idx = topk_cosine(feats, self.base, 1, self.block)
        return Match(sim[:, 0], idx[:, 0], np.zeros(len(queries), dtype=bool))

    def within(self, queries: Sequence[Path]) -> Match:
        feats = embed_files(self.embed, queries, self.batch)
        sim, idx = topk_cosine(feats, feats, min(2, len(feats)), self.block)
        return _drop_self(sim, idx)


def _drop_self(sim: np.ndarray, idx: np.ndarray) -> Match:
    """From top-2 of a set against itself, the best neighbour that is not the query itself
    (an exact duplicate may outrank the query's own row; either way the other one is kept)."""
    n = len(sim)
    if sim.shape[1] < 2:
        return Match(np.full(n, -np.inf, np.float32), np.zeros(n, np.int64), np.zeros(n, bool))
    own = idx[:, 0] == np.arange(n)
    pick = np.where(own, 1, 0)
    rows = np.arange(n)
    return Match(sim[rows, pick], idx[rows, pick], np.zeros(n, dtype=bool))


class CopyMatcher:
    """Retrieval by invariant descriptors, then registration + NCC (:mod:`radsynth.audit.copy`)."""

    def __init__(self, params: cp.CopyParams, chunk: int, block_size: int) -> None:
        self.p, self.chunk, self.block = params, chunk, block_size
        self.train = torch.zeros(0)
        self.index = np.zeros((0, 1), dtype=np.float32)

    def _prepared(self, paths: Sequence[Path]) -> torch.Tensor:
        return cp.prepare([read_gray(p) for p in paths], self.p)

    def descriptors(self, paths: Sequence[Path]) -> np.ndarray:
        return cp.descriptors(self._prepared(paths), self.p)

    def fit(self, train: Sequence[Path]) -> None:
        parts = [self._prepared(train[a:b]) for a, b in _chunks(len(train), self.chunk)]
        self.train = torch.cat(parts)
        self.index = cp.index_descriptors(self.train, self.p)

    def _verify(self, prepared: torch.Tensor, others: torch.Tensor, cand: np.ndarray) -> Match:
        """Best verified candidate of each query; ``cand`` (q, c) rows into ``others``."""
        q, c = cand.shape
        pairs = prepared.repeat_interleave(c, 0), others[cand.reshape(-1)]
        score, mirrored = cp.verify(*pairs, self.p)
        score, mirrored = score.reshape(q, c), mirrored.reshape(q, c)
        best = np.argmax(score, axis=1)  # first maximum: the better-retrieved candidate on a tie
        rows = np.arange(q)
        return Match(score[rows, best], cand[rows, best], mirrored[rows, best])

    def match(self, queries: Sequence[Path]) -> Match:
        parts = []
        for a, b in _chunks(len(queries), self.chunk):
            prepared = self._prepared(queries[a:b])
            cand = cp.candidates(cp.descriptors(prepared, self.p), self.index, self.p, self.block)
            parts.append(self._verify(prepared, self.train, cand))
        return _concat(parts)

    def within(self, queries: Sequence[Path]) -> Match:
        """Each query's best near-copy among the other queries (mode collapse)."""
        n = len(queries)
        if n < 2:
            return Match(np.full(n, -np.inf, np.float32), np.zeros(n, np.int64), np.zeros(n, bool))
        desc = np.concatenate([self.descriptors(queries[a:b]) for a, b in _chunks(n, self.chunk)])
        k = min(self.p.candidates + 1, n)
        _, cand = topk_cosine(desc, desc, k, self.block)
        parts = []
        for a, b in _chunks(n, self.chunk):
            rows = cand[a:b]
            # Drop the query itself; keep k - 1 others, best first.
            others = np.array([[j for j in r if j != a + i][: k - 1] for i, r in enumerate(rows)])
            needed = np.unique(others)
            prepared = self._prepared(queries[a:b])
            pool = self._prepared([queries[j] for j in needed])
            local = np.searchsorted(needed, others)
            m = self._verify(prepared, pool, local)
            parts.append(Match(m.score, needed[m.index], m.mirrored))
        return _concat(parts)


def _concat(parts: list[Match]) -> Match:
    return Match(
        np.concatenate([m.score for m in parts]).astype(np.float32),
        np.concatenate([m.index for m in parts]).astype(np.int64),
        np.concatenate([m.mirrored for m in parts]).astype(bool),
    )
