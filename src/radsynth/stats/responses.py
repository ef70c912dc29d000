"""Reading and checking the reader-study export (long format, one row per image shown).

Columns used: rater, rater_kind (human|simulated), item, image_id, group ('real' or a synthetic
set), picked (1 if this image was picked as the real one, quartet design), rating (1-4 or
empty), answer (real|fake|unsure, single-image design); optional: label (the image's class in a
class-conditional study) and finding (yes|no: does the image show its class's finding), which
:mod:`radsynth.stats.findings` analyses when labels are present. The study app also writes
cue (free text, counted per group by :mod:`radsynth.stats.by_set`); the study app also writes
position, started_at, answered_at and seconds, which the statistics do not need.

The design is a *quartet* (pick the real image among ``1 + k``) when every (rater, item) has
``1 + k`` rows, and *single* (is this image real?) when it has one row.

When the export has an ``item_kind`` column, only ``main`` items are analysed: attention checks
and repeated items measure the raters, not the images, and would double-count judgements.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from radsynth.errors import RadsynthError
from radsynth.io import read_csv_rows

#: Columns the statistics read; an export without any of them is refused by name.
REQUIRED_COLUMNS = (
    "rater",
    "rater_kind",
    "item",
    "image_id",
    "group",
    "picked",
    "rating",
    "answer",
)
ANSWERS = ("real", "fake", "unsure")


@dataclass(frozen=True)
class Response:
    """One image shown to one rater."""

    rater: str
    kind: str
    item: str
    image_id: str
    group: str
    picked: int | None
    rating: int | None
    answer: str
    item_kind: str = "main"  # main | attention | repeat (empty in older exports means main)
    label: str = ""  # the image's class (class-conditional studies); empty otherwise
    finding: str = ""  # "yes" | "no": shows its (class's) finding; empty when not asked
    cue: str = ""  # free text: what gave the image away (empty when not asked or not given)


@dataclass(frozen=True)
class Study:
    """The responses of one rater kind, arranged for analysis."""

    design: str  # "quartet" or "single"
    rater_kind: str  # "human" or "simulated"
    kinds_present: dict[str, int]  # rater kind -> number of raters in the file
    reference: str  # the real group
    groups: tuple[str, ...]  # reference first, then synthetic groups sorted
    raters: tuple[str, ...]
    items: tuple[str, ...]
    chance: float  # 1 / (1 + k) for quartets, 1/2 for single images
    categories: tuple[str, ...]  # identification categories for kappa
    correct: np.ndarray  # (raters, items): 1 correct, 0 wrong, NaN unanswered
    choices: dict[tuple[str, str], str]  # (rater, item) -> chosen category
    rating_sums: dict[tuple[str, str], tuple[int, int]]  # (rater, group) -> (sum, count)
    ratings: dict[str, list[int]]  # group -> every rating
    warnings: tuple[str, ...] = field(default=())
    excluded_rows: dict[str, int] = field(default_factory=dict)  # item_kind -> rows left out


def _int_or_none(text: str, column: str, line: int, allowed: range) -> int | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = int(float(text))
    except ValueError:
        raise RadsynthError(f"line {line}: {column} {text!r} is not a number") from None
    if value not in allowed or float(text) != value:
        raise RadsynthError(f"line {line}: {column} {text!r} is outside {allowed[0]}-{allowed[-1]}")
    return value


def read_responses(path: Path, scale: tuple[int, int] = (1, 4)) -> list[Response]:
    """Read the export CSV; one-line :class:`RadsynthError` for a missing file or column, a
    file that is not UTF-8 CSV (e.g. a Latin-1 or UTF-16 spreadsheet export), or a bad value."""
    rows = []
    records = read_csv_rows(path, "responses file", required=REQUIRED_COLUMNS)
    for line, rec in enumerate(records, start=2):
        kind = rec["rater_kind"].strip().lower()
        if kind not in ("human", "simulated"):
            raise RadsynthError(f"line {line}: rater_kind {kind!r} is not human or simulated")
        answer = rec["answer"].strip().lower()
        if answer and answer not in ANSWERS:
            raise RadsynthError(f"line {line}: answer {answer!r} is not real, fake or unsure")
        finding = (rec.get("finding") or "").strip().lower()
        if finding not in ("", "yes", "no"):
            raise RadsynthError(f"line {line}: finding {finding!r} is not yes or no")
        rows.append(
            Response(
                rater=rec["rater"].strip(),
                kind=kind,
                item=rec["item"].strip(),
                image_id=rec["image_id"].strip(),
                group=rec["group"].strip(),
                picked=_int_or_none(rec["picked"], "picked", line, range(0, 2)),
                rating=_int_or_none(rec["rating"], "rating", line, range(scale[0], scale[1] + 1)),
                answer=answer,
                item_kind=(rec.get("item_kind") or "main").strip() or "main",
                label=(rec.get("label") or "").strip(),
                finding=finding,
                cue=(rec.get("cue") or "").strip(),
            )
        )
    if not rows:
        raise RadsynthError(f"{path.name} holds no responses")
    return rows


def choose_kind(rows: list[Response], kind: str) -> tuple[str, dict[str, int]]:
    """The rater kind to analyse: ``kind``, or for "auto" human when present, else simulated."""
    present: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        present[r.kind].add(r.rater)
    counts = {k: len(v) for k, v in sorted(present.items())}
    if kind == "auto":
        kind = "human" if "human" in counts else "simulated"
    if kind not in counts:
        raise RadsynthError(f"no {kind} raters in the responses (found: {', '.join(counts)})")
    return kind, counts


def main_rows(rows: list[Response], kind: str) -> list[Response]:
    """The rows a study's analysis uses: rater kind ``kind``, main items only."""
    return [r for r in rows if r.kind == kind and r.item_kind == "main"]


