"""Does each image show its own class's finding? Per class, real against synthetic, by reader.

A class-conditional study (``radsynth study create --finding-per-class``) asks of every image
whether it shows the finding of the class it belongs to (real films: their labelled class;
synthetic ones: the class they were sampled for). Per class ``c`` and image group ``g``:

- the pooled share of "yes" answers over all (rater, image) judgements, with a Wilson (1927)
  interval. Judgements by one rater are not independent, so read this interval as descriptive;
  the test below is the inference;
- each rater's share ``yes_rg / n_rg`` (an exact fraction, so equal shares tie exactly);
- the paired two-sided Wilcoxon signed-rank test (Wilcoxon 1945; R ``wilcox.test(real, syn,
  paired = TRUE)``) of the raters' real-image shares against their shares for ``g``, over the
  raters who answered both, exactly as the realism ratings are tested
  (:func:`radsynth.stats.analysis.realism`);
- Holm (1979) over all (class, synthetic group) pairs tested.

The reader-judged counterpart of the utility benchmark's classifier-judged conditional fidelity.
"""

from __future__ import annotations

from collections import defaultdict
from fractions import Fraction
from typing import Any

import numpy as np

from radsynth.records._csv import csv_text
from radsynth.stats._records import record_dict
from radsynth.stats.multiplicity import holm
from radsynth.stats.proportions import wilson_ci
from radsynth.stats.responses import Response
from radsynth.stats.wilcoxon import signed_rank_test

#: Columns of ``finding_by_class.csv``: one row per (class, group); the test columns are filled
#: on synthetic groups' rows (real against that group, within the class).
CSV_COLUMNS = (
    "class",
    "group",
    "yes",
    "n",
    "share",
    "wilson_low",
    "wilson_high",
    "n_raters",
    "V",
    "p_value",
    "p_holm",
)


def has_classes(rows: list[Response]) -> bool:
    """Whether the responses come from a per-class study (any image carries a class)."""
    return any(r.label for r in rows)


def _counts(rows: list[Response]) -> dict[tuple[str, str, str], list[int]]:
    """(class, group, rater) -> [yes, answered], over rows with a class and an answer."""
    counts: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        if r.label and r.finding:
            cell = counts[(r.label, r.group, r.rater)]
            cell[0] += r.finding == "yes"
            cell[1] += 1
    return counts


def _shares(counts: dict, groups: tuple[str, ...], conf_level: float) -> list[dict[str, Any]]:
    pooled: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for (c, g, _), (yes, n) in counts.items():
        cell = pooled[(c, g)]
        cell[0], cell[1], cell[2] = cell[0] + yes, cell[1] + n, cell[2] + 1
    order = {g: i for i, g in enumerate(groups)}
    out = []
    for (c, g), (yes, n, raters) in sorted(
        pooled.items(), key=lambda kv: (kv[0][0], order[kv[0][1]])
    ):
        low, high = wilson_ci(yes, n, conf_level)
        out.append(
            {
                "class": c,
                "group": g,
                "yes": yes,
                "n": n,
                "share": yes / n,
                "wilson_low": low,
                "wilson_high": high,
                "conf_level": conf_level,
                "n_raters": raters,
            }
        )
    return out


def _tests(counts: dict, classes: list[str], groups: tuple[str, ...], warnings: list[str]):  # noqa: ANN202
    ref = groups[0]
    raters = sorted({r for (_, _, r) in counts})
    tests = []
    for c in classes:
        for g in groups[1:]:
            both = [r for r in raters if (c, ref, r) in counts and (c, g, r) in counts]
            if not any((c, g, r) in counts for r in raters):
                continue
            if len(both) < 2:
                warnings.append(
                    f"class {c}: {len(both)} rater(s) answered for both {ref} and "
                    f"{g} images; the paired test needs 2+"
                )
                continue
            real = [Fraction(*counts[(c, ref, r)]) for r in both]
            syn = [Fraction(*counts[(c, g, r)]) for r in both]
            w = signed_rank_test(real, syn, alternative="two-sided")
            tests.append(
                {
                    "class": c,
                    "group": g,
                    "reference": ref,
                    "n_raters": len(both),
                    "mean_share_reference": float(sum(real) / len(real)),
                    "mean_share_group": float(sum(syn) / len(syn)),
                    **record_dict(w),
                }
            )
    raw = [float("nan") if t["p_value"] is None else t["p_value"] for t in tests]
    for t, p in zip(tests, holm(raw), strict=True):
        t["p_holm"] = None if np.isnan(p) else p
    return tests


def finding_by_class(
    rows: list[Response], groups: tuple[str, ...], conf_level: float, warnings: list[str]
) -> dict[str, Any] | None:
    """Per-class "shows its finding" shares and real-vs-synthetic tests (module docstring).

    Args:
        rows: the analysed responses (one rater kind, main items; see
            :func:`radsynth.stats.responses.main_rows`).
        groups: the image groups, the real (reference) group first.
        conf_level: level of the Wilson intervals.
        warnings: appended to when a class cannot be tested.

    Returns:
        None when no image carries a class (a study-wide study: nothing to add), else a dict
        with ``classes``, ``shares`` (per class and group), ``per_rater`` (per class, group and
        rater), ``wilcoxon`` (per class and synthetic group, with ``p_holm``) and
        ``multiplicity``.
    """
    if not has_classes(rows):
        return None
    counts = _counts(rows)
    if not counts:
        warnings.append(
            "images carry classes but no finding was answered; per-class finding "
            "shares not computed"
        )
        return None
    classes = sorted({c for (c, _, _) in counts})
    per_rater = [
        {"class": c, "group": g, "rater": r, "yes": y, "n": n, "share": y / n}
        for (c, g, r), (y, n) in sorted(counts.items())
    ]
    return {
        "classes": classes,
        "shares": _shares(counts, groups, conf_level),
        "per_rater": per_rater,
        "wilcoxon": _tests(counts, classes, groups, warnings),
        "multiplicity": "holm (Holm 1979; R p.adjust method 'holm'), over the (class, "
        "synthetic group) pairs tested",
    }


def to_csv(result: dict[str, Any]) -> str:
    """``finding_by_class.csv`` (see :data:`CSV_COLUMNS`) from :func:`finding_by_class`."""
    tests = {(t["class"], t["group"]): t for t in result["wilcoxon"]}
    rows = []
    for row in result["shares"]:
        t = tests.get((row["class"], row["group"]), {})
        rows.append(
            {
                **row,
                "V": t.get("V", ""),
                "p_value": _blank(t.get("p_value")),
                "p_holm": _blank(t.get("p_holm")),
            }
        )
    return csv_text(CSV_COLUMNS, rows, ignore_extra=True)


def _blank(value: float | None) -> Any:
    return "" if value is None else value
