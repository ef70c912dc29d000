"""Every CSV radsynth writes goes through :mod:`radsynth.records._csv`: one ``csv_text``, one
``write_csv``; no module writes CSV by hand (grepped here), and a named column list means one
file's columns wherever its name appears."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from radsynth.records._csv import csv_text, write_csv

SRC = Path(__file__).resolve().parents[1] / "src" / "radsynth"

#: Modules allowed to write CSV by hand, each with its reason (none: every CSV goes through
#: records._csv).
HAND_WRITTEN: set[str] = set()

_WRITER = re.compile(r"\bcsv\.(writer|DictWriter)\(")


def test_csv_text_is_the_files_format(tmp_path: Path) -> None:
    rows = [{"a": "x,y", "b": 'say "hi"', "c": None}, {"a": 1.5, "b": "two\nlines"}]
    text = csv_text(("a", "b", "c"), rows)
    assert text == 'a,b,c\n"x,y","say ""hi""",\n1.5,"two\nlines",\n'  # \n ends, minimal quotes
    with pytest.raises(ValueError):
        csv_text(("a",), [{"a": 1, "extra": 2}])  # a key that is no column is an error ...
    assert csv_text(("a",), [{"a": 1, "extra": 2}], ignore_extra=True) == "a\n1\n"  # ... or left
    path = write_csv(tmp_path / "t.csv", ("a", "b", "c"), rows)
    assert path.read_bytes() == text.encode()


def test_no_module_writes_csv_by_hand() -> None:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel == "records/_csv.py" or rel in HAND_WRITTEN:
            continue
        lines = enumerate(path.read_text().splitlines(), 1)
        found += [f"{rel}:{n}" for n, line in lines if _WRITER.search(line)]
    assert not found, "CSV written outside radsynth.records._csv:\n" + "\n".join(found)


def test_the_grep_finds_a_hand_writer() -> None:
    assert _WRITER.search("w = csv.writer(buf, lineterminator='\\n')")
    assert _WRITER.search("w = csv.DictWriter(buf, fieldnames=cols)")
    assert not _WRITER.search("rows = list(csv.reader(fh))")


def _column_constants() -> dict[str, dict[str, str]]:
    """``NAME_COLUMNS`` constant -> {module: its value's source}, over src/."""
    out: dict[str, dict[str, str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name) and target.id.endswith("_COLUMNS"):
                        rel = path.relative_to(SRC).as_posix()
                        out.setdefault(target.id, {})[rel] = ast.unparse(node.value)
    return out


def test_a_named_column_list_means_one_thing() -> None:
    """Two modules may each name their own file's columns ``CSV_COLUMNS``, but a name that
    says which file (``SCREEN_CSV_COLUMNS``) is one list wherever it is defined."""
    clashes = {
        name: where
        for name, where in _column_constants().items()
        if name != "CSV_COLUMNS" and len(set(where.values())) > 1
    }
    assert not clashes
