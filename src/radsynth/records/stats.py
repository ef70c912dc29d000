"""``stats/stats.json``: the reader study's statistics (written by ``radsynth stats``, read by
the report and a release's card).

The top level is typed here; the sections (``identification``, ``agreement``, ``realism``,
``finding_by_class``, ``by_set``) stay plain JSON objects whose keys ``docs/stats.md``
documents. The file carries its layout's version (``schema``); a reader refuses another
version, or a file that is not this shape, in one line.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from radsynth.errors import RadsynthError
from radsynth.io import read_json
from radsynth.stage import atomic_write_text

#: Version of the stats.json layout; bump when a key changes meaning.
STATS_SCHEMA = "radsynth.stats/1"


@dataclass(frozen=True, kw_only=True)
class StatsRecord:
    """The whole of ``stats.json``; fields in the file's key order."""

    schema: str = STATS_SCHEMA  # the layout's version
    input: Mapping[str, Any]  # the export analysed: path, sha256, n_rows
    rater_kind: str  # "human" or "simulated": whose answers were analysed
    simulated: bool  # rater_kind == "simulated" (then the results are no evidence of realism)
    rater_kinds_present: Mapping[str, int]  # rater kind -> raters of that kind in the export
    design: str  # "pair" or "quartet": how many images a reader saw at once
    reference_group: str  # the real images' group
    groups: Sequence[str]  # every group, the reference included
    n_raters: int  # raters analysed
    n_items: int  # cases shown
    n_judgements: int  # identification answers analysed
    excluded_rows: Mapping[str, int]  # reason -> rows of the export left out
    identification: Mapping[str, Any]  # accuracy against chance: "pooled", per rater ...
    agreement: Mapping[str, Any]  # inter-rater agreement (kappa)
    realism: Mapping[str, Any]  # realism ratings per group, Wilcoxon + Holm, TOST
    finding_by_class: Mapping[str, Any] | None = None  # per-class findings; class studies only
    # per group (real and each synthetic set): identification and cues; absent in older files
    by_set: Mapping[str, Any] | None = None
    figures: Mapping[str, str]  # figure key -> PNG file beside stats.json
    warnings: Sequence[str]  # what the reader of the results should know


_TYPES: dict[str, type | tuple[type, ...]] = {
    "schema": str,
    "input": dict,
    "rater_kind": str,
    "simulated": bool,
    "rater_kinds_present": dict,
    "design": str,
    "reference_group": str,
    "groups": list,
    "n_raters": int,
    "n_items": int,
    "n_judgements": int,
    "excluded_rows": dict,
    "identification": dict,
    "agreement": dict,
    "realism": dict,
    "finding_by_class": (dict, type(None)),
    "by_set": (dict, type(None)),
    "figures": dict,
    "warnings": list,
}


def stats_dict(record: StatsRecord) -> dict[str, Any]:
    """The JSON object of ``stats.json``: every field in order, ``finding_by_class`` only when
    set (a study-wide study's file has no such key)."""
    out = {f.name: getattr(record, f.name) for f in fields(record)}
    for optional in ("finding_by_class", "by_set"):
        if out[optional] is None:
            del out[optional]
    return out


def write_stats(path: Path, record: StatsRecord) -> Path:
    """Write ``stats.json`` (2-space indent), atomically."""
    atomic_write_text(path, json.dumps(stats_dict(record), indent=2) + "\n")
    return path


def read_stats(path: Path) -> StatsRecord:
    """Read ``stats.json``.

    Raises:
        RadsynthError: missing, not JSON, another schema version, or a key missing or of the
            wrong type (one line that says to re-run ``radsynth stats``).
    """
    data = read_json(path, "reader-study statistics")
    if not isinstance(data, dict):
        raise RadsynthError(f"{path} is not a radsynth stats file (not a JSON object)")
    if data.get("schema") != STATS_SCHEMA:
        raise RadsynthError(
            f"{path} has stats schema {data.get('schema')!r}, this radsynth "
            f"reads {STATS_SCHEMA!r}; re-run 'radsynth stats'"
        )
    unknown = sorted(set(data) - set(_TYPES))
    if unknown:
        raise RadsynthError(f"{path}: unknown key(s) {', '.join(unknown)} in a stats file")
    for key, kind in _TYPES.items():
        value = data.get(key)
        if key not in ("finding_by_class", "by_set") and key not in data:
            raise RadsynthError(f"{path} lacks {key!r}; re-run 'radsynth stats'")
        # bool is an int in Python: a count that is true/false is still wrong.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise RadsynthError(f"{path}: {key!r} is not a {_name(kind)}; re-run 'radsynth stats'")
    if not isinstance(data["identification"].get("pooled"), dict):
        raise RadsynthError(f"{path}: 'identification' lacks 'pooled'; re-run 'radsynth stats'")
    return StatsRecord(**data)


def _name(kind: type | tuple[type, ...]) -> str:
    names = {
        str: "string",
        dict: "JSON object",
        list: "list",
        int: "whole number",
        bool: "true/false",
        type(None): "null",
    }
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names[k] for k in kinds)
