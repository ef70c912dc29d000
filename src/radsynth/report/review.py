"""The report's "Reviewers' decisions" section: what people decided on the review page.

Screening overrides, audit verdicts, and the decisions on the films ingest kept out of
training (``RUN/data/review.csv``, decided into ``RUN/review/review_decisions.csv``).

Reads ``RUN/review`` (written by ``radsynth review``) through
:mod:`radsynth.fates.records`, the same records ``keep`` applies, so the report shows the
decisions that changed the kept set.
"""

from __future__ import annotations

from pathlib import Path

from radsynth.data.review_decisions import (
    CHOICES,
    REVIEW_DECISIONS,
    IngestDecision,
    read_ingest_decisions,
)
from radsynth.fates.records import read_audit_verdicts, read_screen_decisions
from radsynth.io import read_csv_rows
from radsynth.layout import RunLayout
from radsynth.report.sections import Section, fmt


def ingest_review(run: Path) -> tuple[int, list[IngestDecision]]:
    """How many films the run's ingest kept out for review, and the reviewers' decisions."""
    layout = RunLayout(run)
    listed = layout.data_review
    n_listed = len(read_csv_rows(listed, "ingest review list")) if listed.is_file() else 0
    path = layout.ingest_decisions
    decided = list(read_ingest_decisions(path).values()) if path.is_file() else []
    return n_listed, decided


def reviewer_decisions(run: Path, max_rows: int = 50) -> Section | None:
    """The reviewers' screening overrides, audit verdicts and ingest decisions; None when there
    is nothing reviewed and nothing waiting for review."""
    folder = RunLayout(run).review
    screen = [d for d in read_screen_decisions(folder).values() if d.reviewed]
    audit = [v for v in read_audit_verdicts(folder).values() if v.verdicts]
    n_listed, films = ingest_review(run)
    if not screen and not audit and not n_listed and not films:
        return None
    sec = Section(
        "review",
        "Reviewers' decisions",
        "People checked the screen's flags and the audit's most similar pairs on the "
        "review page; their decisions override the automatic ones.",
    )
    overridden = [d for d in screen if d.overridden]
    restored = sum(d.final == "keep" for d in overridden)
    copies = [v for v in audit if v.memorized]
    sec.headline = (
        f"Reviewers decided {len(screen):,} screened images ({len(overridden):,} overrides: "
        f"{restored:,} flagged images kept, {len(overridden) - restored:,} passed images "
        f"excluded) and judged {len(audit):,} audit pairs ({len(copies):,} agreed copies)."
    )
    if n_listed or films:
        kept = sum(d.final == "keep" for d in films)
        sec.headline += (
            f" Ingest's review.csv lists {n_listed:,} films of uncertain polarity or rotation, "
            f"kept out of training; reviewers decided {len(films):,} films ({kept:,} brought "
            f"back, {len(films) - kept:,} excluded), applied when ingest runs with "
            "--review-decisions."
        )
    sec.paragraphs.append(sec.headline)
    if screen:
        rows = [
            [d.image, fmt(d.score, 3), d.auto, d.final, d.decided_by]
            for d in sorted(screen, key=lambda d: (not d.overridden, -d.score))
        ]
        sec.tables.append(
            {
                "caption": "Screening decisions made by reviewers",
                "header": ["Image", "Score", "Screen", "Reviewer", "By"],
                "rows": rows[:max_rows],
                "note": f"{len(rows) - max_rows:,} more in {folder.name}/screen_decisions.csv."
                if len(rows) > max_rows
                else "",
            }
        )
    if audit:
        rows = [
            [
                str(v.rank),
                v.synthetic,
                v.train,
                fmt(v.similarity, 3),
                ", ".join(f"{who}: {x}" for who, x in v.verdicts),
                v.status,
                "excluded" if v.memorized else "kept",
            ]
            for v in sorted(audit, key=lambda v: v.rank)
        ]
        sec.tables.append(
            {
                "caption": "Memorization verdicts on audit pairs",
                "header": [
                    "Rank",
                    "Synthetic image",
                    "Training image",
                    "Similarity",
                    "Verdicts",
                    "Status",
                    "Synthetic image is",
                ],
                "rows": rows[:max_rows],
                "note": "A pair counts as a copy when at least two reviewers judged "
                "it and all said memorized; disagreements and single verdicts are "
                "listed but do not exclude the image.",
            }
        )
    if films:
        rows = [
            [d.source_path, CHOICES.get(d.choice, (d.choice,))[0], d.decided_by, d.decided_at]
            for d in sorted(films, key=lambda d: d.source_path)
        ]
        sec.tables.append(
            {
                "caption": "Decisions on the films ingest kept out of training",
                "header": ["Source film", "Decision", "By", "When (UTC)"],
                "rows": rows[:max_rows],
                "note": f"{len(rows) - max_rows:,} more in {folder.name}/{REVIEW_DECISIONS}."
                if len(rows) > max_rows
                else "",
            }
        )
    return sec
