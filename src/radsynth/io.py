"""Reading the text files that stages take in and pass on (CSV, JSON, YAML), with one-line errors.

Every stage reads text files through these helpers, so that a file which is missing, is not
UTF-8 (a Latin-1 or UTF-16 export from a spreadsheet, or a binary file given by mistake), or
is not valid CSV, JSON or YAML stops the stage with one :class:`RadsynthError` line that names
the file and the problem, never with a traceback. A leading UTF-8 byte-order mark (as Excel
writes in "CSV UTF-8") is accepted.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from radsynth.errors import RadsynthError

_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def read_text(path: Path, what: str = "file") -> str:
    """The UTF-8 text of ``path`` (a leading byte-order mark is dropped).

    Args:
        path: the file.
        what: what the file is, for the error message (e.g. "responses file").

    Raises:
        RadsynthError: the file is missing or unreadable, or is not UTF-8 text.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise RadsynthError(f"{what} not found: {path}") from None
    except OSError as exc:
        raise RadsynthError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if data.startswith(_UTF16_BOMS):
        raise RadsynthError(f"{what} {path} is UTF-16 text, not UTF-8: save it as UTF-8")
    if b"\x00" in data:  # valid UTF-8, but no text file holds NUL: binary, or UTF-16 sans BOM
        raise RadsynthError(f"{what} {path} is a binary file (it holds NUL bytes), not UTF-8 text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RadsynthError(
            f"{what} {path} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
            f"{exc.start}; perhaps Latin-1 or Windows-1252): save it as UTF-8"
        ) from None


def read_csv_rows(
    path: Path, what: str = "CSV file", required: Sequence[str] = ()
) -> list[dict[str, str]]:
    """The rows of a CSV file with a header line, as dicts of column -> text.

    Args:
        path: the file.
        what: what the file is, for error messages.
        required: columns that must be in the header.

    Returns:
        One dict per data row (blank lines skipped), keyed by the header's column names.

    Raises:
        RadsynthError: unreadable or not UTF-8 (see :func:`read_text`), malformed CSV, a
            missing required column, or a row with more or fewer fields than the header.
    """
    text = read_text(path, what)
    reader = csv.DictReader(io.StringIO(text, newline=""), restkey=_EXTRA, restval=_MISSING)
    try:
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise RadsynthError(f"{what} {path} lacks column(s) {', '.join(missing)}")
        rows = []
        for rec in reader:
            if _EXTRA in rec or _MISSING in rec.values():
                raise RadsynthError(
                    f"{what} {path}, line {reader.line_num}: the row has "
                    f"{'more' if _EXTRA in rec else 'fewer'} fields than the header "
                    f"({len(reader.fieldnames or [])})"
                )
            rows.append(rec)
    except csv.Error as exc:
        raise RadsynthError(
            f"{what} {path}, line {reader.line_num}: not valid CSV: {exc}"
        ) from None
    return rows


_EXTRA = "\x00extra"  # restkey: fields beyond the header's (no real column has this name)
_MISSING = "\x00missing"  # restval: a field the row lacks (no real value has this text)


def read_json(path: Path, what: str = "JSON file") -> Any:
    """The parsed contents of a JSON file.

    Raises:
        RadsynthError: unreadable or not UTF-8 (see :func:`read_text`), or not valid JSON.
    """
    text = read_text(path, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise RadsynthError(
            f"{what} {path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None


class _DuplicateKey(Exception):
    """A mapping names one key twice (PyYAML would keep the last silently)."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """The safe loader, refusing a key given twice in one mapping: a second ``gan:`` under
    ``generators:`` would otherwise replace the first without a word."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                line = key_node.start_mark.line + 1
                raise _DuplicateKey(f"key {key!r} is given twice in one mapping (line {line})")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path, what: str = "YAML file") -> Any:
    """The parsed contents of a YAML (or JSON) file.

    Raises:
        RadsynthError: unreadable or not UTF-8 (see :func:`read_text`), or not valid YAML.
    """
    text = read_text(path, what)
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader)
    except _DuplicateKey as exc:
        raise RadsynthError(f"{what} {path}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RadsynthError(f"{what} {path} is not valid YAML/JSON{where}: {problem}") from None
