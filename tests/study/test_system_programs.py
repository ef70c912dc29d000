"""The database and browser tests find whatever PostgreSQL and Chromium are installed, and
cannot be skipped silently under CI."""

from __future__ import annotations

from pathlib import Path

import pytest
from system_programs import find_pg_bin, require


def _fake_server(root: Path, version: str, complete: bool = True) -> Path:
    bin_dir = root / version / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("initdb", "pg_ctl") if complete else ("pg_ctl",):
        (bin_dir / name).write_text("#!/bin/sh\n")
        (bin_dir / name).chmod(0o755)
    return bin_dir


def test_the_newest_installed_server_is_found(tmp_path: Path) -> None:
    assert find_pg_bin(tmp_path, search_path=False) is None
    _fake_server(tmp_path, "9.6")
    newest = _fake_server(tmp_path, "16")
    _fake_server(tmp_path, "13")
    _fake_server(tmp_path, "17", complete=False)  # client tools only: not a server
    assert find_pg_bin(tmp_path, search_path=False) == newest


def test_this_machines_server_is_found_whatever_its_version() -> None:
    installed = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not installed:
        pytest.skip("no Debian PostgreSQL server here")
    assert find_pg_bin() is not None and (find_pg_bin() / "initdb").is_file()


def test_missing_program_skips_locally_and_fails_under_ci(tmp_path: Path) -> None:
    assert require(tmp_path, "x", env={"CI": "true"}) == tmp_path
    with pytest.raises(pytest.skip.Exception):
        require(None, "PostgreSQL", env={})
    with pytest.raises(pytest.fail.Exception, match="CI: PostgreSQL is not installed"):
        require(None, "PostgreSQL", env={"CI": "true"})
