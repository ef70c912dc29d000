"""``radsynth review OUT``: serve the review page; decisions land in ``OUT``.

Give the folders whose outputs need a person: ``--screen RUN/screen`` (flagged samples),
``--audit RUN/audit`` (possible memorized copies) and ``--ingest RUN/data`` (films ingest kept
out of training). The decisions are stored in ``OUT/review.db`` (or the ``--db`` PostgreSQL
database) and written to ``OUT/screen_decisions.csv``, ``OUT/audit_adjudication.csv`` and
``OUT/review_decisions.csv``, which ``keep``, the report, the release and ``ingest
--review-decisions`` read. This module imports neither torch nor numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from radsynth.config import arg
from radsynth.review.app import create_app, open_context
from radsynth.review.queues import load_queues
from radsynth.stage import StageResult


@dataclass(frozen=True)
class ReviewConfig:
    """Serve the review page for a screen, an audit and/or an ingest folder."""

    out: Path = arg(help="review folder: review.db and the decision CSVs", positional=True)
    screen: Path | None = arg(None, help="screen output folder (screen.csv, config.json)")
    audit: Path | None = arg(None, help="audit output folder (pairs.csv, sheets/)")
    ingest: Path | None = arg(None, help="ingest output folder (review.csv, review/)")
    db: str | None = arg(
        None, help="database URL (postgresql+psycopg://...); default sqlite:///OUT/review.db"
    )
    host: str = arg("127.0.0.1", help="interface to listen on")
    port: int = arg(8765, help="TCP port")


def review(cfg: ReviewConfig) -> StageResult:
    """Serve the review page until interrupted; decisions land in ``cfg.out``."""
    import uvicorn

    queues = load_queues(cfg.screen, cfg.audit, cfg.ingest)
    ctx = open_context(queues, cfg.out, cfg.db)
    print(f"review page: http://{cfg.host}:{cfg.port}/  (decisions in {cfg.out})")
    uvicorn.run(create_app(ctx), host=cfg.host, port=cfg.port, log_level="warning")
    ctx.engine.dispose()
    return StageResult(cfg.out, f"review decisions in {cfg.out}")
