"""The reader study per image group (``real`` and each synthetic set, e.g. ``gan/step-0000400``):
how often readers told each set's images apart, and the cues they named.

- Single-image design: per group, the share of answered judgements that were correct ("real"
  for a real film, "fake" for a synthetic one; "unsure" counts as not correct, as in the pooled
  accuracy), with a Wilson (1927) interval. Judgements by one rater are not independent, so the
  interval is descriptive.
- Quartet design (pick the real film among 1 + k): per group, the share of answered quartets
  showing an image of the group in which that image was picked as the real one. For ``real`` it
  is the accuracy; for a synthetic set, how often its image was taken for real.
- Cues: the free-text ``cue`` readers gave per image (the export's ``cue`` column), normalised
  (lower case, runs of white space as one space) and counted per group, most frequent first.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from typing import Any

from radsynth.stats.proportions import wilson_ci
from radsynth.stats.responses import Response


def _share(group: str, k: int, n: int, measure: str, conf_level: float) -> dict[str, Any]:
    low, high = wilson_ci(k, n, conf_level) if n else (float("nan"), float("nan"))
    return {
        "group": group,
        "measure": measure,
        "k": k,
        "n": n,
        "share": k / n if n else None,
        "wilson_low": low if n else None,
        "wilson_high": high if n else None,
        "conf_level": conf_level,
    }


def identification_by_group(
    rows: list[Response], design: str, groups: tuple[str, ...], reference: str, conf_level: float
) -> list[dict[str, Any]]:
    """One row per group, in ``groups`` order (see the module docstring for the measure).

    Args:
        rows: the analysed rows (one rater kind, main items).
        design: "single" or "quartet".
        groups: every group, the reference first.
    """
    k: dict[str, int] = defaultdict(int)
    n: dict[str, int] = defaultdict(int)
    if design == "single":
        for r in rows:
            if r.answer:
                n[r.group] += 1
                k[r.group] += r.answer != "unsure" and (r.answer == "real") == (
                    r.group == reference
                )
        measure = "accuracy"
    else:
        cells: dict[tuple[str, str], list[Response]] = defaultdict(list)
        for r in rows:
            cells[(r.rater, r.item)].append(r)
        for cell in cells.values():
            if any(r.picked == 1 for r in cell):
                for r in cell:
                    n[r.group] += 1
                    k[r.group] += r.picked == 1
        measure = "picked_as_real"
    return [_share(g, k[g], n[g], measure, conf_level) for g in groups]


def normalised_cue(text: str) -> str:
    """A cue as counted: lower case, white space collapsed, trimmed."""
    return re.sub(r"\s+", " ", text).strip().lower()


def cues_by_group(rows: list[Response], groups: tuple[str, ...]) -> dict[str, list[dict]]:
    """group -> [{"cue", "count"}], most frequent first (ties alphabetical); groups without
    any cue are left out."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for r in rows:
        if cue := normalised_cue(r.cue):
            counts[r.group][cue] += 1
    return {
        g: [
            {"cue": c, "count": m}
            for c, m in sorted(counts[g].items(), key=lambda x: (-x[1], x[0]))
        ]
        for g in groups
        if counts[g]
    }


def by_set(
    rows: list[Response], design: str, groups: tuple[str, ...], reference: str, conf_level: float
) -> dict[str, Any]:
    """``stats.json``'s ``by_set``: identification per group and the cues per group."""
    return {
        "identification": identification_by_group(rows, design, groups, reference, conf_level),
        "cues": cues_by_group(rows, groups),
    }
