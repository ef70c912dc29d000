"""Long-form MRMC ratings (one row per reader x modality x case) into :class:`MrmcData`.

A case is identified by its name across modalities. A modality's cases are those rated under
it, so the design may be fully crossed (every case under every modality), fully unpaired (each
modality its own cases) or partially paired (a reader study of synthetic images: the real,
truth-1 images are shown with every synthetic set, each set's own images only with it). Every
reader must rate every case of every modality; a reader who did not is refused, or with
``allow_missing`` dropped and named.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from radsynth.errors import RadsynthError
from radsynth.stats.mrmc import MrmcData


@dataclass(frozen=True)
class Rating:
    """One parsed row."""

    reader: str
    modality: str
    case: str
    truth: bool
    rating: float


@dataclass(frozen=True)
class Columns:
    """Column names of the long-form ratings."""

    reader: str = "reader"
    modality: str = "modality"
    case: str = "case"
    truth: str = "truth"
    rating: str = "rating"


def parse_rows(
    records: Iterable[Mapping[str, str]], cols: Columns = Columns(), first_line: int = 2
) -> list[Rating]:
    """Parse rows; one-line :class:`RadsynthError` for a non-numeric rating, a truth that is
    not 0/1, an empty reader/modality/case or a reader x modality x case rated twice."""
    out, seen = [], set()
    for line, rec in enumerate(records, start=first_line):
        reader, modality, case = (rec[c].strip() for c in (cols.reader, cols.modality, cols.case))
        if not (reader and modality and case):
            raise RadsynthError(f"line {line}: empty {cols.reader}, {cols.modality} or {cols.case}")
        truth = rec[cols.truth].strip()
        if truth not in ("0", "1"):
            raise RadsynthError(f"line {line}: {cols.truth} {truth!r} is not 0 or 1")
        text = rec[cols.rating].strip()
        try:
            rating = float(text)
        except ValueError:
            raise RadsynthError(f"line {line}: {cols.rating} {text!r} is not a number") from None
        if not math.isfinite(rating):
            raise RadsynthError(f"line {line}: {cols.rating} {text!r} is not a finite number")
        key = (reader, modality, case)
        if key in seen:
            raise RadsynthError(
                f"line {line}: reader {reader} rated case {case} twice in {modality}"
            )
        seen.add(key)
        out.append(Rating(reader, modality, case, truth == "1", rating))
    if not out:
        raise RadsynthError("no ratings")
    return out


def _case_truths(ratings: list[Rating]) -> dict[str, bool]:
    truth: dict[str, bool] = {}
    for r in ratings:
        if truth.setdefault(r.case, r.truth) != r.truth:
            raise RadsynthError(f"case {r.case} has both truth 0 and truth 1")
    return truth


def incomplete_readers(ratings: list[Rating]) -> dict[str, str]:
    """Readers who did not rate every case of some modality -> what they missed (one line)."""
    cases: dict[str, set[str]] = defaultdict(set)
    done: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in ratings:
        cases[r.modality].add(r.case)
        done[(r.reader, r.modality)].add(r.case)
    out = {}
    for reader in sorted({r.reader for r in ratings}):
        gaps = [
            f"{len(cases[m] - done[(reader, m)])} of {len(cases[m])} cases of {m}"
            for m in sorted(cases)
            if cases[m] - done[(reader, m)]
        ]
        if gaps:
            out[reader] = "; ".join(gaps)
    return out


def build_data(
    ratings: list[Rating], *, allow_missing: bool = False, need_comparison: bool = True
) -> tuple[MrmcData, dict[str, str]]:
    """Arrange parsed ratings; returns the data and the readers dropped (reader -> reason).

    Raises:
        RadsynthError: a case with both truths; an incomplete reader (without
            ``allow_missing``); fewer than 2 readers; one modality when a comparison is
            asked for; a modality with fewer than 2 cases of either truth.
    """
    truth_of = _case_truths(ratings)
    dropped = incomplete_readers(ratings)
    if dropped and not allow_missing:
        reader, what = next(iter(dropped.items()))
        raise RadsynthError(
            f"reader {reader} did not rate {what} ({len(dropped)} incomplete reader(s); "
            "--allow-missing drops them)"
        )
    ratings = [r for r in ratings if r.reader not in dropped]
    readers = tuple(sorted({r.reader for r in ratings}))
    modalities = tuple(sorted({r.modality for r in ratings}))
    if len(readers) < 2:
        raise RadsynthError(f"{len(readers)} complete reader(s); MRMC analysis needs 2 or more")
    if need_comparison and len(modalities) < 2:
        raise RadsynthError(
            f"one modality only ({modalities[0]}); a comparison needs 2 or more "
            "(--no-compare analyses a single modality)"
        )
    cases = tuple(sorted(truth_of))
    m_idx = {m: i for i, m in enumerate(modalities)}
    r_idx = {r: i for i, r in enumerate(readers)}
    c_idx = {c: i for i, c in enumerate(cases)}
    scores = np.zeros((len(modalities), len(readers), len(cases)))
    shown = np.zeros((len(modalities), len(cases)), dtype=bool)
    for r in ratings:
        scores[m_idx[r.modality], r_idx[r.reader], c_idx[r.case]] = r.rating
        shown[m_idx[r.modality], c_idx[r.case]] = True
    truth = np.array([truth_of[c] for c in cases])
    for m, name in enumerate(modalities):
        n1, n0 = int((shown[m] & truth).sum()), int((shown[m] & ~truth).sum())
        if min(n1, n0) < 2:
            raise RadsynthError(
                f"modality {name} has {n1} truth-1 and {n0} truth-0 case(s); need 2 of each"
            )
    data = MrmcData(scores, truth, shown, modalities, readers, cases)
    return data, dropped


def design_name(data: MrmcData) -> str:
    """ "crossed", "unpaired" (no case under two modalities) or "partially paired"."""
    if data.fully_crossed:
        return "crossed"
    if (data.shown.sum(axis=0) <= 1).all():
        return "unpaired"
    return "partially paired"
