"""The numbers of the report's generator-by-generator section, read per synthetic set from the
records the stages wrote: the comparison's generators.csv, Table S1, the audit's neighbours, the
utility benchmark and the reader study's statistics. Each reader returns an empty result when
its stage has not run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from radsynth.audit.findings import copies, literature_numbers, read_verdicts
from radsynth.errors import RadsynthError
from radsynth.fates.records import AUDIT_ADJUDICATION, read_table_s1
from radsynth.io import read_json
from radsynth.layout import RunLayout
from radsynth.records import read_neighbours, read_stats
from radsynth.records.generators import GeneratorRow, read_generators
from radsynth.records.stats import StatsRecord

T = TypeVar("T")


def comparison(run: Path) -> list[GeneratorRow]:
    """The rows of the comparison's generators.csv; [] when it has not run."""
    path = RunLayout(run).comparison_csv
    return read_generators(path) if path.is_file() else []


def screen_by_set(run: Path) -> dict[str, dict[str, str]]:
    """Table S1 (keep/table_s1.csv) by set, the ``total`` row left out; {} without it."""
    path = RunLayout(run).fates_table
    if not path.is_file():
        return {}
    return {r["group"]: r for r in read_table_s1(path) if r.get("group") != "total"}


def _n_train(run: Path) -> int | None:
    try:
        record = read_json(RunLayout(run).audit / "calibration.json", "audit calibration")
    except RadsynthError:
        return None
    n = record.get("n_train") if isinstance(record, dict) else None
    return n if isinstance(n, int) and n > 0 else None


def memorization_by_set(run: Path) -> dict[str, dict[str, Any]]:
    """The audit's two memorization shares per set (:func:`radsynth.audit.findings.
    literature_numbers`): synthetic images that are copies, and training images copied.

    A set is the folder of the audited image's name (``gan/step-0000400/000012.png``). A copy
    is a flagged image unless the reviewers agreed it is not one, or one they agreed is
    memorized (:func:`radsynth.audit.findings.copies`). {} without audit/neighbours.csv."""
    path = RunLayout(run).audit_neighbours
    if not path.is_file():
        return {}
    rows = read_neighbours(path)
    review = RunLayout(run).review
    verdicts = read_verdicts(review) if (review / AUDIT_ADJUDICATION).is_file() else {}
    names = [r.synthetic for r in rows]
    is_copy = copies(np.array([r.flagged for r in rows], bool), names, verdicts)
    trains = sorted({r.train for r in rows})
    index = np.array([trains.index(r.train) for r in rows], int)
    n_train = _n_train(run) or len(trains)
    sets = np.array([Path(n).parent.as_posix() for n in names])
    return {
        s: literature_numbers(is_copy[sets == s], index[sets == s], n_train)
        for s in dict.fromkeys(sets.tolist())
    }


def utility_record(run: Path) -> dict[str, Any] | None:
    """utility.json, or None when the benchmark has not run."""
    path = RunLayout(run).utility / "utility.json"
    return read_json(path, "utility results") if path.is_file() else None


def stats_record(run: Path) -> StatsRecord | None:
    """stats.json, or None when the study has not been analysed."""
    path = RunLayout(run).stats_json
    return read_stats(path) if path.is_file() else None


@dataclass(frozen=True)
class SetNumbers:
    """Everything the section shows, read once."""

    comparison: list[GeneratorRow]  # generators.csv rows
    screen: dict[str, dict[str, str]]  # set -> Table S1 row
    memorization: dict[str, dict[str, Any]]  # set -> the audit's two shares
    utility: dict[str, Any] | None  # utility.json
    stats: StatsRecord | None  # stats.json
    notes: list[str]  # one line per record that could not be read

    def set_names(self) -> list[str]:
        """Every synthetic set any of the records names, in first-seen order."""
        names: list[str] = [r.set for r in self.comparison]
        names += [*self.screen, *self.memorization]
        if self.utility:
            names += [a.get("set", "") for a in self.utility.get("arms", [])]
        if self.stats:
            names += [g for g in self.stats.groups if g != self.stats.reference_group]
        return [n for n in dict.fromkeys(names) if n]


def _or_empty(read: Callable[[Path], T], run: Path, empty: T, notes: list[str]) -> T:
    """``read(run)``, or ``empty`` for a record that cannot be read, its error kept in
    ``notes`` (the section names it; the page is still written)."""
    try:
        return read(run)
    except RadsynthError as err:
        notes.append(f"left out: {err}")
        return empty


def read_numbers(run: Path) -> SetNumbers:
    """Read every record the section uses; an unreadable one counts as absent, with a note."""
    notes: list[str] = []
    return SetNumbers(
        _or_empty(comparison, run, [], notes),
        _or_empty(screen_by_set, run, {}, notes),
        _or_empty(memorization_by_set, run, {}, notes),
        _or_empty(utility_record, run, None, notes),
        _or_empty(stats_record, run, None, notes),
        notes,
    )
