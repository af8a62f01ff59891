"""Trend maths and the key figures built from the queries' numbers."""

from __future__ import annotations

from datetime import datetime

import pytest

from kero_core.dashboard import chart
from kero_core.dashboard.chart import nice_ceiling
from kero_core.dashboard.labels import flag, milliseconds, percent, seconds
from kero_core.dashboard.model import Change, change, figures
from kero_core.queries import Bucket, Figures


@pytest.mark.parametrize("current, previous, expected", [
    (120, 100, Change("up", "↑ 20%", "good")),
    (80, 100, Change("down", "↓ 20%", "bad")),
    (100, 100, Change("flat", "±0%", "neutral")),
    (1001, 1000, Change("flat", "±0%", "neutral")),  # rounds to 0%
    (5, 0, Change("new", "new", "neutral")),  # from zero: no percentage (division by zero)
    (0, 0, Change("flat", "±0%", "neutral")),
    (0, 7, Change("down", "↓ 100%", "bad")),
    (25_000, 100, Change("up", "↑ 24,900%", "good")),
    (None, 3, Change("", "", "neutral")),
    (3, None, Change("", "", "neutral")),
])
def test_relative_change(current, previous, expected) -> None:
    assert change(current, previous) == expected


def test_rates_change_in_points_and_lower_can_be_better() -> None:
    assert change(0.40, 0.35, points=True, lower_is_better=True) == Change("up", "↑ 5.0 pp", "bad")
    assert change(0.30, 0.35, points=True, lower_is_better=True) == Change("down", "↓ 5.0 pp", "good")
    assert change(0.3, 0.3, points=True) == Change("flat", "±0 pp", "neutral")
    assert change(0.5, 0.0, points=True) == Change("up", "↑ 50.0 pp", "good")  # no division: points
    assert change(90.0, 100.0, lower_is_better=True).tone == "good"  # response time went down


def test_figures_from_both_periods() -> None:
    now = Figures(visitors=10, views=25, visits=12, bounces=3, median_visit_seconds=65.0, errors=1, p50_ms=12.0, p95_ms=300.0)
    before = Figures(visitors=8, views=20, visits=10, bounces=5, median_visit_seconds=60.0, errors=0, p50_ms=15.0, p95_ms=250.0)
    out = {f.id: f for f in figures(now, before, name="http_req", durations=True)}
    assert [f.label for f in out.values()] == [
        "Unique visitors", "Page views", "Views per visitor", "Bounce rate", "Visit duration", "Error rate",
        "Response p50", "Response p95",
    ]
    assert (out["visitors"].text, out["visitors"].change.text) == ("10", "↑ 25%")
    assert (out["views_per_visitor"].text, out["views_per_visitor"].previous_text) == ("2.5", "2.5")
    assert (out["bounce_rate"].text, out["bounce_rate"].change) == ("25%", Change("down", "↓ 25.0 pp", "good"))
    assert out["visit_duration"].text == "1m 05s"
    assert (out["error_rate"].text, out["error_rate"].change.tone) == ("4.0%", "bad")
    assert (out["p95"].text, out["p95"].change) == ("300 ms", Change("up", "↑ 20%", "bad"))


def test_empty_periods_have_no_ratio_and_no_change() -> None:
    out = {f.id: f for f in figures(Figures(), Figures(), name="signup", durations=False)}
    assert "p50" not in out and "p95" not in out  # not measured: not shown
    assert out["views"].label == "Events: signup"
    assert (out["views_per_visitor"].value, out["views_per_visitor"].text) == (None, "–")
    assert {f.change.text for f in out.values()} == {"no previous data"}  # was "±0%" (issue 17)


def test_a_period_after_no_data_says_so_instead_of_a_change() -> None:
    now = Figures(visitors=10, views=25, visits=12, bounces=3)
    out = {f.id: f for f in figures(now, Figures(), name="http_req", durations=False)}
    assert {f.change for f in out.values()} == {Change("none", "no previous data", "neutral")}


def test_labels() -> None:
    assert flag("ch") == "🇨🇭" and flag("") == "" and flag("1A") == "" and flag("CHE") == ""
    assert [seconds(x) for x in (None, 4.4, 65, 3600 + 120)] == ["–", "4s", "1m 05s", "1h 02m"]
    assert [milliseconds(x) for x in (4.25, 123.4, 12_345.0)] == ["4.2 ms", "123 ms", "12.3 s"]
    assert [percent(x) for x in (None, 0, 0.0123, 0.5)] == ["–", "0%", "1.2%", "50%"]


@pytest.mark.parametrize("value, top", [(0, 2), (2, 2), (3, 4), (5, 6), (9, 10), (11, 20), (101, 200), (401, 600), (950, 1000)])
def test_axis_maximum_is_round_with_a_round_half(value: int, top: int) -> None:
    assert nice_ceiling(value) == top
    assert top % 2 == 0


def test_chart_geometry() -> None:
    buckets = [Bucket(datetime(2026, 11, d), v, n, pv, pn) for d, v, n, pv, pn in
               [(1, 2, 5, 1, 2), (2, 0, 0, 3, 8), (3, 4, 10, 0, 0)]]
    c = chart.build("day", buckets)
    assert c.top == 10  # the largest of this and the period before: 10 page views
    assert [b.views_height for b in c.bars] == [100.0, 0.0, 200.0]  # of 200 units
    assert [b.visitors_height for b in c.bars] == [40.0, 0.0, 80.0]
    assert all(b.x + b.width <= c.width for b in c.bars) and c.bars[1].x > c.bars[0].x + c.bars[0].width
    assert c.previous_views.split() == ["166.67,160.0", "500.0,40.0", "833.33,200.0"]
    assert [(x.text, x.major) for x in c.x_labels] == [("01 Nov", True), ("02 Nov", False), ("03 Nov", True)]
    many = chart.build("hour", [Bucket(datetime(2026, 11, 1, h), 0, 0, 0, 0) for h in range(24)])
    assert [x.text for x in many.x_labels if x.text] == ["00:00", "03:00", "06:00", "09:00", "12:00", "15:00", "18:00", "21:00"]
