"""Link management from the CLI and the admin page (SQLite and PostgreSQL), and the bench."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session
from study_helpers import answer_body, csrf_of, start

from radsynth.cli import main
from radsynth.study import db as t
from radsynth.study.links import link_key, new_token, seal, unseal


def _links(study, capsys, action: str, *flags: str) -> dict[str, str]:  # noqa: ANN001
    assert main(["study", "links", action, str(study.out), "--db", study.db, *flags]) == 0
    out = capsys.readouterr().out
    return {m[0]: m[1] for m in re.findall(r"^(\S+)\t\S+\t\S+\t(\S+)", out, re.M)}


def test_sealed_tokens_open_only_with_the_admin_token() -> None:
    token = new_token()
    sealed = seal(token, link_key("admin-a"))
    assert unseal(sealed, link_key("admin-a"), t.token_hash(token)) == token
    assert unseal(sealed, link_key("admin-b"), t.token_hash(token)) is None
    assert token not in sealed and seal(token, link_key("admin-a")) != sealed  # fresh nonce


def test_links_cli_add_reissue_close_reopen_show(study_factory, serve, capsys) -> None:
    study = study_factory()
    srv = serve(study)
    c = httpx.Client(base_url=srv.url)
    shown = _links(study, capsys, "show")
    assert [u.rsplit("/", 1)[1] for u in shown.values()] == study.tokens
    a = study.tokens[0]
    start(c, a)
    item = c.get(f"/api/r/{a}/item/1").json()
    assert c.post(f"/api/r/{a}/item/1", json=answer_body(item)).is_success
    # Reissue: the old link stops working, the new one goes on where the rater was.
    new_a = _links(study, capsys, "reissue", "--rater", "rater-01")["rater-01"].rsplit("/", 1)[1]
    assert c.get(f"/r/{a}").status_code == 404
    assert c.get(f"/api/r/{new_a}/next").json()["answered"] == 1
    added = _links(study, capsys, "add", "--count", "2")
    assert sorted(added) == ["rater-03", "rater-04"]
    assert c.get(f"/r/{added['rater-04'].rsplit('/', 1)[1]}").status_code == 303
    _links(study, capsys, "close", "--rater", "rater-02")
    assert c.get(f"/r/{study.tokens[1]}").status_code == 403
    _links(study, capsys, "reopen", "--rater", "rater-02")
    assert c.get(f"/r/{study.tokens[1]}").status_code == 303
    assert main(["study", "links", "close", str(study.out), "--db", study.db]) == 2  # no --rater
    assert main(["study", "links", "close", str(study.out), "--db", study.db,
                 "--rater", "nobody"]) == 2  # fmt: skip
    engine = t.make_engine(study.db)
    with Session(engine) as s:
        log = [(e.action, e.rater, e.via) for e in s.scalars(select(t.AdminLog).order_by("id"))]
        assert all(e.at is not None for e in s.scalars(select(t.AdminLog)))
    engine.dispose()
    assert log == [("reissue", "rater-01", "cli"), ("add", "rater-03", "cli"),
                   ("add", "rater-04", "cli"), ("close", "rater-02", "cli"),
                   ("reopen", "rater-02", "cli")]  # fmt: skip


def test_admin_page_reissues_adds_and_logs(study_factory, serve) -> None:
    study = study_factory()
    srv = serve(study)
    c = httpx.Client(base_url=srv.url)
    admin = f"/admin/{study.admin}"
    page = c.get(admin).text
    for token in study.tokens:  # links shown again, unsealed with the admin token
        assert f"/r/{token}</code>" in page
    r = c.post(
        f"{admin}/reissue/rater-02", data={"csrf": csrf_of(page, f"{admin}/reissue/rater-02")}
    )
    new = re.search(r'id="new-link">.*?<code>[^<]*/r/([^<]+)</code>', r.text, re.S).group(1)
    assert (
        c.get(f"/r/{study.tokens[1]}").status_code == 404 and c.get(f"/r/{new}").status_code == 303
    )
    page = c.get(admin).text
    r = c.post(f"{admin}/add", data={"csrf": csrf_of(page, f"{admin}/add"), "count": "1"})
    assert r.status_code == 303
    bad = c.post(f"{admin}/add", data={"csrf": csrf_of(page, f"{admin}/add"), "count": "10**9"})
    assert bad.status_code == 400
    page = c.get(admin).text
    assert re.search(r"<td>add</td><td>rater-03</td><td>web</td>", page)
    assert re.search(r"<td>reissue</td><td>rater-02</td><td>web</td>", page)
    links = list(read_csv_text(c.get(f"{admin}/links.csv").text))
    assert [r["rater"] for r in links] == ["rater-01", "rater-02", "rater-03"]
    assert links[1]["url"].endswith(new)


def read_csv_text(text: str) -> list[dict]:
    import csv
    import io

    return list(csv.DictReader(io.StringIO(text)))


def test_bench_study_smoke(capsys) -> None:
    assert main(["bench", "study", "--raters", "3", "--screens", "2", "--think-min-s", "0",
                 "--think-max-s", "0", "--size-px", "32"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "3 raters x 2 screens" in out and "requests/s" in out
    assert "answers stored 6 of 6: lost 0, duplicated 0" in out
