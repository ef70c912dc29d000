"""Which screened images go into a release, and the study's Table S1 of counts per checkpoint.

The final decision on each image is the review page's latest one where a reviewer made one,
else the screen's automatic flag, so a reviewer who overrides the screen changes both the
released set and Table S1 (Supplementary Table S1 of the study: generated, excluded and kept
images per checkpoint).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from radsynth.errors import RadsynthError
from radsynth.release.inputs import ScreenRow

#: Table S1 columns, in order.
TABLE_S1_COLUMNS = (
    "checkpoint",
    "generated",
    "auto_excluded",
    "overridden",
    "excluded",
    "kept",
    "released",
)


@dataclass(frozen=True)
class Candidate:
    """One screened image and what was decided about it."""

    image: str  # <checkpoint>/<seed>.png, relative to the samples folder
    group: str  # checkpoint folder name
    score: str  # the screen's implausibility score
    auto_flagged: bool  # the screen's automatic decision was "exclude"
    decision: str  # final decision: "keep" | "exclude"
    decided_by: str  # the reviewer who made the final decision, or "auto"
    released: bool  # goes into the release


def decide(
    rows: Sequence[ScreenRow],
    decisions: Mapping[str, tuple[str, str]],
    keep: str = "screened",
    checkpoints: Sequence[str] = (),
) -> list[Candidate]:
    """Apply the reviewers' decisions to the screen and pick the released images.

    Args:
        rows: screen.csv rows.
        decisions: image -> (final decision, decided_by) from the review page.
        keep: "screened" releases the images finally kept; "all" releases every screened image
            (excluded ones stay marked in the metadata and the card says so).
        checkpoints: checkpoint folder names to release; empty = every screened checkpoint.

    Raises:
        RadsynthError: a named checkpoint was not screened, or a decision is neither keep nor
            exclude.
    """
    groups = sorted({r.group for r in rows})
    unknown = sorted(set(checkpoints) - set(groups))
    if unknown:
        raise RadsynthError(
            f"checkpoint(s) {', '.join(unknown)} were not screened; screened: {', '.join(groups)}"
        )
    chosen = set(checkpoints) or set(groups)
    out = []
    for r in rows:
        if r.group not in chosen:
            continue
        auto = "exclude" if r.flagged else "keep"
        final, who = decisions.get(r.image, (auto, "auto"))
        if final not in ("keep", "exclude"):
            raise RadsynthError(f"review decision for {r.image} is {final!r}, not keep or exclude")
        released = final == "keep" or keep == "all"
        out.append(Candidate(r.image, r.group, r.score, r.flagged, final, who or "auto", released))
    return sorted(out, key=lambda c: (c.group, c.image))


def table_s1(candidates: Iterable[Candidate]) -> list[dict[str, int | str]]:
    """Per checkpoint: generated, excluded by the screen, overridden by a reviewer, finally
    excluded, kept and released; then a ``total`` row."""
    counts: dict[str, Counter[str]] = {}
    for c in candidates:
        n = counts.setdefault(c.group, Counter())
        n["generated"] += 1
        n["auto_excluded"] += c.auto_flagged
        n["overridden"] += (c.decision == "exclude") != c.auto_flagged
        n["excluded"] += c.decision == "exclude"
        n["kept"] += c.decision == "keep"
        n["released"] += c.released
    total = sum(counts.values(), Counter())
    return [
        {"checkpoint": group, **{k: n[k] for k in TABLE_S1_COLUMNS[1:]}}
        for group, n in [*sorted(counts.items()), ("total", total)]
    ]


def format_table(rows: Sequence[Mapping[str, int | str]]) -> str:
    """Table S1 as aligned plain text, for the terminal."""
    widths = {k: max(len(k), *(len(str(r[k])) for r in rows)) for k in TABLE_S1_COLUMNS}
    lines = [
        "  ".join(
            k.rjust(widths[k]) if i else k.ljust(widths[k]) for i, k in enumerate(TABLE_S1_COLUMNS)
        )
    ]
    for r in rows:
        cells = [
            str(r[k]).rjust(widths[k]) if i else str(r[k]).ljust(widths[k])
            for i, k in enumerate(TABLE_S1_COLUMNS)
        ]
        lines.append("  ".join(cells))
    return "\n".join(lines)


def pseudonyms(names: Iterable[str]) -> dict[str, str]:
    """Reviewer id -> ``reviewer-N`` (N in sorted order of the ids); ``auto`` stays ``auto``.

    Reviewer ids may be e-mail addresses; the release carries only the pseudonyms.
    """
    real = sorted({n for n in names if n and n != "auto"})
    width = len(str(len(real)))
    return {"auto": "auto", **{n: f"reviewer-{i:0{width}d}" for i, n in enumerate(real, 1)}}
