"""Raters in real headless Chromium: the whole flow by keyboard, locked answers, resume, edits."""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session
from study_helpers import read_csv

from radsynth.study import db as t
from radsynth.study.export import ExportConfig, export_responses

IMAGES_LOADED = (
    "Array.from(document.querySelectorAll('.viewer img')).every(i => i.complete && i.naturalWidth)"
)


def _export(url: str, admin: str, tmp: Path, history: bool = False) -> list[dict]:
    r = httpx.get(f"{url}/admin/{admin}/export.csv", params={"history": history})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    path = tmp / "export.csv"
    path.write_text(r.text)
    return read_csv(path)


def _ids(page: Page) -> list[str]:
    return [src.rsplit("/", 1)[1] for src in page.locator(".viewer img").evaluate_all(
        "els => els.map(e => e.getAttribute('src'))")]  # fmt: skip


def _shot(page: Page, tmp: Path, name: str) -> None:
    """Save a screenshot; with RADSYNTH_STUDY_SCREENSHOTS=DIR also into DIR (docs/study.md)."""
    page.screenshot(path=str(tmp / f"{name}.png"))
    folder = os.environ.get("RADSYNTH_STUDY_SCREENSHOTS")
    if folder:
        page.screenshot(path=str(Path(folder) / f"{name}.png"))


def _first_main_item(url: str) -> tuple[int, int]:
    """rater-01's first main item (numbered after practice) and the position of its real image."""
    engine = t.make_engine(url)
    with Session(engine) as s:
        rows = s.execute(
            select(t.Assignment.seq, t.Item.kind, t.Assignment.item_id)
            .join(t.Rater, t.Rater.id == t.Assignment.rater_id)
            .join(t.Item, t.Item.id == t.Assignment.item_id)
            .where(t.Rater.name == "rater-01")
            .order_by(t.Assignment.seq)
        ).all()
        n_practice = sum(kind == "practice" for _, kind, _ in rows)
        seq, item = next((q, i) for q, kind, i in rows if kind == "main")
        position = s.scalar(
            select(t.ItemImage.position)
            .join(t.Image, t.Image.id == t.ItemImage.image_id)
            .where(t.ItemImage.item_id == item, t.Image.group == "real")
        )
    engine.dispose()
    return seq - n_practice, position


def _answer_with_keys(page: Page, pick: str, keys: list[str], done: int = 0) -> None:
    """Pick with a digit, then per image a rating key and a finding key; the current image
    must stay the same between the two. Image ``done`` was answered already: skip it."""
    page.keyboard.press(pick)
    for pos, key in enumerate(keys, start=1):
        expect(page.locator(f"#card-{pos}")).to_have_class(re.compile("active"))
        if pos == done:
            page.keyboard.press("ArrowRight")
            continue
        page.keyboard.press(key)
        expect(page.locator(f"#card-{pos}")).to_have_class(re.compile("active"))
        page.keyboard.press("y")
        assert page.locator(f"#card-{pos} .finding input[value=yes]").is_checked()


