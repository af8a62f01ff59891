"""Query parameters -> the view: timeframes, custom ranges, filters, and the links between views."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from urllib.parse import parse_qs

import pytest

from kero_core.dashboard.view import BadRequest, Filter, control, limit, parse_view

NOW = datetime(2026, 11, 10, 12, 34, 56)


def view(query: str = "", **kwargs):
    return parse_view(parse_qs(query, keep_blank_values=True), NOW, **kwargs)


@pytest.mark.parametrize("period, start", [
    ("today", datetime(2026, 11, 10)),
    ("24h", datetime(2026, 11, 9, 13)),
    ("7d", datetime(2026, 11, 4)),
    ("30d", datetime(2026, 10, 12)),
    ("12mo", datetime(2025, 12, 1)),
    ("mtd", datetime(2026, 11, 1)),
    ("ytd", datetime(2026, 1, 1)),
])
def test_timeframes_start_on_bucket_boundaries_and_end_now(period: str, start: datetime) -> None:
    v = view(f"period={period}")
    assert (v.timeframe, v.start) == (period, start)
    assert v.end == NOW + timedelta(microseconds=1)  # what happened at this very moment counts
    assert v.start - v.previous_start == v.end - v.start  # the period before has the same length


def test_default_timeframe_is_the_past_24_hours() -> None:
    v = view()
    assert (v.timeframe, v.label) == ("24h", "Past 24 hours")


def test_12mo_crosses_the_year_boundary_in_january() -> None:
    v = parse_view({"period": ["12mo"]}, datetime(2026, 1, 15, 8))
    assert v.start == datetime(2025, 2, 1)


def test_custom_range_includes_both_days() -> None:
    v = view("from=2026-11-01&to=2026-11-03")
    assert (v.timeframe, v.start, v.end) == ("custom", datetime(2026, 11, 1), datetime(2026, 11, 4))
    assert v.previous_start == datetime(2026, 10, 29)
    assert v.label == "01 Nov 2026 – 03 Nov 2026"
    assert view("from=2026-11-01&to=2026-11-01&period=custom").label == "01 Nov 2026"


@pytest.mark.parametrize("query, message", [
    ("period=week", "unknown period 'week'"),
    ("from=2026-11-01", "needs both 'from' and 'to'"),
    ("period=custom", "needs both 'from' and 'to'"),
    ("from=2026-11-01&to=2026-11-02&period=7d", "either 'period' or 'from' and 'to'"),
    ("from=yesterday&to=2026-11-02", "'from' must be a date like 2026-11-01"),
    ("from=2026-11-05&to=2026-11-02", "must not be after"),
    ("from=0001-01-01&to=2026-11-02", "between 1970 and 9998"),
    ("from=1970-01-01&to=2071-11-02", "at most 36525 days"),
    ("country=CH&country=DE", "'country' is given 2 times"),
    ("colour=red", "unknown filter 'colour'"),
    ("colour!=red", "unknown filter 'colour!'"),
    ("status=abc", "status filter must be an HTTP status code"),
    ("is_bot=maybe", "is_bot filter must be true or false"),
    ("path=" + "a" * 2049, "longer than 2048 characters"),
])
def test_bad_parameters_say_what_is_wrong(query: str, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        view(query)


def test_filters_include_and_exclude() -> None:
    v = view("country=CH&path!=/pricing&referrer_domain=")
    assert v.filters == (Filter("country", "CH"), Filter("path", "/pricing", True), Filter("referrer_domain", ""))
    scope = v.scope()
    assert scope.filters == {"country": "CH", "path!=": "/pricing", "referrer_domain": ""}
    assert (scope.name, scope.humans_only) == ("http_req", True)


def test_a_name_filter_picks_custom_events_and_bot_filters_let_bots_in() -> None:
    assert view("name=signup").scope().name == "signup"
    assert "name" not in view("name=signup").scope().filters
    assert not view("is_bot=true").scope().humans_only
    assert not view("form_factor=bot").scope().humans_only
    assert view("form_factor!=bot").scope().humans_only


def test_links_are_relative_query_strings_keeping_the_view() -> None:
    v = view("period=7d&country=CH")
    assert v.url() == "?period=7d&country=CH"
    assert v.with_filters([Filter("path", "/a b&c")]) == "?period=7d&country=CH&path=%2Fa+b%26c"
    assert v.with_filters([Filter("country", "DE")]) == "?period=7d&country=DE"  # replaces, not adds
    assert v.with_timeframe("30d") == "?period=30d&country=CH"
    assert v.without(Filter("country", "CH")) == "?period=7d"
    assert v.toggled(Filter("country", "CH")) == "?period=7d&country%21=CH"
    assert v.showing("pages") == "?period=7d&country=CH&show=pages"
    assert v.unfiltered() == "?period=7d"
    custom = view("from=2026-11-01&to=2026-11-03")
    assert custom.url() == "?from=2026-11-01&to=2026-11-03"
    assert custom.custom == (date(2026, 11, 1), date(2026, 11, 3))


def test_a_link_round_trips_to_the_same_view() -> None:
    v = view("period=30d&path!=/x&utm_source==cmd&city=Zürich")
    again = view(v.url()[1:])
    assert (again.filters, again.start) == (v.filters, v.start)


def test_controls_and_limit() -> None:
    params = parse_qs("format=csv&limit=5")
    assert view("format=csv&limit=5", controls=("format", "limit")).filters == ()
    assert control(params, "format", ("csv",)) == "csv"
    assert control({}, "format", ("csv",)) is None
    assert limit(params, 100, 1000) == 5
    assert limit({}, 100, 1000) == 100
    with pytest.raises(BadRequest, match="'format' must be one of csv"):
        control(parse_qs("format=xlsx"), "format", ("csv",))
    for bad in ("0", "1001", "-1", "ten"):
        with pytest.raises(BadRequest, match="'limit' must be a whole number from 1 to 1000"):
            limit({"limit": [bad]}, 100, 1000)
