"""Seeded train/val splits that keep every patient on one side.

Images are grouped by a patient id that a regular expression extracts from the source path
(``--group-by 'person(\\d+)'``); images whose path does not match form a group of their own. The
groups are put in a seeded random order and taken into ``val`` until the val set holds
``round(val_fraction * n_images)`` images (or first exceeds it by the last group taken), so
the fraction is met as closely as whole groups allow and no group is ever split.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from radsynth.errors import RadsynthError


def compile_group_regex(pattern: str | None) -> re.Pattern[str] | None:
    """Compile the ``--group-by`` pattern, or raise a one-line error for a bad one."""
    if pattern is None or pattern == "":
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise RadsynthError(f"--group-by {pattern!r} is not a valid regex: {exc}") from None


def extract_group(regex: re.Pattern[str] | None, path: str) -> str:
    """The patient id in ``path``: the first capture group if the pattern has one, else the
    whole match; empty when there is no pattern or no match."""
    if regex is None:
        return ""
    match = regex.search(path)
    if match is None:
        return ""
    return match.group(1) if regex.groups else match.group(0)


def split_groups(groups: Sequence[str], val_fraction: float, seed: int) -> list[str]:
    """Assign ``train`` or ``val`` to each image so that equal non-empty groups share a side.

    Args:
        groups: one patient id per image ("" = the image is its own group).
        val_fraction: target fraction of images in val, in [0, 1).
        seed: seed of the group order.

    Returns:
        ``"train"``/``"val"`` per image, in input order.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise RadsynthError(f"val fraction must be in [0, 1), got {val_fraction}")
    units: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        units.setdefault(g if g else f"\0image{i}", []).append(i)
    keys = sorted(units)  # a fixed order before the seeded shuffle
    order = np.random.default_rng(seed).permutation(len(keys))
    target = round(val_fraction * len(groups))
    splits = ["train"] * len(groups)
    n_val = 0
    for k in order:
        if n_val >= target:
            break
        for i in units[keys[k]]:
            splits[i] = "val"
        n_val += len(units[keys[k]])
    return splits


def split_stratified(
    groups: Sequence[str],
    strata: Sequence[str],
    val_fraction: float,
    test_fraction: float,
    seed: int,
) -> list[str]:
    """Assign ``train``, ``val`` or ``test`` per image, by patient, stratified by label.

    Each patient (non-empty group; "" = the image is its own patient) belongs to the stratum
    most of its images carry (ties: the first in sorted order). The patients are put in one
    seeded order; within each stratum they are taken into ``test`` until it holds
    ``round(test_fraction * n)`` of the stratum's n images, then into ``val`` until it holds
    ``round(val_fraction * n)``, so each split keeps the label mix of the whole set as closely
    as whole patients allow, and no patient is ever split.

    Args:
        groups: one patient id per image.
        strata: one label (or joint class) per image.
        val_fraction: target fraction of each stratum in val.
        test_fraction: target fraction of each stratum in test; val + test < 1.
        seed: seed of the patient order.

    Returns:
        ``"train"``/``"val"``/``"test"`` per image, in input order.
    """
    if not (val_fraction >= 0.0 and test_fraction >= 0.0 and val_fraction + test_fraction < 1):
        raise RadsynthError(
            f"val and test fractions must be >= 0 with a sum below 1, got "
            f"{val_fraction} and {test_fraction}"
        )
    units: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        units.setdefault(g if g else f"\0image{i}", []).append(i)
    keys = sorted(units)
    order = np.random.default_rng(seed).permutation(len(keys))
    by_stratum: dict[str, list[str]] = {}
    for k in order:
        labels = [strata[i] for i in units[keys[k]]]
        major = max(sorted(set(labels)), key=labels.count)
        by_stratum.setdefault(major, []).append(keys[k])
    splits = ["train"] * len(groups)
    for stratum in sorted(by_stratum):
        members = by_stratum[stratum]
        n = sum(len(units[k]) for k in members)
        targets = [("test", round(test_fraction * n)), ("val", round(val_fraction * n))]
        position = 0
        for name, target in targets:
            taken = 0
            while taken < target and position < len(members):
                for i in units[members[position]]:
                    splits[i] = name
                taken += len(units[members[position]])
                position += 1
    return splits
