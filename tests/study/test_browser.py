"""Raters in real headless Chromium: a whole study, keyboard shortcuts, resume and edits."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect
from study_helpers import read_csv


def _export(url: str, admin: str, tmp: Path, history: bool = False) -> list[dict]:
    r = httpx.get(f"{url}/admin/{admin}/export.csv", params={"history": history})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    path = tmp / "export.csv"
    path.write_text(r.text)
    return read_csv(path)


def _ids(page: Page) -> list[str]:
    return [src.rsplit("/", 1)[1] for src in page.locator(".viewer img").evaluate_all(
        "els => els.map(e => e.getAttribute('src'))")]  # fmt: skip


def test_rater_completes_a_quartet_study(study_factory, serve, browser, tmp_path) -> None:
    study = study_factory(items=2, attention_checks=1, questions=("cue",))
    srv = serve(study)
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(f"{srv.url}/r/{study.tokens[0]}")
    expect(page.locator("#progress")).to_contain_text("Item 1 of 3")
    page.wait_for_function("Array.from(document.images).every(i => i.complete && i.naturalWidth)")
    # Viewer controls change only the display.
    card = page.locator("#card-1")
    card.locator(".zoom-in").click()
    assert "scale(1.25)" in card.locator("img").get_attribute("style")
    card.locator(".window").fill("2")
    assert "contrast(2)" in card.locator("img").get_attribute("style")
    page.screenshot(path=str(tmp_path / "rater.png"))
    answered = {}
    for seq in (1, 2, 3):
        expect(page.locator("#progress")).to_contain_text(f"Item {seq} of 3")
        ids = _ids(page)
        if seq == 2:  # mouse: click the labels
            page.locator("#card-3 .pick").click()
            for pos in range(1, 5):
                page.locator(f"#card-{pos} .rating label").nth(pos - 1).click()
            page.fill(f"textarea[name=cue_{ids[0]}]", "too smooth ribs")
            with page.expect_navigation():
                page.click("#save")
            answered[seq] = (ids[2], dict(zip(ids, [1, 2, 3, 4], strict=True)))
        else:  # keyboard: pick with 1-4, rate with A/S/D/F (focus moves on), save with Enter
            page.keyboard.press("4")
            for key in "fdsa":
                page.keyboard.press(key)
            with page.expect_navigation():
                page.keyboard.press("Enter")
            answered[seq] = (ids[3], dict(zip(ids, [4, 3, 2, 1], strict=True)))
    expect(page.locator("main")).to_contain_text("answered 3 of 3")
    rows = _export(srv.url, study.admin, tmp_path)
    assert len(rows) == 12 and {r["rater"] for r in rows} == {"rater-01"}
    for row in rows:
        picked, ratings = answered[int(row["seq"])]
        assert int(row["picked"]) == (row["image_id"] == picked)
        assert int(row["rating"]) == ratings[row["image_id"]]
        assert float(row["seconds"]) > 0 and row["rater_kind"] == "human"
    assert [r["cue"] for r in rows if r["cue"]] == ["too smooth ribs"]
    assert {r["item_kind"] for r in rows} == {"main", "attention"}


def test_rater_reloads_halfway_resumes_and_edits(study_factory, serve, browser, tmp_path) -> None:
    study = study_factory(design="single", items=4, questions=("finding",))
    srv = serve(study)
    page = browser.new_page()
    link = f"{srv.url}/r/{study.tokens[1]}"
    page.goto(link)
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
