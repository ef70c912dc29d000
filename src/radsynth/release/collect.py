"""Which screened images go into a release, and the study's Table S1 of counts per checkpoint.

Each image's fate is the one the ``keep`` stage recorded in a run folder
(``keep/images.csv``), or, for parts named one by one, :func:`radsynth.fates.keep.decide_fates`,
the function ``keep`` uses: the screen's flag, overridden either way by a reviewer on the review
page, and an image that reviewers agreed is a memorized copy never goes out. So a reviewer who
overrides the screen changes both the released set and Table S1 (Supplementary Table S1 of the
study: generated, excluded and kept images per checkpoint).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from radsynth.fates.keep import decide_fates, read_keep_record
from radsynth.fates.records import (
    AUDIT_ADJUDICATION,
    SCREEN_DECISIONS,
    TABLE_S1_COLUMNS,
    AuditVerdict,
    ImageFate,
    read_audit_verdicts,
    read_screen_decisions,
    table_s1,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Decisions:
    """The screen's and the reviewers' decisions on the images of the chosen checkpoints."""

    fates: list[ImageFate]  # every screened image of the chosen checkpoints, in release order
    flagged: dict[str, bool]  # image -> the screen flagged it (whatever the keep mode)
    verdicts: dict[str, AuditVerdict]  # image -> the reviewers' verdicts on its audit pair
    reviewers: list[str]  # every reviewer id that made a decision (to pseudonymise)

    @property
    def released(self) -> list[ImageFate]:
        return [f for f in self.fates if f.kept]

    def table(self) -> list[dict[str, object]]:
        """Table S1 (see :func:`radsynth.fates.records.table_s1`)."""
        return table_s1(self.fates)


def decide(
    screen: Path,
    review: Path | None,
    keep: str = "screened",
    checkpoints: Sequence[str] = (),
    images: Path | None = None,
    record: Path | None = None,
) -> Decisions:
    """Apply the reviewers' decisions to the screen and pick the released images.

    Args:
        screen: the screen's folder (screen.csv).
        review: the review page's folder, or None when nobody reviewed.
        keep: "screened" releases the images kept after screening and review; "all" carries
            flagged images too unless a reviewer excluded them (as the pipeline's ``keep: all``).
        checkpoints: checkpoint folder names to release; empty = every screened checkpoint.
        images: the samples folder; an image there that the screen never saw is refused.
        record: the keep stage's fates record (``keep/images.csv`` of a run), read instead of
            deciding again; None (parts named one by one): decided by
            :func:`~radsynth.fates.keep.decide_fates`, the same function keep uses.

    Raises:
        RadsynthError: a named checkpoint was not screened, a decision file is unreadable, or
            the record is stale or was made under the other keep mode.
    """
    if record is not None:
        decided_from = [screen / "screen.csv"]
        if review is not None:
            decided_from += [review / SCREEN_DECISIONS, review / AUDIT_ADJUDICATION]
        fates = read_keep_record(
            record, keep, checkpoints=checkpoints, older_inputs=decided_from, images=images
        )
    else:
        fates = decide_fates(
            screen, review, keep, with_audit=True, checkpoints=checkpoints, images=images
        )
    reviewed = read_screen_decisions(review) if review is not None else {}
    verdicts = read_audit_verdicts(review) if review is not None else {}
    names = [d.decided_by for d in reviewed.values()]
    names += [who for v in verdicts.values() for who, _ in v.verdicts]
    return Decisions(
        fates=sorted(fates, key=lambda f: (f.group, f.image)),
        flagged={f.image: f.flagged for f in fates},
        verdicts=dict(verdicts),
        reviewers=sorted({n for n in names if n and n != "auto"}),
    )


def format_table(rows: Sequence[Mapping[str, object]]) -> str:
    """Table S1 as aligned plain text, for the terminal."""
    cols = TABLE_S1_COLUMNS
    widths = {k: max(len(k), *(len(str(r[k])) for r in rows)) for k in cols}

    def line(cells: Mapping[str, object]) -> str:
        return "  ".join(
            str(cells[k]).rjust(widths[k]) if i else str(cells[k]).ljust(widths[k])
            for i, k in enumerate(cols)
        )

    return "\n".join([line({k: k for k in cols}), *(line(r) for r in rows)])


def pseudonyms(names: Iterable[str]) -> dict[str, str]:
    """Reviewer id -> ``reviewer-N`` (N in sorted order of the ids); ``auto`` stays ``auto``.

    Reviewer ids may be e-mail addresses; the release carries only the pseudonyms.
    """
    real = sorted({n for n in names if n and n != "auto"})
    width = len(str(len(real)))
    return {"auto": "auto", **{n: f"reviewer-{i:0{width}d}" for i, n in enumerate(real, 1)}}
