"""Finding the system programs the reader-study tests drive: a PostgreSQL server and Chromium.

Imported by module name (like study_helpers). Whatever version is installed is used; where none
is, the tests skip on a developer's machine but FAIL under CI (``CI=true``, as GitHub Actions
and most CI services set it), so that a missing ``scripts/system-deps.sh`` step can never turn
the database or browser tests into silent skips.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

DEBIAN_PG_ROOT = Path("/usr/lib/postgresql")  # Debian/Ubuntu: /usr/lib/postgresql/<major>/bin


def _version_key(folder: Path) -> tuple[int, ...]:
    """(16,) for .../16, (9, 6) for .../9.6; names that are not versions sort first."""
    try:
        return tuple(int(part) for part in folder.name.split("."))
    except ValueError:
        return ()


def _is_server_bin(folder: Path) -> bool:
    return all(os.access(folder / name, os.X_OK) for name in ("initdb", "pg_ctl"))


def _pg_config_bindir() -> Path | None:
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        return None
    proc = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
    return Path(proc.stdout.strip()) if proc.returncode == 0 and proc.stdout.strip() else None


def find_pg_bin(debian_root: Path = DEBIAN_PG_ROOT, search_path: bool = True) -> Path | None:
    """The bin folder (with initdb and pg_ctl) of the newest installed PostgreSQL server.

    Looks in the Debian layout ``debian_root/<version>/bin`` (newest version first), then, when
    ``search_path``, in ``pg_config --bindir`` and beside an ``initdb`` on PATH.
    """
    candidates = sorted(debian_root.glob("*/bin"), key=lambda b: _version_key(b.parent))[::-1]
    if search_path:
        bindir = _pg_config_bindir()
        initdb = shutil.which("initdb")
        candidates += [p for p in (bindir, Path(initdb).parent if initdb else None) if p]
    return next((c for c in candidates if _is_server_bin(c)), None)


def find_chromium() -> Path | None:
    """A Chromium executable on PATH (Debian's ``chromium``, or ``chromium-browser``)."""
    for name in ("chromium", "chromium-browser"):
        if found := shutil.which(name):
            return Path(found)
    return None


def require(found: Path | None, what: str, env: Mapping[str, str] = os.environ) -> Path:
    """``found``, or skip the test (fail it under ``CI=true``) when it is None."""
    if found is not None:
        return found
    message = f"{what} is not installed (scripts/system-deps.sh installs it)"
    if env.get("CI", "").strip().lower() in ("true", "1"):
        pytest.fail(f"CI: {message}", pytrace=False)
    pytest.skip(message)
