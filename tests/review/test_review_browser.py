"""A reviewer in real headless Chromium: one decision in each queue, by keyboard and by mouse,
read back from the decision files the pipeline reads."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright
from review_helpers import read_csv

from radsynth.data.review_decisions import read_ingest_decisions
from radsynth.fates.records import read_audit_verdicts, read_screen_decisions


@pytest.fixture
def server(live_review):
    return live_review()


def test_one_decision_per_queue_in_chromium(chromium, server, outputs):
    # Playwright's sync API refuses to start while another instance (the study tests' shared
    # browser) is open in this thread; a thread of its own makes the test independent of it.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(_in_chromium, chromium, server, outputs).result()


def _in_chromium(chromium: dict, server: tuple[str, Path], outputs: dict) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(**chromium)
        try:
            _decide_one_per_queue(browser.new_page(), *server, outputs)
        finally:
            browser.close()


def _decide_one_per_queue(page: Page, url: str, out: Path, outputs: dict) -> None:
    page.goto(url + "/")
    page.fill("#reviewer", "dana")
    page.keyboard.press("Enter")
    expect(page.locator(".who")).to_have_text("Reviewer dana")

    # Screening, by keyboard: the first (most implausible) image is active; 1 keeps it.
    page.click("text=Screening flags")
    top = max(read_csv(outputs["screen"] / "screen.csv"), key=lambda r: float(r["score"]))
    expect(page.locator("#item-0")).to_have_class(re.compile("active"))
    expect(page.locator("#item-0 .name")).to_have_text(top["image"])
    page.keyboard.press("1")
    expect(page.locator("#item-0 .final")).to_contain_text("keep (dana)")
    expect(page.locator("#item-1")).to_have_class(re.compile("active"))  # moved on
    d = read_screen_decisions(out)[top["image"]]
    assert (d.final, d.decided_by) == ("keep", "dana")

    # Audit, by keyboard: down to the second pair, 1 = memorized.
    page.goto(url + "/audit?reviewer=dana")
    page.keyboard.press("ArrowDown")
    expect(page.locator("#item-1")).to_have_class(re.compile("active"))
    page.keyboard.press("1")
    expect(page.locator("#item-1 .final")).to_contain_text("dana=memorized")
    second = read_csv(outputs["audit"] / "pairs.csv")[1]["synthetic"]
    assert read_audit_verdicts(out)[second].verdicts == (("dana", "memorized"),)

    # Ingest, by mouse: keep the negative film inverted.
    page.goto(url + "/start?reviewer=dana")
    page.click("text=Uncertain films from ingest")
    item = page.locator(".item", has=page.locator(".name", has_text="film-1.png"))
    expect(item.locator("img")).to_have_js_property("complete", True)
    assert item.locator("img").evaluate("i => i.naturalWidth") == 64
    item.get_by_role("button", name=re.compile("^keep inverted")).click()
    expect(page.locator(".item", has=page.locator(".name", has_text="film-1.png"))
           .locator(".final")).to_contain_text("keep inverted (dana)")  # fmt: skip
    decided = read_ingest_decisions(out / "review_decisions.csv")
    assert list(decided) == ["film-1.png"]
    assert (decided["film-1.png"].invert, decided["film-1.png"].final) == (True, "keep")
