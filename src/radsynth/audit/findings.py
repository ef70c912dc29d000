"""The audit's numbers, as the memorization literature reports them, with Wilson 95% CIs.

- Share of synthetic images that are copies of a training image (Carlini et al., "Extracting
  Training Data from Diffusion Models", USENIX Security 2023; Akbar et al. 2025).
- Share of training images -- and of training patients, where ids are known -- with at least
  one copy among the samples (Dar et al. 2024's "memorized training images").
- Near-duplicates among the synthetic images themselves: images with a near-copy among the
  other samples, and how many distinct films remain once each group of near-duplicates
  (connected components) counts once -- a sign of mode collapse that a release would
  otherwise count as distinct images.

A synthetic image counts as a copy when it is flagged, unless the reviewers' agreed verdict
on its pair is ``not``; an agreed ``memorized`` verdict counts even when not flagged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from radsynth.errors import RadsynthError
from radsynth.fates.records import AUDIT_ADJUDICATION, read_audit_verdicts
from radsynth.stats.proportions import wilson_ci


def share(x: int, n: int) -> dict:
    """``{"count", "n", "share", "ci95"}`` with a Wilson interval (None when n = 0)."""
    if n == 0:
        return {"count": 0, "n": 0, "share": None, "ci95": None}
    lo, hi = wilson_ci(x, n)
    return {"count": int(x), "n": int(n), "share": x / n, "ci95": [lo, hi]}


def read_verdicts(review_dir: Path | None) -> dict[str, str]:
    """synthetic image -> agreed verdict (``memorized`` or ``not``) from a review folder's
    audit_adjudication.csv (:func:`radsynth.fates.records.read_audit_verdicts`);
    {} without a review folder. A review folder without that file is an error, not "no
    verdicts", so that a mistyped folder is not silently ignored."""
    if review_dir is None:
        return {}
    if not (review_dir / AUDIT_ADJUDICATION).is_file():
        raise RadsynthError(f"no {AUDIT_ADJUDICATION} in the review folder {review_dir}")
    verdicts = read_audit_verdicts(review_dir)
    return {name: v.final for name, v in verdicts.items() if v.status == "agreed" and v.final}


def copies(flagged: np.ndarray, names: Sequence[str], verdicts: Mapping[str, str]) -> np.ndarray:
    """(Q,) bool: flagged and not overruled, or confirmed by the reviewers."""
    verdict = np.array([verdicts.get(n, "") for n in names])
    return (np.asarray(flagged, bool) & (verdict != "not")) | (verdict == "memorized")


def literature_numbers(
    is_copy: np.ndarray,
    train_index: np.ndarray,
    n_train: int,
    train_groups: Sequence[str] | None = None,
) -> dict:
    """Both literature numbers for one set of synthetic images (all, or one class).

    Args:
        is_copy: (Q,) bool, from :func:`copies`.
        train_index: (Q,) training image each synthetic image matched.
        n_train: training images that could have been copied.
        train_groups: patient id per training image (all of them), or None.
    """
    hit = np.unique(np.asarray(train_index)[np.asarray(is_copy, bool)])
    out = {
        "synthetic_copies": share(int(np.sum(is_copy)), len(is_copy)),
        "training_images_copied": share(len(hit), n_train),
    }
    if train_groups is not None:
        copied = {train_groups[i] for i in hit}
        out["training_patients_copied"] = share(len(copied), len(set(train_groups)))
    return out


def duplicate_groups(score: np.ndarray, partner: np.ndarray, threshold: float) -> list[list[int]]:
    """Groups (size >= 2) of synthetic images linked by near-duplicate pairs ``i -- partner[i]``
    with ``score[i] >= threshold``; connected components by union-find, sorted."""
    parent = list(range(len(score)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in np.flatnonzero(np.asarray(score) >= threshold):
        a, b = root(int(i)), root(int(partner[i]))
        if a != b:
            parent[max(a, b)] = min(a, b)
    groups: dict[int, list[int]] = {}
    for i in range(len(score)):
        groups.setdefault(root(i), []).append(i)
    return sorted((g for g in groups.values() if len(g) > 1), key=lambda g: g[0])


def mode_collapse(n: int, groups: list[list[int]]) -> dict:
    """Counts for the near-duplicate groups among ``n`` synthetic images."""
    members = sum(len(g) for g in groups)
    return {
        "n_synthetic": n,
        "with_near_duplicate": share(members, n),
        "n_groups": len(groups),
        "largest_group": max((len(g) for g in groups), default=0),
        "distinct_images": n - members + len(groups),
    }
