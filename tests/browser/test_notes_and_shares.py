"""In a real Chromium: annotations on the chart (reached by keyboard, their text shown on focus
and on hover, listed under the chart), the comparison menu and its overlay, and a shared link
opened in a fresh browser without credentials, locked to its filters, refused once revoked."""

from __future__ import annotations

import json
import re
import time
from typing import Iterator

import pytest
from playwright.sync_api import Browser, expect

from kero_core import Kero
from kero_core.synthetic import generate
from tests.browser.conftest import ARTIFACTS, PASSWORD, USER, Server, Watched

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def noted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    now = time.time()
    kero = Kero(db_path=tmp_path_factory.mktemp("notes") / "kero", title="Noted shop", release="v1.4.2")
    kero.ingest(generate(3000, days=7, seed=3, end=now - 1))
    kero.annotate("Newsletter <sent>", at=now - 3 * 86400)
    with Server.running(kero) as srv:
        yield srv


@pytest.fixture
def watched_noted(browser: Browser, noted: Server) -> Iterator[Watched]:
    context = browser.new_context(http_credentials={"username": USER, "password": PASSWORD},
                                  viewport={"width": 1280, "height": 900})
    yield Watched(context.new_page(), noted.origin)
    context.close()


def test_annotations_are_reached_by_keyboard_and_show_their_text(watched_noted: Watched, noted: Server) -> None:
    w = watched_noted
    page = w.page
    page.goto(noted.dashboard + "?period=7d")
    notes = page.locator("svg.notes-overlay g.note")
    expect(notes).to_have_count(2)  # the newsletter, and the release noted when the app started
    texts = notes.locator("text.note-text")
    expect(texts.nth(0)).to_be_hidden()
    # Tab moves through the page until it reaches the first marker.
    for _ in range(60):
        page.keyboard.press("Tab")
        if notes.nth(0).evaluate("n => n === document.activeElement"):
            break
    expect(notes.nth(0)).to_be_focused()
    expect(texts.nth(0)).to_be_visible()
    expect(texts.nth(0)).to_have_text("Newsletter <sent>")
    page.keyboard.press("Tab")
    expect(notes.nth(1)).to_be_focused()
    expect(texts.nth(1)).to_have_text("Release v1.4.2")
    expect(texts.nth(0)).to_be_hidden()
    page.mouse.move(0, 0)
    notes.nth(0).locator("rect.note-hit").hover()
    expect(texts.nth(0)).to_be_visible()
    expect(page.locator("ul.notes li")).to_have_count(2)
    expect(page.locator("ul.notes li").nth(0)).to_contain_text("Newsletter <sent>")
    # The marker's text stays inside the plot: the right half's are anchored at their end.
    box = page.locator(".plot").bounding_box()
    for i in range(2):
        notes.nth(i).focus()
        text_box = texts.nth(i).bounding_box()
        assert box["x"] <= text_box["x"] and text_box["x"] + text_box["width"] <= box["x"] + box["width"] + 1
    page.locator(".chart-box").screenshot(path=str(ARTIFACTS / "annotations.png"))
    w.assert_clean()


def test_a_shared_link_in_a_fresh_browser_without_credentials(browser: Browser, noted: Server) -> None:
    link, token = noted.kero.create_share("country!=XX")
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # no credentials at all
    try:
        w = Watched(context.new_page(), noted.origin)
        page = w.page
        assert context.request.get(noted.dashboard).status == 401  # the dashboard itself stays closed
        answer = page.goto(noted.dashboard + f"share/{token}/?period=7d")
        assert answer.status == 200 and answer.headers["x-robots-tag"] == "noindex, nofollow"
        expect(page.locator(".shared-note")).to_have_text("Shared view, read-only")
        expect(page.locator("svg.notes-overlay g.note")).to_have_count(2)
        chip = page.locator(".locked-chip")
        expect(chip).to_have_count(1)
        expect(chip.locator("a")).to_have_count(0)
        # The page's own links (a period, a row) stay inside the shared link and its lock.
        page.locator("details.periods summary").click()
        page.locator("details.periods a", has_text="Past 30 days").click()
        page.wait_for_url(f"**/share/{token}/?period=30d**")
        expect(page.locator(".locked-chip")).to_have_count(1)
        page.locator("#card-pages tbody a").first.click()
        page.wait_for_url("**path=**")
        assert f"/share/{token}/" in page.url
        expect(page.locator(".chip")).to_have_count(2)
        page.screenshot(path=str(ARTIFACTS / "shared-link.png"), full_page=True)
        w.assert_clean()
        noted.kero.revoke_share(link.id)
        refused = page.reload()
        assert refused.status == 403
        expect(page.locator("h1")).to_have_text("This shared link was revoked")
    finally:
        context.close()


def test_the_comparison_menu_changes_the_overlay(watched_noted: Watched, noted: Server) -> None:
    w = watched_noted
    page = w.page
    # Past 24 hours, not Today: just after midnight UTC, today so far (and the same hours of the
    # picked day below) can hold no traffic.
    page.goto(noted.dashboard + "?period=24h")
    expect(page.locator("svg.chart polyline")).to_have_count(2)
    menu = page.locator("details.comparisons")
    menu.locator("summary").focus()
    page.keyboard.press("Enter")
    menu.locator("a", has_text="No comparison").click()
    page.wait_for_url("**compare=off**")
    expect(page.locator("svg.chart polyline")).to_have_count(0)
    expect(page.locator(".legend .key-previous")).to_have_count(0)
    # A picked day: the 7 days of traffic are compared with 3 days ago, for as long (a day).
    page.locator("details.comparisons summary").click()
    three_days_ago = page.evaluate("() => new Date(Date.now() - 3 * 86400e3).toISOString().slice(0, 10)")
    page.locator("details.comparisons input[name=compare_from]").fill(three_days_ago)
    page.locator("details.comparisons button").click()
    page.wait_for_url("**compare_from=**")
    expect(page.locator("svg.chart polyline")).to_have_count(2)
    expect(page.locator(".legend .key-previous")).to_have_text(re.compile(r"^From \d\d \w{3} \d{4}$"))
    visitors = page.locator("#figure-visitors .compared")
    expect(visitors).to_have_text(re.compile(r"^ ?vs [1-9][\d,]*$"))
    data = json.loads(page.request.get(noted.dashboard + "api/stats?" + page.url.split("?", 1)[1]).text())
    shown = int(visitors.inner_text().split("vs")[1].replace(",", "").strip())
    assert shown == next(f["previous"] for f in data["figures"] if f["id"] == "visitors") > 0
    assert data["comparison"]["start"] == f"{three_days_ago}T00:00:00Z"
    page.locator(".chart-box").screenshot(path=str(ARTIFACTS / "comparison.png"))
    w.assert_clean()
