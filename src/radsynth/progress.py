"""Progress for long stages: one tqdm bar style and one per-checkpoint summary line for all.

A stage that runs for more than a few seconds wraps its main loop in :func:`bar` (count, rate
and ETA on stderr; hidden when stderr is not a terminal, so logs and CI output stay clean) and,
for each checkpoint it handles, calls :func:`log_checkpoint`, which logs one INFO line of the
form ``"<stage> <checkpoint>: <what happened>"``. The CLI prints INFO lines to stderr, so the
per-checkpoint summaries appear whether or not a bar is shown.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import Any

from tqdm import tqdm


def bar(
    iterable: Iterable[Any] | None = None,
    *,
    total: int | None = None,
    desc: str,
    unit: str = "img",
    enabled: bool = True,
    force: bool = False,
) -> tqdm:
    """A progress bar with count, rate (``unit``/s) and ETA on stderr.

    Args:
        iterable: what to iterate over (or None, and call ``update`` by hand).
        total: number of units, when ``iterable`` has no length.
        desc: short label, e.g. the stage name.
        unit: what one step counts ("img", "ckpt", "row").
        enabled: False hides the bar; when True it is still hidden if stderr is not a terminal.
        force: show the bar even when stderr is not a terminal (the user asked for it).
    """
    return tqdm(
        iterable,
        total=total,
        desc=desc,
        unit=unit,
        file=sys.stderr,
        disable=(False if force else None) if enabled else True,
        dynamic_ncols=True,
        leave=False,
    )


def log_checkpoint(logger: logging.Logger, stage: str, item: str, message: str) -> None:
    """Log a stage's one summary line for one checkpoint (or sweep row): ``"<stage> <item>:
    <message>"``, e.g. ``"fid-sweep step-0068000: FID 12.345, ..."``."""
    logger.info("%s %s: %s", stage, item, message)
