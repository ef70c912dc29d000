"""Hardening, each on SQLite and PostgreSQL: CSV formulas, body limit, form tokens, integer
ranges, malformed paths, file modes and the database password."""

from __future__ import annotations

import json
import re
import stat

import httpx
import pytest
from study_helpers import StudyRef, answer_body, count_responses, csrf_of, read_csv, start

from radsynth.errors import RadsynthError
from radsynth.study import db as t
from radsynth.study.export import ExportConfig, export_responses

FORMULA = '=HYPERLINK("http://evil.example","x")'


def test_admin_csv_escapes_formulas_and_machine_export_stays_exact(study_factory, serve) -> None:
    study = study_factory(questions=("cue",))
    srv = serve(study)
    c = httpx.Client(base_url=srv.url)
    a = study.tokens[0]
    start(c, a)
    item = c.get(f"/api/r/{a}/item/1").json()
    cues = dict(zip(item["image_ids"], [FORMULA, "+1", "-2", "@SUM(A1)"], strict=True))
    assert c.post(f"/api/r/{a}/item/1", json={**answer_body(item), "cue": cues}).is_success
    sheet = list(csv_rows(c.get(f"/admin/{study.admin}/export.csv").text))
    assert sorted(r["cue"] for r in sheet) == sorted("'" + v for v in cues.values())
    assert {r["rating"] for r in sheet} == {"3"}  # numbers are left alone
    export_responses(ExportConfig(study=study.out, db=study.db))
    exact = read_csv(study.out / "export.csv")
    assert sorted(r["cue"] for r in exact) == sorted(cues.values())
    links = list(csv_rows(c.get(f"/admin/{study.admin}/links.csv").text))
    assert [r["url"].rsplit("/", 1)[1] for r in links] == study.tokens


def test_bodies_over_64_kib_are_refused_before_parsing(study_factory, serve) -> None:
    study = study_factory()
    srv = serve(study)
    c = httpx.Client(base_url=srv.url)
    a = study.tokens[0]
    start(c, a)
    item = c.get(f"/api/r/{a}/item/1").json()
    big = {**answer_body(item), "pad": "x" * 70_000}
    r = c.post(f"/api/r/{a}/item/1", json=big)
    assert r.status_code == 413 and "64 KiB" in r.json()["error"]
    form = {"version": "0", "csrf": "x", "pad": "y" * 70_000}
    r = c.post(f"/r/{a}/item/1", data=form)
    assert r.status_code == 413 and r.headers["content-type"].startswith("text/html")

    def chunks():  # no Content-Length: the limit applies while reading
        body = json.dumps(big).encode()
        for i in range(0, len(body), 8192):
            yield body[i : i + 8192]

    r = c.post(f"/api/r/{a}/item/1", content=chunks(),
               headers={"content-type": "application/json"})  # fmt: skip
    assert r.status_code == 413
    assert count_responses(study.db) == (0, 0)
    # Just under the limit is fine.
    assert c.post(f"/api/r/{a}/item/1", json=answer_body(item)).status_code == 200


def test_cross_site_posts_are_refused_and_own_pages_work_with_origin_null(
    study_factory, serve
) -> None:
    study = study_factory()
    srv = serve(study)
    c = httpx.Client(base_url=srv.url)
    a = study.tokens[0]
    # A foreign site's form: no token, or a token made for another page.
    r = c.post(f"/r/{a}/instructions", data={}, headers={"origin": "https://evil.example"})
    assert r.status_code == 403
    page = c.get(f"/r/{a}/instructions").text
    assert c.post(f"/r/{a}/consent", data={"csrf": csrf_of(page)}).status_code == 403
    assert c.get(f"/api/r/{a}/next").json()["step"] == "instructions"
    # The app's own form, posted by a browser under no-referrer (Origin: null), goes through.
    r = c.post(f"/r/{a}/instructions", data={"csrf": csrf_of(page)}, headers={"origin": "null"})
    assert r.status_code == 303 and r.headers["location"].endswith("/item/1")
    html = c.get(f"/r/{a}/item/1").text
    ids = re.findall(r'name="rating_([0-9a-f]+)"', html)
    form = {"version": "0", "pick": ids[0], **{f"rating_{i}": "2" for i in ids}}
    assert c.post(f"/r/{a}/item/1", data=form).status_code == 403
    assert (
        c.post(f"/r/{a}/item/1", data={**form, "csrf": "0" * 16 + "." + "0" * 32}).status_code
        == 403
    )
    # JSON only as application/json (a cross-site page cannot send that without a preflight).
    body = json.dumps(answer_body(c.get(f"/api/r/{a}/item/1").json()))
    r = c.post(f"/api/r/{a}/item/1", content=body, headers={"content-type": "text/plain"})
    assert r.status_code == 415
    assert count_responses(study.db) == (0, 0)
    ok = c.post(f"/r/{a}/item/1", data={**form, "csrf": csrf_of(html)}, headers={"origin": "null"})
    assert ok.status_code == 303
    # Admin actions need their page's token too.
    close = f"/admin/{study.admin}/close/rater-02"
    assert c.post(close, data={"confirm": "yes"}).status_code == 403
    assert c.get(f"/api/r/{study.tokens[1]}/next").status_code == 200


