"""Whether the reader study's raters have finished, so ``run`` knows to go on to statistics.

Reads the study database through the study's service layer (:mod:`radsynth.study.service`),
never through its web app: no FastAPI or Jinja import, and no server needs to run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from radsynth.study import db as study_db
from radsynth.study import service
from radsynth.study.migrate import open_study


@dataclass(frozen=True)
class ReaderProgress:
    """Answered and assigned items per rater of one kind."""

    kind: str  # "human" or "simulated"
    raters: tuple[tuple[str, int, int, bool], ...]  # (name, answered, total, closed)

    @property
    def finished(self) -> bool:
        """Every open rater has answered every item (closed links are not waited for)."""
        waiting = [r for r in self.raters if not r[3]]
        return bool(self.raters) and all(answered >= total for _, answered, total, _ in waiting)

    @property
    def summary(self) -> str:
        done = sum(1 for _, a, t, closed in self.raters if closed or a >= t)
        return f"{done} of {len(self.raters)} {self.kind} raters finished"

    def describe(self) -> str:
        """One line per rater, for the console."""
        lines = [f"Reader study: {self.summary}"]
        for name, answered, total, closed in self.raters:
            state = "closed" if closed else f"{answered}/{total} items"
            lines.append(f"  {name}: {state}")
        return "\n".join(lines)


def reader_progress(study: Path, kind: str = "human") -> ReaderProgress:
    """Progress of the raters of one kind in a study folder made by ``radsynth study create``."""
    engine = open_study(study_db.resolve_url(study, None))
    try:
        with Session(engine) as session:
            query = select(study_db.Rater).where(study_db.Rater.kind == kind)
            raters = []
            for rater in session.scalars(query.order_by(study_db.Rater.name)):
                answered, total = service.progress(session, rater.id)
                raters.append((rater.name, answered, total, bool(rater.closed)))
    finally:
        engine.dispose()
    return ReaderProgress(kind, tuple(raters))
