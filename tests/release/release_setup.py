"""Helpers shared by the release tests (a module of its own: ``conftest`` would resolve to
another folder's when several test folders run together)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from radsynth.config import build_config
from radsynth.pipeline import stages as registry
from radsynth.release.build import ReleaseConfig, release
from radsynth.stage import StageResult

REVIEWER = "alice.smith@example.org"  # an e-mail address: must leave only as a pseudonym
N_KEPT_BY_REVIEWER = 6


def run_stage(name: str, **fields: Any) -> StageResult:
    """Run a stage the way the CLI and the pipeline do: its config built from field values."""
    cls, stage = registry.loader(name)()
    return stage(build_config(cls, fields))


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def do_release(run: Path | None, out: Path, **fields: Any) -> StageResult:
    """``radsynth release RUN OUT`` with extra fields; printed lines are dropped."""
    values = {"out": out, **fields} | ({"run": run} if run is not None else {})
    return release(build_config(ReleaseConfig, values), echo=lambda _: None)
