"""The dashboard in a real Chromium against a real server: rendering, no foreign request, XSS,
click-to-filter, "Show all" and the keyboard, timeframes, CSV, dark mode, a phone, live refresh."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone
from typing import Callable

import pytest
from playwright.sync_api import expect

from kero_core.capture import hit_from_environ
from tests.browser.conftest import ARTIFACTS, XSS, Server, Watched
from tests.conftest import environ

pytestmark = pytest.mark.browser


def figure(w: Watched, id: str) -> str:
    return w.page.locator(f"#figure-{id} .value").inner_text()


def test_renders_seeded_data_without_errors_or_foreign_requests(watched: Watched, server: Server) -> None:
    page = watched.page
    page.goto(server.dashboard + "?period=7d")
    expect(page.locator("h1")).to_have_text("Demo shop")
    week = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None) - timedelta(days=6)
    stored = server.kero.count(filters={"is_bot": False}, start=week)  # how much of the seeded week depends on the hour
    assert int(figure(watched, "views").replace(",", "").replace("\u202f", "")) == stored > 3000
    expect(page.locator("#panel-pages tbody tr")).to_have_count(10)
    expect(page.locator("svg.chart g.bucket")).to_have_count(7)
    assert page.locator("#panel-countries tbody tr").count() == 10  # real GeoLite2 lookups
    assert any("static/dashboard.css" in url for url in watched.requests)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    watched.assert_clean()


def test_hostile_strings_render_as_text(watched: Watched, server: Server) -> None:
    page = watched.page
    page.goto(server.dashboard + "?period=today&show=pages")  # every page of today, in the modal
    listed = page.locator("dialog.modal .text").all_inner_texts()
    assert all("/" + payload in listed for payload in XSS)
    page.keyboard.press("Escape")
    page.goto(server.dashboard + "?period=today")
    assert page.evaluate("document.scripts.length") == 1
    assert page.locator("svg").count() == 1 and page.locator("img").count() == 0
    events = page.locator("#panel-custom_events .text").all_inner_texts()
    page.locator("#card-sources .tab", has_text="UTM sources").click()
    sources = page.locator("#panel-utm_sources .text").all_inner_texts()
    assert all(payload in events and payload in sources for payload in XSS)
    page.goto(server.dashboard + "?period=today&referrer_domain=x1.example.com")
    expect(page.locator("a.external")).to_have_attribute("href", 'https://x1.example.com/"><svg onload=alert("svg")>')
    expect(page.locator(".chip-value")).to_have_text("x1.example.com")
    watched.assert_clean()  # and no alert() ran


def test_click_to_filter_then_exclude_then_remove(watched: Watched, server: Server) -> None:
    page = watched.page
    page.goto(server.dashboard + "?period=7d")
    all_views = figure(watched, "views")
    row = page.locator("#panel-pages tbody tr").nth(1)
    path = row.locator(".text").inner_text()
    row.locator("a.filter").click()
    expect(page).to_have_url(re.compile(r"\?period=7d&path=" + re.escape(path.replace("/", "%2F"))))
    expect(page.locator(".chip .chip-value")).to_have_text(path)
    filtered = figure(watched, "views")
    assert filtered != all_views
    expect(page.locator("#panel-pages tbody tr")).to_have_count(1)
    page.locator(".chip-op").click()  # "is" -> "is not"
    expect(page.locator(".chip-op")).to_have_text("is not")
    assert page.locator("#panel-pages .text", has_text=re.compile("^" + re.escape(path) + "$")).count() == 0
    page.locator(".chip-remove").click()
    expect(page.locator(".chip")).to_have_count(0)
    assert figure(watched, "views") == all_views
    watched.assert_clean()


def test_show_all_opens_a_modal_that_esc_closes_returning_focus(watched: Watched, server: Server) -> None:
    page = watched.page
    page.goto(server.dashboard + "?period=7d")
    show_all = page.locator("#panel-pages a.show-all")
    show_all.focus()
    page.keyboard.press("Enter")
    dialog = page.locator("dialog.modal")
    expect(dialog).to_be_visible()
    assert page.evaluate("document.querySelector('dialog.modal').matches(':modal')")
    assert dialog.locator("tbody tr").count() > 10
    expect(dialog.locator("a.close")).to_be_focused()
    rows = dialog.locator("tbody tr").count()
    dialog.locator(".modal-search").fill("pricing")
    visible = dialog.locator("tbody tr:visible .text").all_inner_texts()
    assert "/pricing" in visible and len(visible) < rows and all("pricing" in t for t in visible)
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(show_all).to_be_focused()
    show_all.click()  # and the close button, by mouse
    page.locator("dialog.modal a.close").click()
    expect(page.locator("dialog.modal")).to_have_count(0)
    assert page.url == server.dashboard + "?period=7d"
    watched.assert_clean()


def test_tabs_switch_panels_by_mouse_and_keyboard(watched: Watched, server: Server) -> None:
    page = watched.page
    page.goto(server.dashboard + "?period=7d")
    expect(page.locator("#panel-entry_pages")).to_be_hidden()
    entry = page.locator("#card-pages .tab", has_text="Entry pages")
    expect(entry).to_have_attribute("role", "tab")
    expect(entry).to_have_attribute("aria-selected", "false")
    entry.click()
    expect(entry).to_have_attribute("aria-selected", "true")
    expect(page.locator("#panel-entry_pages")).to_have_attribute("role", "tabpanel")
    expect(page.locator("#panel-entry_pages")).to_be_visible()
    expect(page.locator("#panel-pages")).to_be_hidden()
    page.keyboard.press("ArrowRight")
    expect(page.locator("#panel-exit_pages")).to_be_visible()
    page.reload()  # the choice is remembered
    expect(page.locator("#panel-exit_pages")).to_be_visible()
    watched.assert_clean()


def test_timeframe_switching_and_custom_range(watched: Watched, server: Server) -> None:
    page = watched.page
    page.goto(server.dashboard)
    expect(page.locator("details.periods summary")).to_contain_text("Past 24 hours")
    expect(page.locator("svg.chart g.bucket")).to_have_count(24)
    page.locator("details.periods summary").click()
    page.get_by_role("link", name="Past 7 days").click()
    expect(page).to_have_url(server.dashboard + "?period=7d")
    expect(page.locator("svg.chart g.bucket")).to_have_count(7)
    expect(page).to_have_title("Demo shop · Past 7 days")
    page.locator("details.periods summary").click()
    page.locator("input[name=from]").fill("2026-01-05")
    page.locator("input[name=to]").fill("2026-01-07")
    page.locator("form.range button").click()
    expect(page).to_have_url(server.dashboard + "?from=2026-01-05&to=2026-01-07")
    expect(page.locator("svg.chart g.bucket")).to_have_count(72)  # up to 3 days: hours
    watched.assert_clean()


def test_csv_download(watched: Watched, server: Server) -> None:
    page = watched.page
    page.goto(server.dashboard + "?period=7d&country=US")
    with page.expect_download() as info:
        page.locator("header a.button", has_text="Export CSV").click()
    download = info.value
    assert re.fullmatch(r"kero-7d-\d{8}-\d{4}\.csv", download.suggested_filename)
    with open(download.path(), encoding="utf-8", newline="") as f:
        text = f.read()
    assert text.startswith("card,label,metric,value\r\n")
    assert "countries,United States,visitors," in text
    watched.assert_clean()


def test_dark_mode(make_page: Callable[..., Watched], server: Server) -> None:
    watched = make_page(color_scheme="dark")
    page = watched.page
    page.goto(server.dashboard + "?period=7d")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    card = page.evaluate("getComputedStyle(document.querySelector('.card')).backgroundColor")
    assert background == "rgb(15, 15, 18)" and card == "rgb(24, 24, 29)"
    page.screenshot(path=str(ARTIFACTS / "dashboard-dark.png"), full_page=True)
    page.emulate_media(color_scheme="light")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(246, 246, 248)"
    watched.assert_clean()


def test_phone_width_has_one_column_and_no_horizontal_scroll(make_page: Callable[..., Watched], server: Server) -> None:
    watched = make_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = watched.page
    page.goto(server.dashboard + "?period=7d&show=pages")
    page.keyboard.press("Escape")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    columns = page.evaluate("getComputedStyle(document.querySelector('.cards')).gridTemplateColumns")
    assert len(columns.split()) == 1
    boxes = [page.locator(f"#card-{id}").bounding_box() for id in ("pages", "sources")]
    assert boxes[0]["x"] == boxes[1]["x"] and boxes[1]["y"] > boxes[0]["y"]
    page.screenshot(path=str(ARTIFACTS / "dashboard-phone.png"))
    watched.assert_clean()


def test_live_visitors_refresh_every_30_seconds(watched: Watched, server: Server) -> None:
    page = watched.page
    page.clock.install()
    page.goto(server.dashboard)
    before = int(page.locator("#realtime data").get_attribute("value"))
    now = time.time()
    server.kero.ingest(hit_from_environ(environ("/live", REMOTE_ADDR=f"81.2.70.{i}"), now) for i in range(3))
    page.clock.run_for(29_000)
    assert int(page.locator("#realtime data").get_attribute("value")) == before
    page.clock.run_for(2_000)
    expect(page.locator("#realtime data")).to_have_attribute("value", str(before + 3))
    watched.assert_clean()


def test_without_javascript_everything_is_there(make_page: Callable[..., Watched], server: Server) -> None:
    watched = make_page(java_script_enabled=False)
    page = watched.page
    page.goto(server.dashboard + "?period=7d")
    expect(page.locator("#panel-entry_pages")).to_be_visible()  # no tabs: every panel is shown
    expect(page.locator(".tabs").first).to_be_hidden()
    page.locator("#panel-pages a.show-all").click()
    expect(page).to_have_url(server.dashboard + "?period=7d&show=pages")
    expect(page.locator("dialog.modal")).to_be_visible()
    page.locator("dialog.modal a.close").click()
    expect(page).to_have_url(server.dashboard + "?period=7d")
    watched.assert_clean()
