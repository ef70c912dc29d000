"""The report's "Reviewers' decisions" section: what people decided on the review page.

Reads ``RUN/review`` (written by ``radsynth review``) through
:mod:`radsynth.screening.decisions`, the same records ``keep`` applies, so the report shows the
decisions that changed the kept set.
"""

from __future__ import annotations

from pathlib import Path

from radsynth.pipeline.keep import REVIEW_DIR
from radsynth.report.sections import Section, fmt
from radsynth.screening.decisions import read_audit_verdicts, read_screen_decisions


def reviewer_decisions(run: Path, max_rows: int = 50) -> Section | None:
    """The reviewers' screening overrides and audit verdicts; None when nobody reviewed."""
    folder = run / REVIEW_DIR
    screen = [d for d in read_screen_decisions(folder).values() if d.reviewed]
    audit = [v for v in read_audit_verdicts(folder).values() if v.verdicts]
    if not screen and not audit:
        return None
    sec = Section("review", "Reviewers' decisions",
                  "People checked the screen's flags and the audit's most similar pairs on the "
                  "review page; their decisions override the automatic ones.")  # fmt: skip
    overridden = [d for d in screen if d.overridden]
    restored = sum(d.final == "keep" for d in overridden)
    copies = [v for v in audit if v.memorized]
    sec.headline = (
        f"Reviewers decided {len(screen):,} screened images ({len(overridden):,} overrides: "
        f"{restored:,} flagged images kept, {len(overridden) - restored:,} passed images "
        f"excluded) and judged {len(audit):,} audit pairs ({len(copies):,} agreed copies)."
    )
    sec.paragraphs.append(sec.headline)
    if screen:
        rows = [[d.image, fmt(d.score, 3), d.auto, d.final, d.decided_by]
                for d in sorted(screen, key=lambda d: (not d.overridden, -d.score))]  # fmt: skip
        sec.tables.append({"caption": "Screening decisions made by reviewers",
                           "header": ["Image", "Score", "Screen", "Reviewer", "By"],
                           "rows": rows[:max_rows],
                           "note": f"{len(rows) - max_rows:,} more in {folder.name}/"
                           "screen_decisions.csv." if len(rows) > max_rows else ""})  # fmt: skip
    if audit:
        rows = [[str(v.rank), v.synthetic, v.train, fmt(v.similarity, 3),
                 ", ".join(f"{who}: {x}" for who, x in v.verdicts), v.status,
                 "excluded" if v.memorized else "kept"]
                for v in sorted(audit, key=lambda v: v.rank)]  # fmt: skip
        sec.tables.append({"caption": "Memorization verdicts on audit pairs",
                           "header": ["Rank", "Synthetic image", "Training image", "Similarity",
                                      "Verdicts", "Status", "Synthetic image is"],
                           "rows": rows[:max_rows],
                           "note": "A pair counts as a copy when at least two reviewers judged "
                           "it and all said memorized; disagreements and single verdicts are "
                           "listed but do not exclude the image."})  # fmt: skip
    return sec
