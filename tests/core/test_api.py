"""The public read API: count, count_visitors, query, top, histogram and filters."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Callable

import pytest

from kero_core import Kero
from tests.conftest import IPHONE_UA, FakeClock, environ

UTC = timezone.utc


@pytest.fixture
def kero(make_kero: Callable[..., Kero], clock: FakeClock, geoip_db: str) -> Kero:
    return make_kero(clock=clock, geoip_db=geoip_db, measure_requests=True)


def visit(kero: Kero, path: str, ip: str = "81.2.69.142", ua: str | None = None, status: int = 200,
          duration: float = 10.0, route: str = "", **headers: str) -> None:
    env = environ(path, REMOTE_ADDR=ip, **headers)
    if ua is not None:
        env["HTTP_USER_AGENT"] = ua
    kero.record_request(env, status=status, duration_ms=duration, route=route)


def test_count_and_visitors(kero: Kero) -> None:
    visit(kero, "/a", ip="1.1.1.1")
    visit(kero, "/b", ip="1.1.1.1")
    visit(kero, "/a", ip="2.2.2.2")
    assert kero.count() == 3
    assert kero.count_visitors() == 2
    assert kero.count(filters={"path": "/a"}) == 2
    assert kero.count(filters={"path!=": "/a"}) == 1


def test_filters_combine_and_negate(kero: Kero) -> None:
    visit(kero, "/a", ua=IPHONE_UA)
    visit(kero, "/a")
    visit(kero, "/b", status=404)
    assert kero.count(filters={"path": "/a", "form_factor": "mobile"}) == 1
    assert kero.count(filters={"status": "404"}) == 1
    assert kero.count(filters={"status!=": 404, "os!=": "iOS"}) == 1


@pytest.mark.parametrize("filters,message", [
    ({"ip": "1.2.3.4"}, "unknown filter dimension 'ip'"),
    ({"path; DROP TABLE events": "x"}, "unknown filter dimension"),
    ({"status": "abc"}, "status filter must be an HTTP status code"),
    ({"is_bot": "maybe"}, "is_bot filter must be true or false"),
])
def test_bad_filters_raise_value_error(kero: Kero, filters: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        kero.count(filters=filters)


def test_filter_values_are_bound_not_spliced(kero: Kero) -> None:
    visit(kero, "/a")
    assert kero.count(filters={"path": "' OR 1=1 --"}) == 0
    assert kero.count() == 1


def test_time_range(kero: Kero, clock: FakeClock) -> None:
    visit(kero, "/early")
    clock.advance(3600)
    visit(kero, "/late")
    middle = datetime(2026, 11, 10, 12, 30, tzinfo=UTC)
    assert [e.path for e in kero.query(start=middle)] == ["/late"]
    assert [e.path for e in kero.query(end=middle)] == ["/early"]
    assert [e.path for e in kero.query(end=middle.timestamp())] == ["/early"]


def test_query_newest_first_with_limit_and_fields(kero: Kero, clock: FakeClock) -> None:
    for i in range(5):
        visit(kero, f"/{i}", route="/<n>")
        clock.advance(1)
    events = kero.query(limit=2)
    assert [e.path for e in events] == ["/4", "/3"]
    assert events[0].ts.tzinfo is not None and events[0].route == "/<n>"
    assert events[0].country == "GB"


def test_top(kero: Kero) -> None:
    for ip in ("1.1.1.1", "2.2.2.2", "3.3.3.3"):
        visit(kero, "/popular", ip=ip)
    visit(kero, "/rare", ip="1.1.1.1")
    visit(kero, "/rare", ip="1.1.1.1")
    assert kero.top("path") == [("/popular", 3), ("/rare", 1)]
    assert kero.top("path", metric="events") == [("/popular", 3), ("/rare", 2)]
    assert kero.top("path", limit=1) == [("/popular", 3)]


def test_top_routes_and_durations(kero: Kero) -> None:
    visit(kero, "/hello/a", route="/hello/<name>", duration=10)
    visit(kero, "/hello/b", route="/hello/<name>", duration=30)
    visit(kero, "/", route="/", duration=100)
    assert kero.top("route", metric="events") == [("GET /hello/<name>", 2), ("GET /", 1)]
    assert kero.top("route", metric="avg_duration") == [("GET /", 100.0), ("GET /hello/<name>", 20.0)]
    [(label, p95)] = kero.top("route", metric="p95_duration", filters={"path!=": "/"})
    assert label == "GET /hello/<name>" and 28 < p95 <= 30


def test_top_rejects_unknown_dimension_and_metric(kero: Kero) -> None:
    with pytest.raises(ValueError, match="unknown dimension"):
        kero.top("ip")
    with pytest.raises(ValueError, match="unknown metric"):
        kero.top("path", metric="sum")


def test_histogram_hours_with_zeros(kero: Kero, clock: FakeClock) -> None:
    visit(kero, "/")
    clock.advance(2 * 3600)
    visit(kero, "/")
    visit(kero, "/")
    start = datetime(2026, 11, 10, 11, 0, tzinfo=UTC)
    end = datetime(2026, 11, 10, 15, 0, tzinfo=UTC)
    assert kero.histogram(start=start, end=end) == [
        (datetime(2026, 11, 10, h, tzinfo=UTC), n) for h, n in [(11, 0), (12, 1), (13, 0), (14, 2)]
    ]


@pytest.mark.parametrize("days,unit_len", [(2, timedelta(hours=1)), (10, timedelta(days=1)), (60, timedelta(weeks=1))])
def test_histogram_bucket_sizes(kero: Kero, days: int, unit_len: timedelta) -> None:
    end = datetime(2026, 11, 10, tzinfo=UTC)
    buckets = kero.histogram(start=end - timedelta(days=days), end=end)
    assert all(b - a == unit_len for (a, _), (b, _) in zip(buckets, buckets[1:]))


def test_histogram_months_and_visitors(kero: Kero) -> None:
    visit(kero, "/", ip="1.1.1.1")
    visit(kero, "/", ip="1.1.1.1")
    end = datetime(2026, 12, 1, tzinfo=UTC)
    buckets = kero.histogram(start=datetime(2026, 6, 1, tzinfo=UTC), end=end, metric="visitors")
    assert [b.month for b, _ in buckets] == [6, 7, 8, 9, 10, 11]
    assert buckets[-1][1] == 1
    with pytest.raises(ValueError, match="histogram metric"):
        kero.histogram(metric="p95")


def test_visitor_id_stable_within_a_day_and_rotating_across_days(kero: Kero, clock: FakeClock) -> None:
    visit(kero, "/1")
    clock.advance(3600)
    visit(kero, "/2")
    clock.advance(2 * 86400)
    visit(kero, "/3")
    ids = {e.path: e.visitor_id for e in kero.query()}
    assert ids["/1"] == ids["/2"] != ids["/3"]


def test_visitor_ids_agree_between_instances_on_one_db_path(make_kero: Callable[..., Kero], clock: FakeClock) -> None:
    first, second = make_kero(clock=clock), make_kero(clock=clock)
    visit(first, "/from-first")
    visit(second, "/from-second")
    first.flush()
    assert len({e.visitor_id for e in second.query()}) == 1


def test_custom_event_with_request_is_enriched(kero: Kero) -> None:
    kero.track("signup", {"plan": "pro"}, value=3, request=environ("/pricing", REMOTE_ADDR="81.2.69.142"))
    [event] = kero.query(name="signup")
    assert (event.path, event.labels, event.value, event.country) == ("/pricing", {"plan": "pro"}, 3.0, "GB")
    assert event.visitor_id != 0 and event.browser == "Chrome"


def test_custom_event_accepts_request_objects(kero: Kero) -> None:
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request

    request = Request(EnvironBuilder(path="/x", headers={"User-Agent": IPHONE_UA}).get_environ())
    kero.track("click", request=request)
    assert kero.query(name="click")[0].form_factor == "mobile"


def test_custom_event_with_a_bad_request_is_logged_not_raised(kero: Kero, caplog: pytest.LogCaptureFixture) -> None:
    kero.track("oops", request=object())
    assert "could not track event" in caplog.text
    assert kero.count(name="oops") == 0


def test_bad_labels_and_values_are_bounded(kero: Kero) -> None:
    labels = {f"k{i}": "v" * 1000 for i in range(100)}
    kero.track("big", labels, value=float("nan"))
    [event] = kero.query(name="big")
    assert len(event.labels) == 32 and all(len(v) == 256 for v in event.labels.values())
    assert event.value == 1.0


def test_ip_and_user_agent_are_never_stored(kero: Kero) -> None:
    visit(kero, "/", ip="203.0.113.77", ua="Mozilla/5.0 UniqueAgentString/9.9 secret-marker")
    kero.close()
    blob = b"".join(p.read_bytes() for p in kero.config.db_path.rglob("*") if p.is_file())
    assert b"203.0.113.77" not in blob and b"secret-marker" not in blob
