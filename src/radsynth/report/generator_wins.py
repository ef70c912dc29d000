"""Which generator wins where, by how much: computed from the section's numbers, never written
by hand. Each comparison is one :class:`Metric` (a value per set, and its 95% CI where the
stage gives one); the winner is the set with the best value, the margin its distance to the
runner-up, and the CIs say whether the two overlap."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from radsynth.report.sections import fmt
from radsynth.utility.sets import set_generator


@dataclass
class Metric:
    """One comparison across sets."""

    topic: str  # e.g. "KID, class all"
    higher_better: bool  # the direction of "better"
    digits: int = 3  # decimals shown
    values: dict[str, tuple[float, float, float]] = field(default_factory=dict)  # set -> v, CI

    def add(self, name: str, value: float, low: float = math.nan, high: float = math.nan) -> None:
        if value is not None and math.isfinite(value):
            self.values[name] = (float(value), _f(low), _f(high))


def _f(x: object) -> float:
    try:
        return float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


@dataclass(frozen=True)
class Win:
    """The best set of one metric and its lead over the runner-up."""

    topic: str
    best: str
    runner_up: str
    best_value: float
    runner_value: float
    margin: float  # |best - runner-up|, in the metric's units
    separated: bool | None  # the 95% CIs do not overlap (None: no CIs)
    higher_better: bool
    digits: int


def winner(metric: Metric) -> Win | None:
    """The metric's winner, or None with fewer than two sets measured."""
    if len(metric.values) < 2:
        return None
    ranked = sorted(metric.values.items(), key=lambda kv: kv[1][0], reverse=metric.higher_better)
    (best, (v1, l1, h1)), (second, (v2, l2, h2)) = ranked[0], ranked[1]
    have_ci = all(math.isfinite(x) for x in (l1, h1, l2, h2))
    separated = (h1 < l2 or h2 < l1) if have_ci else None
    return Win(
        topic=metric.topic,
        best=best,
        runner_up=second,
        best_value=v1,
        runner_value=v2,
        margin=abs(v1 - v2),
        separated=separated,
        higher_better=metric.higher_better,
        digits=metric.digits,
    )


def number(value: float, digits: int = 3) -> str:
    """A value for the page: fixed decimals, or 3 significant digits below 0.01 (KID)."""
    if math.isfinite(value) and value != 0 and abs(value) < 0.01:
        return f"{value:.3g}"
    return fmt(value, digits)


def _sentence(w: Win) -> str:
    better = "higher" if w.higher_better else "lower"
    if w.margin == 0:
        return f"{w.topic}: {w.best} and {w.runner_up} tie at {number(w.best_value, w.digits)}."
    ci = {True: "; the 95% CIs do not overlap", False: "; the 95% CIs overlap", None: ""}
    return (
        f"{w.topic} ({better} is better): {w.best} {number(w.best_value, w.digits)} vs "
        f"{w.runner_up} {number(w.runner_value, w.digits)}, by {number(w.margin, w.digits)}"
        f"{ci[w.separated]}."
    )


def summary(metrics: list[Metric]) -> tuple[str, list[str]]:
    """The closing paragraph (wins per generator) and one line per comparison."""
    measured = [w for w in (winner(m) for m in metrics) if w is not None]
    if not measured:
        return "No measure was available for two or more sets, so no generator is ranked.", []
    wins = [w for w in measured if w.margin > 0]  # an exact tie is nobody's win
    tally = Counter(set_generator(w.best) or w.best for w in wins)
    clear = Counter(set_generator(w.best) or w.best for w in wins if w.separated)
    parts = [
        f"{gen} is ahead on {k} of {len(measured)}"
        + (f" ({clear[gen]} with non-overlapping 95% CIs)" if clear[gen] else "")
        for gen, k in tally.most_common()
    ]
    ties = len(measured) - len(wins)
    paragraph = (
        "Which generator wins where, by how much: "
        + "; ".join(parts or ["no generator is ahead anywhere"])
        + f" comparisons{f', {ties} tied' if ties else ''}. "
        "A lead whose CIs overlap is not evidence of a difference."
    )
    return paragraph, [_sentence(w) for w in measured]
