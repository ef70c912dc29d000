"""The MRMC analysis of a single-design reader study, run by ``radsynth stats``.

Mapping of a study onto MRMC terms:

- modality = a synthetic set (a checkpoint, later a generator);
- cases: the real images are the truth-1 cases, shared by every modality; each synthetic
  set's images are its own truth-0 cases (a partially paired design);
- score: the realism rating (1-4, 4 = fully real) by default, or the real/unsure/fake answer
  as a 3-point score (real 3, unsure 2, fake 1);
- a rater who did not score every image of the study (a study in progress) is left out, with
  a warning, as ``stats`` does for other partial data.

A quartet study shows the real image beside the synthetic ones, so its ratings are not the
independent per-image ratings this analysis assumes; it is not analysed.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from radsynth.errors import RadsynthError
from radsynth.stats.mrmc_analysis import MrmcOptions, analyse
from radsynth.stats.mrmc_design import Rating, build_data
from radsynth.stats.mrmc_stage import write_outputs
from radsynth.stats.responses import Response

Score = Literal["rating", "answer", "none"]

#: The single design's answer as a 3-point score: higher = judged more real.
ANSWER_SCORE = {"real": 3.0, "unsure": 2.0, "fake": 1.0}


def _score(row: Response, score: Score) -> float | None:
    if score == "rating":
        return None if row.rating is None else float(row.rating)
    return ANSWER_SCORE.get(row.answer)


def study_ratings(
    rows: list[Response], reference: str, score: Score
) -> tuple[list[Rating], list[str]]:
    """Long-form ratings of a single-design study (main items of one rater kind).

    Returns the ratings and the raters left out because they did not score every image.
    """
    groups = sorted({r.group for r in rows} - {reference})
    images = {r.image_id for r in rows}
    scored: dict[str, dict[str, tuple[str, float]]] = {}
    for r in rows:
        value = _score(r, score)
        if value is not None:
            scored.setdefault(r.rater, {})[r.image_id] = (r.group, value)
    raters = sorted({r.rater for r in rows})
    incomplete = [who for who in raters if set(scored.get(who, {})) != images]
    out = []
    for who in raters:
        if who in incomplete:
            continue
        for image, (group, value) in scored[who].items():
            targets = groups if group == reference else [group]
            out += [Rating(who, g, image, group == reference, value) for g in targets]
    return out, incomplete


def study_mrmc(
    rows: list[Response],
    *,
    reference: str,
    score: Score,
    options: MrmcOptions,
    simulated: bool,
    out: Path,
    source: dict[str, Any],
    warnings: list[str],
) -> str | None:
    """Run and write the study's MRMC analysis into ``out`` (the stats folder).

    Returns the file name written, or None when the analysis could not run; why is appended
    to ``warnings`` (the rest of ``stats`` still stands).
    """
    ratings, incomplete = study_ratings(rows, reference, score)
    if incomplete:
        warnings.append(
            f"MRMC analysis leaves out {len(incomplete)} rater(s) who did not score every "
            f"image: {', '.join(incomplete)}"
        )
    n_sets = len({r.group for r in rows} - {reference})
    opts = replace(options, compare=n_sets >= 2)
    try:
        data, _ = build_data(ratings, need_comparison=opts.compare)
        analysis = analyse(data, opts)
    except RadsynthError as exc:
        warnings.append(f"MRMC analysis not run: {exc}")
        return None
    label = "realism rating (1-4)" if score == "rating" else "answer (fake 1, unsure 2, real 3)"
    write_outputs(
        out,
        analysis,
        source=source,
        score=label,
        simulated=simulated,
        dropped=dict.fromkeys(incomplete, "every image"),
        title="Could readers tell real from synthetic? MRMC ROC analysis",
    )
    return "mrmc.json"