def test_rater_walks_through_the_whole_study_with_the_keyboard(
    study_factory, serve, browser, tmp_path
) -> None:
    consent = tmp_path / "consent.md"
    consent.write_text(
        "You will judge chest radiographs.\n\nYour answers are stored without your name."
    )
    study = study_factory(items=2, practice=1, consent=consent, questionnaire=True,
                          questions=("finding",), attention_checks=1)  # fmt: skip
    srv = serve(study)
    shown, real_at = _first_main_item(study.db)  # where the screenshots show a real radiograph
    page = browser.new_page(viewport={"width": 1400, "height": 900}, bypass_csp=True)
    link = f"{srv.url}/r/{study.tokens[0]}"
    page.goto(link)
    expect(page.locator("#instructions")).to_contain_text("4")
    expect(page.locator(".anchors")).to_contain_text("fully realistic")
    _shot(page, tmp_path, "study-instructions")
    expect(page.locator("#begin")).to_be_focused()  # autofocus
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.locator("#consent")).to_contain_text("stored without your name")
    expect(page.locator("#agree")).to_be_focused()
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.locator("#role")).to_be_focused()
    page.keyboard.press("r")  # the role list has the focus: "radiologist"
    page.keyboard.press("Tab")
    page.keyboard.type("12")
    page.keyboard.press("Tab")
    page.keyboard.type("thoracic")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    # Practice first, marked as such; then the items, numbered without it.
    expect(page.locator("#progress")).to_contain_text("Practice 1 of 1")
    page.wait_for_function(IMAGES_LOADED)
    _answer_with_keys(page, "1", ["a", "s", "d", "f"])
    with page.expect_navigation():
        page.keyboard.press("Enter")
    for n in (1, 2, 3):
        expect(page.locator("#progress")).to_contain_text(f"Item {n} of 3")
        expect(page.locator("a.back")).to_have_count(0)  # no going back when locked
        page.wait_for_function(IMAGES_LOADED)
        if n == shown:
            _shot(page, tmp_path, "study-quartet")
            # Enlarge the current image; rating keys still answer it, and it stays current.
            for _ in range(real_at - 1):
                page.keyboard.press("ArrowRight")
            page.keyboard.press("z")
            expect(page.locator("#overlay")).to_be_visible()
            page.keyboard.press("+")
            assert "scale(1.25)" in page.locator("#overlay-img").get_attribute("style")
            page.keyboard.press("d")
            page.keyboard.press("y")
            expect(page.locator(f"#card-{real_at}")).to_have_class(re.compile("active"))
            assert page.locator(f"#card-{real_at} .rating input[value='3']").is_checked()
            _shot(page, tmp_path, "study-enlarged")
            page.keyboard.press("Escape")
            expect(page.locator("#overlay")).to_be_hidden()
            for _ in range(real_at - 1):
                page.keyboard.press("ArrowLeft")
        _answer_with_keys(page, "2", ["d", "d", "d", "d"], done=real_at if n == shown else 0)
        with page.expect_navigation():
            page.keyboard.press("Enter")
    expect(page.locator("#finish")).to_contain_text("answered 4 of 4")
    expect(page.locator("#finish a")).to_have_count(0)
    # Going back is refused: by address and by the browser's back button.
    page.goto(f"{link}/item/2")
    expect(page.locator("main")).to_contain_text("Answers are locked")
    page.go_back()
    page.go_back()
    expect(page.locator("main")).not_to_contain_text("Save and next")
    page.goto(f"{srv.url}/admin/{study.admin}")
    expect(page.locator("#raters")).to_contain_text("radiologist, 12 y, thoracic")
    expect(page.locator("tr[data-rater=rater-01]")).to_contain_text("1 / 1")
    _shot(page, tmp_path, "study-admin")
    export_responses(ExportConfig(study=study.out, db=study.db))
    rows = read_csv(study.out / "export.csv")
    assert {r["item_kind"] for r in rows} == {"practice", "main", "attention"}
    practice = [r for r in rows if r["item_kind"] == "practice"]
    assert [r["rating"] for r in practice] == ["1", "2", "3", "4"] and practice[0]["seq"] == "1"
    assert all(r["finding"] == "yes" and r["visits"] == "1" for r in rows)
    raters = read_csv(study.out / "export-raters.csv")
    assert (raters[0]["role"], raters[0]["years"], raters[0]["subspecialty"]) == (
        "radiologist", "12", "thoracic",
    )  # fmt: skip
    assert raters[0]["consented_at"] and float(raters[0]["total_seconds"]) > 0


def test_rater_reloads_halfway_resumes_and_edits(study_factory, serve, browser, tmp_path) -> None:
    study = study_factory(design="single", items=4, questions=("finding",), allow_back=True)
    srv = serve(study)
    page = browser.new_page(bypass_csp=True)
    link = f"{srv.url}/r/{study.tokens[1]}"
    page.goto(link)
    expect(page.locator("#begin")).to_be_focused()
    with page.expect_navigation():
        page.keyboard.press("Enter")  # instructions
    for seq, key in ((1, "1"), (2, "2")):  # 1 = real, 2 = synthetic
        expect(page.locator("#progress")).to_contain_text(f"Item {seq} of 4")
        page.keyboard.press(key)
        page.keyboard.press("d")
        page.keyboard.press("y")
        with page.expect_navigation():
            page.keyboard.press("Enter")
    # Halfway: reload, and open the invitation link afresh in a new tab.
    page.reload()
    expect(page.locator("#progress")).to_contain_text("Item 3 of 4")
    tab = browser.new_page()
    tab.goto(link)
    assert tab.url.endswith("/item/3")
    # Go back and change item 1: the old answer is shown, the edit is kept with its history.
    for _ in range(2):
        with tab.expect_navigation():
            tab.click("a.back")
    expect(tab.locator("#progress")).to_contain_text("Item 1 of 4")
    assert tab.locator("input[name=answer][value=real]").is_checked()
    tab.keyboard.press("3")
    with tab.expect_navigation():
        tab.keyboard.press("Enter")
    assert re.search(r"/item/3$", tab.url)
    latest = _export(srv.url, study.admin, tmp_path)
    assert [(r["seq"], r["answer"], r["version"]) for r in latest] == [
        ("1", "unsure", "2"), ("2", "fake", "1"),
    ]  # fmt: skip
    assert {r["finding"] for r in latest} == {"yes"} and {r["rating"] for r in latest} == {"3"}
    history = _export(srv.url, study.admin, tmp_path, history=True)
    assert [(r["seq"], r["answer"]) for r in history] == [
        ("1", "real"), ("1", "unsure"), ("2", "fake"),
    ]  # fmt: skip
    # The latest answer keeps the first one, the visits, and the time of every answered visit.
    first = latest[0]
    assert (first["first_answer"], first["answer"], first["visits"]) == ("real", "unsure", "2")
    times = first["visit_times"].split(";")
    assert len(times) == 2 and times == sorted(times) and times[-1] <= first["answered_at"]
    assert float(first["total_seconds"]) > float(first["seconds"])
