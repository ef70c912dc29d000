"""constraints.txt pins every direct dependency, so a fresh `make install` gets the tested set
and a new release of diffusers, accelerate or FastAPI cannot break it overnight."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    """The normalised project name of a requirement ("psycopg[binary]>=3.1" -> "psycopg")."""
    name = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement).group(1)
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins() -> dict[str, str]:
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep and re.fullmatch(r"[0-9][0-9A-Za-z.+]*", version.strip()), line
            pins[_name(name)] = version.strip()
    return pins


def test_every_direct_dependency_is_pinned() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"])
    for extra in ("test", "dicom-codecs", "lora"):
        wanted += project["optional-dependencies"][extra]
    wanted += ["psycopg-binary"]  # what psycopg[binary] installs
    # The Makefile's --no-deps packages take their versions from constraints.txt.
    makefile = (REPO / "Makefile").read_text()
    no_deps = re.search(r"pip install -q --no-deps -c constraints.txt ([^\n]+)", makefile)
    assert no_deps, "the --no-deps install must use constraints.txt"
    wanted += no_deps.group(1).split()
    pins = _pins()
    assert sorted({_name(r) for r in wanted} - set(pins)) == []
    assert pins["torch"] == "2.13.0"  # make install puts exactly this build in first
