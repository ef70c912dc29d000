"""Issue 24's study-app fixes: Unicode digits in integer fields are a 400 (one shared parser),
links.csv stays current after ``study links add``/``reissue``, and the too-many-fields
message ends with one full stop."""

from __future__ import annotations

import csv
import re

import httpx
import pytest
from study_helpers import answer_body, csrf_of, start

from radsynth.cli import main
from radsynth.study import service as svc
from radsynth.study.forms import parse_int

UNICODE_DIGITS = ("\u00b2", "\u2460", "\u0663", "1\u00b2")  # superscript 2, circled 1, Arabic 3


@pytest.mark.parametrize("text", UNICODE_DIGITS)
def test_shared_parser_refuses_unicode_digits(text: str) -> None:
    with pytest.raises(svc.StudyError) as exc:
        parse_int(text, 0, 100, "must be 0-100")
    assert exc.value.status == 400
    assert parse_int(" 42 ", 0, 100, "x") == 42 and parse_int(7, 0, 100, "x") == 7
    with pytest.raises(svc.StudyError):
        parse_int(True, 0, 100, "x")


def test_unicode_digits_are_400_in_every_integer_field(study_factory, serve) -> None:
    study = study_factory(questionnaire=True)
    srv = serve(study)
    c = httpx.Client(base_url=srv.url)
    a, b = study.tokens
    sup2 = "\u00b2"
    # Questionnaire years, JSON API and HTML form.
    r = c.post(f"/api/r/{a}/start", json={"questionnaire": {"role": "other", "years": sup2}})
    assert r.status_code == 400 and "years" in r.json()["error"]
    c.post(f"/api/r/{b}/start", json={})  # instructions read; the questionnaire is next
    page = c.get(f"/r/{b}/about").text
    form = {"csrf": csrf_of(page), "role": "other", "years": "\u2460"}
    assert c.post(f"/r/{b}/about", data=form).status_code == 400
    assert start(c, a, questionnaire={"role": "other", "years": 3}) == "items"
    # Item form: the version and a rating.
    item = c.get(f"/api/r/{a}/item/1").json()
    html = c.get(f"/r/{a}/item/1").text
    ok = {
        "csrf": csrf_of(html),
        "pick": item["image_ids"][0],
        "version": "0",
        **{f"rating_{i}": "3" for i in item["image_ids"]},
    }
    first = item["image_ids"][0]
    for change in ({"version": sup2}, {f"rating_{first}": sup2}, {f"rating_{first}": "\u2462"}):
        assert c.post(f"/r/{a}/item/1", data={**ok, **change}).status_code == 400, change
    # The admin's "add raters" count.
    admin = f"/admin/{study.admin}"
    page = c.get(admin).text
    bad = c.post(f"{admin}/add", data={"csrf": csrf_of(page, f"{admin}/add"), "count": sup2})
    assert bad.status_code == 400 and "Add 1 to 100" in bad.text
    assert c.post(f"/api/r/{a}/item/1", json=answer_body(item)).is_success  # still answerable


def test_too_many_fields_message_has_one_full_stop(study_factory, serve) -> None:
    study = study_factory()
    srv = serve(study)
    c = httpx.Client(base_url=srv.url)
    a = study.tokens[0]
    start(c, a)
    fields = {f"f{i}": "" for i in range(1001)}
    r = c.post(f"/r/{a}/item/1", data=fields)
    assert r.status_code == 400
    text = re.sub(r"\s+", " ", r.text)
    assert "1000." in text and "1000.." not in text


def _links_csv(study) -> dict[str, str]:  # noqa: ANN001
    with open(study.out / "links.csv") as fh:
        return {row["rater"]: row["url"] for row in csv.DictReader(fh)}


def test_links_csv_kept_current_by_add_and_reissue(study_factory, capsys) -> None:
    study = study_factory()
    base = ["study", "links"]
    before = _links_csv(study)
    assert [u.rsplit("/", 1)[1] for u in before.values()] == study.tokens
    assert main([*base, "reissue", str(study.out), "--db", study.db, "--rater", "rater-01"]) == 0
    after = _links_csv(study)
    assert after["rater-01"] != before["rater-01"] and after["rater-02"] == before["rater-02"]
    assert after["rater-01"] in capsys.readouterr().out  # the file and the terminal agree
    assert main([*base, "add", str(study.out), "--db", study.db, "--count", "2"]) == 0
    added = _links_csv(study)
    assert sorted(added) == ["rater-01", "rater-02", "rater-03", "rater-04"]
    assert all(url.startswith("http") for url in added.values())
    assert (study.out / "links.csv").stat().st_mode & 0o077 == 0
