"""Annotations: kero.annotate(), the release noted once at start-up, and their markers on the
chart, their list under it and their place in api/stats."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Callable

import pytest
from werkzeug.test import Client

from kero_core import Kero, KeroConfigError
from tests.conftest import FakeClock
from tests.dashboard.conftest import at, get, ingest, view_hit
from tests.dashboard.html import parse

SHA = "0123456789abcdef0123456789abcdef01234567"


def naive(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc).replace(tzinfo=None)


def test_annotate_stores_a_note_now_or_at_a_given_time(kero: Kero) -> None:
    first = kero.annotate("  v1.4\n deployed ")
    kero.annotate("Newsletter sent", at=datetime(2026, 11, 9, 10, 0, tzinfo=timezone(timedelta(hours=2))))
    kero.annotate("Outage", at=at(hours=-30))
    assert first.at == naive(at()) and first.text == "v1.4 deployed"
    assert [(a.at, a.text) for a in kero.annotations()] == [
        (naive(at(hours=-30)), "Outage"), (datetime(2026, 11, 9, 8, 0), "Newsletter sent"), (naive(at()), "v1.4 deployed")]
    assert [a.text for a in kero.annotations(start=at(hours=-29), end=at(minutes=-1))] == ["Newsletter sent"]


@pytest.mark.parametrize("text, message", [
    ("", "needs a text"), ("   ", "needs a text"), (None, "needs a text"), ("x" * 201, "at most 200 characters"),
])
def test_a_bad_annotation_is_one_clear_error_and_stores_nothing(kero: Kero, text: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        kero.annotate(text)  # type: ignore[arg-type]
    assert kero.annotations() == []


def test_a_release_is_noted_once_at_the_start_of_its_first_process(
    make_kero: Callable[..., Kero], clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_COMMIT", SHA)
    workers = [make_kero(clock=clock) for _ in range(3)]  # three workers of one start
    clock.advance(60)
    for worker in workers:
        worker.count()  # each one's first session
    notes = workers[0].annotations()
    assert [(n.text, n.release, n.at) for n in notes] == [(f"Release {SHA[:12]}", SHA, naive(at()))]
    assert make_kero(clock=clock).annotations() == notes  # a restart of the same release adds nothing
    restarted = make_kero(clock=clock, release="v2.0")
    restarted.count()
    assert [(n.text, n.release) for n in restarted.annotations()] == [(f"Release {SHA[:12]}", SHA), ("Release v2.0", "v2.0")]


def test_the_release_variables_are_read_in_order_and_the_option_wins(monkeypatch: pytest.MonkeyPatch, make_kero: Callable[..., Kero]) -> None:
    monkeypatch.setenv("FLY_IMAGE_REF", "registry.fly.io/app:deployment-01")
    assert make_kero().config.release == "registry.fly.io/app:deployment-01"
    monkeypatch.setenv("HEROKU_SLUG_COMMIT", "heroku-sha")
    assert make_kero().config.release == "heroku-sha"
    monkeypatch.setenv("KERO_RELEASE", " v1.4 ")
    assert make_kero().config.release == "v1.4"
    assert make_kero(release="mine").config.release == "mine"
    off = make_kero(release=False)
    assert off.config.release is None
    off.count()
    assert off.annotations() == []


@pytest.mark.parametrize("value", [3, "", "  ", "x" * 201, True])
def test_a_bad_release_option_names_it(make_kero: Callable[..., Kero], value: object) -> None:
    with pytest.raises(KeroConfigError, match="^release must be a release id"):
        make_kero(release=value)


def test_the_chart_marks_each_annotation_of_the_period_and_lists_it(kero: Kero, client: Client) -> None:
    ingest(kero, [view_hit(at(days=-d)) for d in range(7)])
    kero.annotate("Old news", at=at(days=-20))  # before the 7 days: not shown
    kero.annotate("v1.4 <deployed>", at=datetime(2026, 11, 7, 12, 0))  # the middle of day 4 of 7
    page = parse(get(client, "/_kero/?period=7d").data)
    marks = page.find_all("g", cls="note")
    assert len(marks) == 1
    mark = marks[0]
    assert mark.attrs["tabindex"] == "0"
    assert mark.find("title").text() == "07 Nov 2026, 12:00 UTC: v1.4 <deployed>"
    assert mark.find("text", cls="note-text").text() == "v1.4 <deployed>"
    # 7 daily buckets from 4 Nov: 3.5 of 7 bucket widths from the left.
    assert mark.find("line").attrs["x1"] == "50.0%"
    listed = page.find("ul", cls="notes").find_all("li")
    assert [li.text().split() for li in listed] == [["07", "Nov", "2026,", "12:00", "UTC", "v1.4", "<deployed>"]]
    assert "1 annotation marked" in page.find("svg", cls="chart").attrs["aria-label"]


def test_a_period_without_annotations_has_no_markers(kero: Kero, client: Client) -> None:
    ingest(kero, [view_hit(at(hours=-1))])
    kero.annotate("Long ago", at=at(days=-3))
    page = parse(get(client, "/_kero/?period=today").data)
    assert page.find_all("g", cls="note") == [] and page.find_all("ul", cls="notes") == []


def test_api_stats_lists_the_periods_annotations(kero: Kero, client: Client) -> None:
    kero.annotate("Before", at=at(days=-10))
    kero.annotate("Campaign", at=at(hours=-2))
    stats = json.loads(get(client, "/_kero/api/stats?period=7d").data)
    assert stats["annotations"] == [{"at": "2026-11-10T10:00:00Z", "text": "Campaign", "release": None}]


def test_a_release_noted_by_two_hosts_at_once_is_shown_once(kero: Kero, client: Client) -> None:
    # What two lake hosts racing leave: two rows of one release; the earliest counts.
    with kero.read() as con:
        for minutes in (5, 1):
            con.execute("INSERT INTO annotations VALUES (?, 'Release v9', 'v9', ?)", [naive(at(minutes=-minutes))] * 2)
    assert [(a.at, a.text) for a in kero.annotations()] == [(naive(at(minutes=-5)), "Release v9")]
    assert len(parse(get(client, "/_kero/?period=today").data).find_all("g", cls="note")) == 1