def test_out_of_range_integers_and_malformed_paths_are_4xx(study_factory, serve) -> None:
    study = study_factory()
    srv = serve(study)
    c = httpx.Client(base_url=srv.url)
    a = study.tokens[0]
    start(c, a)
    item = c.get(f"/api/r/{a}/item/1").json()
    huge = 10**23
    cases = [
        c.post(f"/api/r/{a}/item/1", json=answer_body(item, version=huge)),
        c.post(f"/api/r/{a}/item/1", json=answer_body(item, version=-1)),
        c.post(f"/api/r/{a}/item/1", json=answer_body(item, rating=huge)),
        c.get(f"/api/r/{a}/item/{2**64 + 1}"),
        c.post(f"/api/r/{a}/item/{huge}", json=answer_body(item)),
        c.get(f"/r/{a}/item/{huge}"),
        c.get(f"/r/{a}/item/-3"),
        c.get(f"/admin/{study.admin}/export.csv", params={"history": str(huge)}),
        c.get(f"/r/{a}/about", params={"status": str(huge)}),  # not a parameter of the page
    ]  # fmt: skip
    assert [r.status_code for r in cases] == [400, 400, 400, 404, 404, 404, 404, 400, 200]
    html = c.get(f"/r/{a}/item/1").text
    form = {"version": str(huge), "csrf": csrf_of(html), "pick": item["image_ids"][0],
            **{f"rating_{i}": str(huge) for i in item["image_ids"]}}  # fmt: skip
    assert c.post(f"/r/{a}/item/1", data=form).status_code == 400
    # Malformed path parameters get the app's own page (HTML) or error (JSON), never raw JSON.
    for path in (f"/r/{a}/item/abc", f"/r/{a}/item/1.5", "/no/such/page"):
        r = c.get(path)
        assert r.status_code == 404 and r.headers["content-type"].startswith("text/html"), path
        assert 'class="notice"' in r.text and "detail" not in r.text
    r = c.get(f"/api/r/{a}/item/abc")
    assert r.status_code == 404 and set(r.json()) == {"error"}
    assert count_responses(study.db) == (0, 0)


def test_database_files_are_private_and_password_stays_out(
    study_factory, serve, db_kind, db_url, tmp_path, monkeypatch, cxr_dir, synthetic_dirs, capsys
) -> None:
    if db_kind == "sqlite":
        study = study_factory()
        srv = serve(study, subprocess=True)
        c = httpx.Client(base_url=srv.url)
        start(c, study.tokens[0])  # a write, so the -wal and -shm files exist
        for name in ("study.db", "study.db-wal", "study.db-shm"):
            assert stat.S_IMODE((study.out / name).stat().st_mode) == 0o600, name
        return
    # PostgreSQL: a password in --db goes to a 0600 file, never to config, manifest or logs.
    from radsynth.cli import main
    from radsynth.study.create import CreateStudyConfig, create_study

    secret = "Pw-never-in-files-7Q"
    with_pw = db_url.replace("postgres@", f"postgres:{secret}@")
    out = tmp_path / "pw"
    create_study(
        CreateStudyConfig(
            out=out,
            real=cxr_dir,
            db=with_pw,
            items=4,
            raters=2,
            synthetic=tuple(f"{k}={v}" for k, v in synthetic_dirs.items()),
        )
    )
    for name in ("config.json", "manifest.json"):
        assert secret not in (out / name).read_text(), name
    assert json.loads((out / "config.json").read_text())["db"] == db_url
    assert stat.S_IMODE((out / t.PASSWORD_FILE).stat().st_mode) == 0o600
    assert t.resolve_url(out, None) == with_pw  # read back for serve, export, the pipeline
    monkeypatch.setenv(t.PASSWORD_ENV, "from-env")
    assert t.resolve_url(out, None) == db_url.replace("postgres@", "postgres:from-env@")
    monkeypatch.delenv(t.PASSWORD_ENV)
    srv = serve(StudyRef(out, db_url, [], ""), subprocess=True)
    assert httpx.get(srv.url + "/").status_code == 200
    assert main(["study", "export", str(out)]) == 0
    assert main(["study", "create", str(tmp_path / "bad"), "--real", str(cxr_dir),
                 "--synthetic", f"A={synthetic_dirs['ckA']}",
                 "--db", "postgresql+psycopg://u:" + secret + "@[bad"]) == 2  # fmt: skip
    srv.stop()
    logs = "".join(p.read_text(errors="replace") for p in out.glob("server-*.log"))
    assert secret not in logs and secret not in capsys.readouterr().err
    (out / t.PASSWORD_FILE).chmod(0o644)
    with pytest.raises(RadsynthError, match="owner only"):
        t.resolve_url(out, None)


def csv_rows(text: str) -> list[dict]:
    import csv
    import io

    return list(csv.DictReader(io.StringIO(text)))
