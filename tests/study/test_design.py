"""Latin-square balancing, seeded orders and item plans (pure functions, hand-checkable)."""

from __future__ import annotations

import numpy as np
import pytest

from radsynth.study.design import (
    balanced_groups,
    balanced_positions,
    images_needed,
    latin_square,
    plan_items,
    position_counts,
    rater_order,
)


@pytest.mark.parametrize("m", [1, 2, 3, 4, 5])
def test_latin_square_has_each_symbol_once_per_row_and_column(m: int) -> None:
    square = np.array(latin_square(m, np.random.default_rng(7)))
    for k in range(m):
        assert sorted(square[k]) == list(range(m))
        assert sorted(square[:, k]) == list(range(m))


def test_positions_are_exactly_balanced_when_groups_divide_items() -> None:
    layout = balanced_positions(12, 4, np.random.default_rng(0))
    counts = position_counts(layout, 4)
    # 12 quartets, 4 groups: every group stands 3 times at every position.
    assert (counts == 3).all()
    assert all(sorted(row) == [0, 1, 2, 3] for row in layout)


def test_positions_differ_by_at_most_one_otherwise() -> None:
    counts = position_counts(balanced_positions(10, 4, np.random.default_rng(1)), 4)
    assert counts.max() - counts.min() <= 1
    assert (counts.sum(axis=0) == 10).all() and (counts.sum(axis=1) == 10).all()


def test_single_design_groups_are_balanced() -> None:
    groups = balanced_groups(9, 3, np.random.default_rng(0))
    assert np.bincount(groups).tolist() == [3, 3, 3]


def test_rater_orders_are_seeded_permutations_and_differ_between_raters() -> None:
    plans = plan_items(["real", "A"], 20, "single", n_attention=0, n_repeats=0, seed=0)
    a = rater_order(plans, seed=5, rater_index=0)
    assert a == rater_order(plans, seed=5, rater_index=0)
    assert sorted(a) == list(range(20))
    assert a != rater_order(plans, seed=5, rater_index=1)
    assert a != rater_order(plans, seed=6, rater_index=0)


def test_practice_first_and_repeats_far_from_their_originals() -> None:
    groups = ["real", "A", "B", "C"]
    plans = plan_items(groups, 12, "quartet", n_attention=2, n_repeats=4, seed=1, n_practice=2)
    kinds = [p.kind for p in plans]
    assert kinds == ["main"] * 12 + ["attention"] * 2 + ["repeat"] * 4 + ["practice"] * 2
    for p in plans:
        if p.kind == "repeat":
            original = plans[p.repeat_of].slots
            # Same pictures, and none of them at its old position.
            assert sorted(p.slots) == sorted(original)
            assert all(a != b for a, b in zip(p.slots, original, strict=True))
    for rater in range(6):
        order = rater_order(plans, seed=1, rater_index=rater)
        assert sorted(order) == list(range(len(plans)))
        assert [plans[i].kind for i in order[:2]] == ["practice"] * 2
        screens = len(order) - 2
        for seq, i in enumerate(order):
            if plans[i].kind == "repeat":
                gap = abs(seq - order.index(plans[i].repeat_of))
                # The farthest point is at least half the study away; "far" is half of that.
                assert gap >= screens // 4, (rater, gap)
    # Practice items draw images of their own: 12 main + 2 practice per group.
    assert images_needed(plans) == {"real": 16, "A": 14, "B": 14, "C": 14, "attention": 6}


def test_plan_items_attention_and_repeats() -> None:
    groups = ["real", "A", "B", "C"]
    plans = plan_items(groups, 8, "quartet", n_attention=2, n_repeats=3, seed=3)
    assert [p.kind for p in plans] == ["main"] * 8 + ["attention"] * 2 + ["repeat"] * 3
    for p in plans[8:10]:
        assert sorted(g for g, _ in p.slots) == ["attention"] * 3 + ["real"]
    for p in plans[10:]:  # the same pictures, moved (see the practice/repeat test)
        assert sorted(p.slots) == sorted(plans[p.repeat_of].slots)
    # 8 main + 2 attention quartets need 10 real images, 8 per synthetic set, 6 noise images.
    assert images_needed(plans) == {"real": 10, "A": 8, "B": 8, "C": 8, "attention": 6}
    assert plans == plan_items(groups, 8, "quartet", 2, 3, seed=3)
    assert plans != plan_items(groups, 8, "quartet", 2, 3, seed=4)


def test_plan_items_single_design() -> None:
    plans = plan_items(["real", "A"], 6, "single", n_attention=1, n_repeats=0, seed=0)
    assert all(len(p.slots) == 1 for p in plans)
    assert images_needed(plans) == {"real": 3, "A": 3, "attention": 1}
