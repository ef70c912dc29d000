"""The planning table: smallest case counts for the target power, per reader count."""

from __future__ import annotations

import math

from vandyke import vandyke_rows

from radsynth.stats import mrmc
from radsynth.stats.mrmc_design import build_data, parse_rows
from radsynth.stats.mrmc_power import (
    pilot_components,
    plan,
    power_difference,
    power_equivalence,
    scaled,
)


def _pilot():
    data, _ = build_data(parse_rows(vandyke_rows()))
    return pilot_components(data, mrmc.case_stats(data))


def test_truth_parts_scale_separately_and_sum_to_delong():
    """The truth-1 and truth-0 parts at the pilot's own counts add up to DeLong's Var (the
    MRMCaov DeLong value 0.0007921325); doubling only the truth-0 cases halves only its part."""
    p = _pilot()
    at_pilot = scaled(p, p.n_pos, p.n_neg)
    assert math.isclose(at_pilot.var, 0.0007921325, rel_tol=1e-6)
    more_neg = scaled(p, p.n_pos, 2 * p.n_neg)
    assert math.isclose(more_neg.var, p.part1.var + p.part0.var / 2, rel_tol=1e-12)


def test_plan_rows_are_the_smallest_counts_reaching_the_target():
    p = _pilot()
    rows = plan(p, "difference", (5, 10, 20), 0.8, 0.05, effect=0.05, margin=0.1)
    assert [r.n_readers for r in rows] == [5, 10, 20]
    counts = [r.n_pos for r in rows]
    assert all(c is not None for c in counts) and counts == sorted(counts, reverse=True)
    for r in rows:
        assert r.power >= 0.8
        below = r.n_pos - 1
        n_neg = max(2, math.ceil(p.n_neg / p.n_pos * below))
        assert power_difference(p, r.n_readers, below, n_neg, 0.05, 0.05) < 0.8
    eq = plan(p, "equivalence", (3, 10), 0.8, 0.05, effect=0.05, margin=0.1)
    assert eq[0].n_pos is None  # 3 readers: reader variance alone rules 80% out
    assert power_equivalence(p, 10, eq[1].n_pos, eq[1].n_neg, 0.1, 0.05) >= 0.8
