"""Pure functions that lay out a reader study: positions, item order, attention and repeat items.

Positions follow a Latin square (Fisher & Yates 1938; Bradley 1958 for order balancing): with
``m`` groups, a randomised m x m Latin square ``L`` puts group ``L[r][p]`` at position ``p`` of
every item using row ``r``. Rows are dealt to items in equal numbers, so across ``n`` items each
group stands in each position ``n / m`` times (exactly, when ``m`` divides ``n``; otherwise the
counts differ by at most one).

Every function takes an explicit ``numpy.random.Generator`` or seed, so the same seed gives the
same study.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def latin_square(m: int, rng: np.random.Generator) -> list[list[int]]:
    """A random m x m Latin square: a cyclic square with rows, columns and symbols permuted.

    Returns:
        ``square[row][position] = group index``; every group appears once per row and column.
    """
    if m < 1:
        raise ValueError("a Latin square needs m >= 1")
    rows, cols, symbols = rng.permutation(m), rng.permutation(m), rng.permutation(m)
    return [[int(symbols[(int(r) + int(c)) % m]) for c in cols] for r in rows]


def balanced_positions(n_items: int, m: int, rng: np.random.Generator) -> list[list[int]]:
    """Group index at each position for ``n_items`` items of ``m`` images each.

    Returns:
        ``layout[i][p]`` = group index (0 = real) shown at position ``p`` of item ``i``.
    """
    square = latin_square(m, rng)
    rows = [i % m for i in range(n_items)]
    rng.shuffle(rows)
    return [list(square[r]) for r in rows]


def balanced_groups(n_items: int, m: int, rng: np.random.Generator) -> list[int]:
    """Single-image design: the group of each item, each group ``n_items / m`` times (+-1)."""
    groups = [i % m for i in range(n_items)]
    rng.shuffle(groups)
    return [int(g) for g in groups]


@dataclass(frozen=True)
class ItemPlan:
    """One item before it is stored: its kind and the (group, image index) at each position."""

    kind: str  # "main" | "attention" | "repeat" | "practice"
    slots: tuple[tuple[str, int], ...]  # per position: (group name, index into that group's pool)
    repeat_of: int | None = None  # 0-based index of the repeated main item


def derangement(m: int, rng: np.random.Generator) -> list[int]:
    """A random permutation of ``range(m)`` that moves every position (identity for m < 2).

    Drawn by rejection; the chance of a derangement is about 1/e, so this takes ~3 draws.
    """
    if m < 2:
        return list(range(m))
    while True:
        perm = [int(p) for p in rng.permutation(m)]
        if all(p != i for i, p in enumerate(perm)):
            return perm


def plan_items(
    groups: list[str],
    n_items: int,
    design: str,
    n_attention: int,
    n_repeats: int,
    seed: int,
    n_practice: int = 0,
) -> list[ItemPlan]:
    """All items of a study: main items, attention checks, repeats, then practice items.

    Args:
        groups: group names, ``groups[0] == "real"``, then the synthetic sets.
        n_items: main items.
        design: ``"quartet"`` (one image of every group per item) or ``"single"``.
        n_attention: attention-check items: one real image among obvious noise images
            (quartet), or one noise image (single); the expected answer is known.
        n_repeats: main items shown a second time, to measure intra-rater agreement. A repeat
            shows the same pictures at other positions (a derangement: none stays where it was);
            the study stores them under new image ids.
        seed: the study seed.
        n_practice: practice items, built like main items from images of their own; shown
            first and never analysed.

    Returns:
        Item plans; image index ``j`` of group ``g`` means the ``j``-th image drawn for ``g``.
    """
    rng = np.random.default_rng([seed, 1])
    m = len(groups)
    items: list[ItemPlan] = []
    used = {g: 0 for g in [*groups, "attention"]}

    def take(group: str) -> tuple[str, int]:
        used[group] += 1
        return group, used[group] - 1

    if design == "quartet":
        for row in balanced_positions(n_items, m, rng):
            items.append(ItemPlan("main", tuple(take(groups[g]) for g in row)))
        for _ in range(n_attention):
            real_at = int(rng.integers(m))
            slots = tuple(take("real" if p == real_at else "attention") for p in range(m))
            items.append(ItemPlan("attention", slots))
    else:
        for g in balanced_groups(n_items, m, rng):
            items.append(ItemPlan("main", (take(groups[g]),)))
        for _ in range(n_attention):
            items.append(ItemPlan("attention", (take("attention"),)))
    for i in sorted(rng.choice(n_items, size=min(n_repeats, n_items), replace=False).tolist()):
        slots = items[i].slots
        moved = tuple(slots[p] for p in derangement(len(slots), rng))
        items.append(ItemPlan("repeat", moved, repeat_of=int(i)))
    # Practice items come last in the plan so that the main items' positions do not depend on
    # --practice; their own rng stream keeps them seed-determined.
    prng = np.random.default_rng([seed, 4])
    if design == "quartet":
        for row in balanced_positions(n_practice, m, prng) if n_practice else []:
            items.append(ItemPlan("practice", tuple(take(groups[g]) for g in row)))
    else:
        for g in balanced_groups(n_practice, m, prng):
            items.append(ItemPlan("practice", (take(groups[g]),)))
    return items


def images_needed(items: list[ItemPlan]) -> dict[str, int]:
    """How many distinct images each group must supply for these items."""
    need: dict[str, int] = {}
    for item in items:
        if item.kind == "repeat":
            continue
        for group, index in item.slots:
            need[group] = max(need.get(group, 0), index + 1)
    return need


def rater_order(plans: list[ItemPlan], seed: int, rater_index: int) -> list[int]:
    """A rater's order of the items (indices into ``plans``), seeded by (seed, rater).

    Practice items come first. Main and attention items follow in a random order, and each
    repeat is then inserted far from its original: at a random one of the insertion points at
    least half as far from the original as the farthest point, so the gap is at least about a
    quarter of the study (a uniform shuffle would leave a repeat next to its original by chance).
    """
    rng = np.random.default_rng([seed, 2, rater_index])
    practice = [i for i, p in enumerate(plans) if p.kind == "practice"]
    order = [i for i, p in enumerate(plans) if p.kind not in ("practice", "repeat")]
    order = [order[int(j)] for j in rng.permutation(len(order))]
    repeats = [i for i, p in enumerate(plans) if p.kind == "repeat"]
    for j in rng.permutation(len(repeats)):
        item = repeats[int(j)]
        at = order.index(plans[item].repeat_of)  # type: ignore[arg-type]
        # Screens between the two once the repeat sits at index k.
        dist = [at + 1 - k if k <= at else k - at for k in range(len(order) + 1)]
        far = [k for k, d in enumerate(dist) if 2 * d >= max(dist)]
        order.insert(far[int(rng.integers(len(far)))], item)
    practice = [practice[int(j)] for j in rng.permutation(len(practice))]
    return practice + order


def position_counts(layout: list[list[int]], m: int) -> np.ndarray:
    """``counts[g, p]``: how often group ``g`` stands at position ``p`` (for checks and tests)."""
    counts = np.zeros((m, m), dtype=int)
    for row in layout:
        for p, g in enumerate(row):
            counts[g, p] += 1
    return counts
