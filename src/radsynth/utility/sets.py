"""Named synthetic sets given as ``NAME=DIR`` (and their sidecar folders as ``NAME=METADIR``).

A set's name is the folder relative to ``samples/`` or ``kept/`` in a run: ``step-NNNNNNN``
with one generator, ``<generator>/step-NNNNNNN`` with several. The utility benchmark and the
generator comparison read the same flags, so they parse them here, once.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from radsynth.errors import RadsynthError


def _split(spec: str, flag: str) -> tuple[str, Path]:
    name, sep, folder = spec.partition("=")
    name = name.strip().strip("/")
    if not sep or not name or not folder or any(not p for p in name.split("/")):
        raise RadsynthError(f"{flag} wants NAME=DIR (e.g. gan/step-0000400=DIR), got {spec!r}")
    return name, Path(folder)


def parse_sets(specs: Sequence[str], flag: str) -> dict[str, Path]:
    """``("gan/step-0000400=dir1", ...)`` -> ``{"gan/step-0000400": Path("dir1"), ...}``.

    Raises:
        RadsynthError: a malformed entry or a name given twice (one line).
    """
    sets: dict[str, Path] = {}
    for spec in specs:
        name, folder = _split(spec, flag)
        if name in sets:
            raise RadsynthError(f"{flag}: set name {name!r} is given twice; names must be unique")
        sets[name] = folder
    return sets


def parse_sets_meta(specs: Sequence[str], sets: dict[str, Path], flag: str) -> dict[str, Path]:
    """Sidecar folder per set: ``NAME=METADIR`` where given, else ``DIR/meta``.

    Raises:
        RadsynthError: a malformed entry, a name that is not a set, or a name given twice.
    """
    dirs = {name: folder / "meta" for name, folder in sets.items()}
    seen: set[str] = set()
    for spec in specs:
        name, folder = _split(spec, flag)
        if name not in sets:
            raise RadsynthError(f"{flag}: {name!r} is not one of the sets ({', '.join(sets)})")
        if name in seen:
            raise RadsynthError(f"{flag}: set name {name!r} is given twice")
        seen.add(name)
        dirs[name] = folder
    return dirs


def set_generator(name: str) -> str | None:
    """The generator part of a set name (``gan/step-0000400`` -> ``gan``), None without one.

    Local stand-in for ``radsynth.layout.set_generator`` until the layout carries it."""
    head, sep, _ = name.rpartition("/")
    return head if sep and head else None
