"""``mrmc.json``: the multi-reader multi-case ROC analysis (written by ``radsynth mrmc`` and by
``radsynth stats`` on a single-design study, as ``stats/mrmc.json``; read by the report).

The top level is typed here; ``analysis`` stays a plain JSON object whose keys
``docs/stats.md`` documents. The file carries its layout's version (``schema``); a reader
refuses another version, or a file that is not this shape, in one line.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from radsynth.errors import RadsynthError
from radsynth.io import read_json
from radsynth.stage import atomic_write_text

#: Version of the mrmc.json layout; bump when a key changes meaning.
MRMC_SCHEMA = "radsynth.mrmc/1"


@dataclass(frozen=True, kw_only=True)
class MrmcRecord:
    """The whole of ``mrmc.json``; fields in the file's key order."""

    schema: str = MRMC_SCHEMA  # the layout's version
    input: Mapping[str, Any]  # the ratings analysed: path, sha256, n_rows
    score: str  # what was ranked: a column name, or "realism rating" / "answer (3-point)"
    simulated: bool  # the readers were simulated (then the result is no evidence of realism)
    dropped_readers: Mapping[str, str]  # reader -> why they were left out
    analysis: Mapping[str, Any]  # see docs/stats.md, "MRMC analysis"
    warnings: Sequence[str]  # what the reader of the results should know


_TYPES: dict[str, type] = {
    "schema": str,
    "input": dict,
    "score": str,
    "simulated": bool,
    "dropped_readers": dict,
    "analysis": dict,
    "warnings": list,
}


def write_mrmc(path: Path, record: MrmcRecord) -> Path:
    """Write ``mrmc.json`` (2-space indent), atomically."""
    atomic_write_text(path, json.dumps(asdict(record), indent=2) + "\n")
    return path


def read_mrmc(path: Path) -> MrmcRecord:
    """Read ``mrmc.json``.

    Raises:
        RadsynthError: missing, not JSON, another schema version, or a key missing, unknown
            or of the wrong type.
    """
    data = read_json(path, "MRMC analysis")
    if not isinstance(data, dict):
        raise RadsynthError(f"{path} is not a radsynth MRMC file (not a JSON object)")
    if data.get("schema") != MRMC_SCHEMA:
        raise RadsynthError(
            f"{path} has MRMC schema {data.get('schema')!r}, this radsynth reads "
            f"{MRMC_SCHEMA!r}; re-run 'radsynth mrmc'"
        )
    names = {f.name for f in fields(MrmcRecord)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise RadsynthError(f"{path}: unknown key(s) {', '.join(unknown)} in an MRMC file")
    for key, kind in _TYPES.items():
        if not isinstance(data.get(key), kind):
            raise RadsynthError(f"{path}: {key!r} is missing or not a {kind.__name__}")
    return MrmcRecord(**data)
