"""Comparisons: ?compare=previous|year|off and compare_from=<day>, checked against page views
placed by hand in each period (key figures with both values, the chart's overlay, goals), and
every bad input with its clear answer."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Callable

import pytest
from werkzeug.test import Client

from kero_core import Kero
from kero_core.wsgi import KeroMiddleware
from tests.conftest import FakeClock
from tests.dashboard.conftest import get, ingest, site, view_hit
from tests.dashboard.html import parse

# The clock is 10 Nov 2026, 12:00 UTC; the 7-day view runs from 4 Nov 00:00.
VIEWS = {  # moment -> number of page views, each by its own visitor
    datetime(2026, 11, 9, 10): 3,  # in the view
    datetime(2026, 10, 30, 10): 2,  # in the period just before (as long: from 28 Oct, 12:00)
    datetime(2025, 11, 9, 10): 5,  # in the same dates a year before
    datetime(2025, 11, 3, 10): 7,  # a year before, but a day before the view's dates
    datetime(2026, 10, 3, 10): 4,  # in the 7 days from 1 Oct (a custom comparison)
}


@pytest.fixture
def kero(make_kero: Callable[..., Kero], clock: FakeClock) -> Kero:
    return make_kero(clock=clock, retention=800, goals=["/signup"])


@pytest.fixture
def seeded(kero: Kero) -> Kero:
    hits, n = [], 0
    for moment, count in VIEWS.items():
        for _ in range(count):
            n += 1
            ts = moment.replace(tzinfo=timezone.utc).timestamp() + n
            hits.append(view_hit(ts, "/signup" if n % 2 else "/", ip=f"81.2.{n // 250}.{n % 250 + 1}"))
    ingest(kero, hits)
    return kero


@pytest.fixture
def client(kero: Kero) -> Client:
    return Client(KeroMiddleware(site, kero, users={"admin": "secret"}))


def stats(client: Client, query: str) -> dict:  # type: ignore[type-arg]
    answer = get(client, "/_kero/api/stats?period=7d&" + query)
    assert answer.status_code == 200, answer.data[:300]
    return json.loads(answer.data)


def views(data: dict) -> tuple[float, float | None]:  # type: ignore[type-arg]
    figure = next(f for f in data["figures"] if f["id"] == "views")
    return figure["value"], figure["previous"]


def overlay(data: dict) -> dict[str, int]:  # type: ignore[type-arg]
    return {b["start"][:10]: b["previous_page_views"] for b in data["chart"]["buckets"] if b["previous_page_views"]}


def test_the_default_compares_with_the_period_before(seeded: Kero, client: Client) -> None:
    data = stats(client, "")
    assert views(data) == (3, 2)
    assert data["comparison"] == {"compare": "previous", "label": "Period before",
                                  "start": "2026-10-28T11:59:59Z", "end": "2026-11-04T00:00:00Z"}
    assert stats(client, "compare=previous") == data


def test_a_year_before_compares_the_same_dates(seeded: Kero, client: Client) -> None:
    data = stats(client, "compare=year")
    assert views(data) == (3, 5)
    assert next(f for f in data["figures"] if f["id"] == "views")["change"] == "↓ 40%"
    assert data["comparison"]["start"] == "2025-11-04T00:00:00Z" and data["comparison"]["end"] == "2025-11-10T12:00:00Z"
    assert overlay(data) == {"2026-11-09": 5}  # 9 Nov 2025 lies over 9 Nov 2026
    goal = data["goals"][0]  # /signup: every other page view
    assert (goal["conversions"], goal["previous_conversions"]) == (
        sum(1 for n in range(1, 4) if n % 2), sum(1 for n in range(6, 11) if n % 2))


def test_a_custom_comparison_starts_on_the_day_picked(seeded: Kero, client: Client) -> None:
    data = stats(client, "compare_from=2026-10-01")
    assert views(data) == (3, 4)
    assert data["comparison"]["compare"] == "custom" and data["comparison"]["label"] == "From 01 Oct 2026"
    assert overlay(data) == {"2026-11-06": 4}  # the third day of each period
    assert stats(client, "compare=custom&compare_from=2026-10-01") == data


def test_no_comparison_reads_and_shows_no_previous_values(seeded: Kero, client: Client) -> None:
    data = stats(client, "compare=off")
    assert views(data) == (3, None)
    assert data["comparison"] is None and overlay(data) == {}
    assert all(f["change"] is None and f["previous"] is None for f in data["figures"])
    page = parse(get(client, "/_kero/?period=7d&compare=off").data)
    assert page.find_all("polyline") == [] and page.find_all("li", cls="key-previous") == []
    assert "(" not in page.find("g", cls="bucket").find("title").text()


def test_the_page_shows_both_values_and_keeps_the_comparison_in_its_links(seeded: Kero, client: Client) -> None:
    page = parse(get(client, "/_kero/?period=7d&compare=year").data)
    figure = page.find("div", id="figure-views")
    assert figure.find("span", cls="compared").text() == " vs 5"
    assert figure.attrs["title"] == "A year before: 5"
    assert page.find("li", cls="key-previous").text() == "A year before"
    menu = page.find("details", cls="comparisons")
    links = {a.text(): a.attrs["href"] for a in menu.find_all("a")}
    assert links["No comparison"] == "?period=7d&compare=off" and links["Period before"] == "?period=7d"
    assert menu.find("a", **{"aria-current": "true"}).text() == "A year before"
    thirty = next(a for a in page.find("details", cls="periods").find_all("a") if a.text() == "Past 30 days")
    assert thirty.attrs["href"] == "?period=30d&compare=year"
    buckets = [g.find("title").text() for g in page.find_all("g", cls="bucket")]
    assert buckets[5].endswith("(a year before: 5 visitors, 5 page views)")


@pytest.mark.parametrize("query, message", [
    ("compare=weekly", "unknown comparison 'weekly'; compare is one of previous, year, custom, off."),
    ("compare=custom", "compare=custom needs 'compare_from'"),
    ("compare_from=yesterday", "'compare_from' must be a date like 2026-11-01"),
    ("compare=year&compare_from=2026-10-01", "'compare_from' picks a custom comparison"),
    ("compare=off&compare=year", "'compare' is given 2 times"),
])
def test_bad_comparisons_are_one_clear_answer(seeded: Kero, client: Client, query: str, message: str) -> None:
    answer = get(client, "/_kero/api/stats?period=7d&" + query)
    assert answer.status_code == 400 and message in json.loads(answer.data)["error"]
    page = get(client, "/_kero/?period=7d&" + query)
    assert page.status_code == 400 and message in parse(page.data).find("p", cls="error-message").text()