def build_study(rows: list[Response], kind: str = "auto", reference: str = "real") -> Study:
    """Check the responses of one rater kind and arrange them for analysis.

    Raises:
        RadsynthError: no reference group, mixed designs, two picks in one quartet, a rater with
            no answers, or a group rated by fewer than 2 raters.
    """
    kind, counts = choose_kind(rows, kind)
    rows = [r for r in rows if r.kind == kind]
    excluded = Counter(r.item_kind for r in rows if r.item_kind != "main")
    rows = [r for r in rows if r.item_kind == "main"]
    if not rows:
        raise RadsynthError(f"no main-item answers from {kind} raters")
    groups_seen = {r.group for r in rows}
    if reference not in groups_seen:
        raise RadsynthError(f"no '{reference}' images in the {kind} responses")
    groups = (reference, *sorted(groups_seen - {reference}))
    cells: dict[tuple[str, str], list[Response]] = defaultdict(list)
    for r in rows:
        cells[(r.rater, r.item)].append(r)
    sizes = {len(v) for v in cells.values()}
    if len(sizes) > 1:
        raise RadsynthError(
            f"items show different numbers of images ({sorted(sizes)}); "
            "expected one design throughout"
        )
    size = sizes.pop()
    design = "single" if size == 1 else "quartet"
    raters = tuple(sorted({r.rater for r in rows}))
    items = tuple(sorted({r.item for r in rows}))
    choices = _choices(cells, design, reference)
    correct = np.full((len(raters), len(items)), np.nan)
    r_idx = {r: i for i, r in enumerate(raters)}
    i_idx = {it: j for j, it in enumerate(items)}
    for (rater, item), (_chosen, ok) in choices.items():
        correct[r_idx[rater], i_idx[item]] = ok
    rating_sums, ratings = _ratings(rows)
    warnings = _check(raters, items, groups, choices, rating_sums, kind)
    return Study(
        design=design,
        rater_kind=kind,
        kinds_present=counts,
        reference=reference,
        groups=groups,
        raters=raters,
        items=items,
        chance=1 / size if design == "quartet" else 0.5,
        categories=groups if design == "quartet" else ANSWERS,
        correct=correct,
        choices={k: v[0] for k, v in choices.items()},
        rating_sums=rating_sums,
        ratings=ratings,
        warnings=tuple(warnings),
        excluded_rows=dict(sorted(excluded.items())),
    )


def _choices(
    cells: dict[tuple[str, str], list[Response]], design: str, reference: str
) -> dict[tuple[str, str], tuple[str, float]]:
    """(rater, item) -> (chosen category, 1.0 if correct else 0.0), answered cells only."""
    out = {}
    for key, rows in cells.items():
        if design == "quartet":
            if sum(1 for r in rows if r.group == reference) != 1:
                raise RadsynthError(
                    f"rater {key[0]}, item {key[1]}: a quartet needs exactly one "
                    f"'{reference}' image"
                )
            picked = [r for r in rows if r.picked == 1]
            if len(picked) > 1:
                raise RadsynthError(f"rater {key[0]}, item {key[1]}: {len(picked)} images picked")
            if picked:
                out[key] = (picked[0].group, float(picked[0].group == reference))
        elif rows[0].answer:
            r = rows[0]
            ok = r.answer != "unsure" and (r.answer == "real") == (r.group == reference)
            out[key] = (r.answer, float(ok))
    return out


def _ratings(rows: list[Response]) -> tuple[dict[tuple[str, str], tuple[int, int]], dict]:
    sums: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    ratings: dict[str, list[int]] = defaultdict(list)
    for r in rows:
        if r.rating is not None:
            cell = sums[(r.rater, r.group)]
            cell[0] += r.rating
            cell[1] += 1
            ratings[r.group].append(r.rating)
    return {k: (s, n) for k, (s, n) in sums.items()}, dict(ratings)


def _check(raters, items, groups, choices, rating_sums, kind: str) -> list[str]:
    """Refuse what cannot be analysed; return warnings naming what is missing."""
    answered = defaultdict(set)
    for rater, item in choices:
        answered[rater].add(item)
    warnings = []
    for rater in raters:
        has_ratings = any((rater, g) in rating_sums for g in groups)
        if not answered[rater] and not has_ratings:
            raise RadsynthError(f"{kind} rater {rater} has no answers")
        missing = sorted(set(items) - answered[rater])
        if missing:
            shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
            warnings.append(
                f"rater {rater} did not answer {len(missing)} of {len(items)} items ({shown})"
            )
    any_ratings = bool(rating_sums)
    for g in groups:
        who = {r for r in raters if (r, g) in rating_sums} if any_ratings else set(answered)
        if len(who) < 2:
            raise RadsynthError(f"group {g} was rated by {len(who)} {kind} rater(s); need 2+")
        if any_ratings and len(who) < len(raters):
            lacking = ", ".join(sorted(set(raters) - who))
            warnings.append(f"group {g} has no realism ratings from rater(s) {lacking}")
    return warnings
