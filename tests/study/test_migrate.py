"""A study database made by schema version 1 opens after an upgrade (SQLite and PostgreSQL)."""

from __future__ import annotations

import stat

import httpx
import pytest
from sqlalchemy import inspect, select, update
from sqlalchemy.orm import Session
from study_helpers import StudyRef, answer_body, start
from v1_schema import make_v1_study

from radsynth.errors import RadsynthError
from radsynth.study import db as t
from radsynth.study.export import export_rows
from radsynth.study.migrate import MIGRATIONS, open_study, read_version


@pytest.fixture
def v1_url(db_url, tmp_path) -> str:  # noqa: ANN001
    url = db_url or f"sqlite:///{tmp_path / 'study.db'}"
    make_v1_study(url, "r" * 43, "a" * 43)
    return url


def test_v1_database_is_upgraded_once_and_keeps_every_answer(v1_url, db_kind, tmp_path) -> None:
    engine = t.make_engine(v1_url)
    assert read_version(engine) == 1
    engine.dispose()
    engine = open_study(v1_url)
    assert read_version(engine) == t.SCHEMA_VERSION == max(MIGRATIONS) + 1
    columns = {c["name"] for c in inspect(engine).get_columns("image")}
    assert {"label", "original_id"} <= columns
    with Session(engine) as s:
        # The per-image class (conditional generation) is there, empty for old images.
        assert set(s.scalars(select(t.Image.label))) == {None}
        rows = export_rows(s)
        meta = {m.key: m.value for m in s.scalars(select(t.Meta))}
    assert [(r["seq"], r["rating"], r["picked"]) for r in rows] == [
        (1, 1, 1), (1, 2, 0), (1, 3, 0), (1, 4, 0),
    ]  # fmt: skip
    assert rows[0]["seconds"] == 7.0 and rows[0]["first_rating"] == 1
    # A version-1 study let raters go back; the upgrade keeps that behaviour.
    assert meta["allow_back"] == "1" and len(meta["csrf_secret"]) == 64
    engine.dispose()
    # Opening again changes nothing; SQLite keeps a private copy of the old file.
    open_study(v1_url).dispose()
    if db_kind == "sqlite":
        backup = tmp_path / "study.db.schema-v1.bak"
        assert stat.S_IMODE(backup.stat().st_mode) == 0o600
        old = t.make_engine(f"sqlite:///{backup}")
        assert read_version(old) == 1
        old.dispose()


def test_rater_goes_on_after_upgrade_and_newer_schema_is_refused(v1_url, serve, tmp_path) -> None:
    srv = serve(StudyRef(tmp_path, v1_url, ["r" * 43], "a" * 43))
    c = httpx.Client(base_url=srv.url)
    token = "r" * 43
    assert start(c, token) == "items"  # the upgrade counts old raters as having started
    assert c.get(f"/api/r/{token}/next").json()["seq"] == 2
    item = c.get(f"/api/r/{token}/item/2").json()
    assert c.post(f"/api/r/{token}/item/2", json=answer_body(item)).json() == {"version": 1}
    assert c.get(f"/admin/{'a' * 43}").status_code == 200
    srv.server.should_exit = True
    engine = t.make_engine(v1_url)
    with Session(engine) as s, s.begin():
        s.execute(update(t.SchemaVersion).values(version=t.SCHEMA_VERSION + 1))
    engine.dispose()
    with pytest.raises(RadsynthError, match="newer than this radsynth"):
        open_study(v1_url)
