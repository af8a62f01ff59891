"""The view-model on hand-made page views with an injected clock: visits and bounces, the
period before, chart buckets, cards, filters and bots."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from urllib.parse import parse_qs

import pytest

from kero_core import Kero, queries
from kero_core.capture import hit_from_environ
from kero_core.dashboard import model
from kero_core.dashboard.labels import compact
from kero_core.dashboard.view import parse_view
from tests.conftest import environ
from tests.dashboard.conftest import at, ingest, view_hit

A, B, C, D = "81.2.69.142", "81.2.69.143", "81.2.69.144", "81.2.69.145"
CURL = {"HTTP_USER_AGENT": "curl/8.5.0"}


def build(kero: Kero, query: str = "", rows: int = model.CARD_ROWS) -> model.Dashboard:
    return model.build(kero, parse_view(parse_qs(query, keep_blank_values=True), kero.now()), rows=rows)


def figures(d: model.Dashboard) -> dict[str, object]:
    return {f.id: f.value for f in d.figures}


def panel(d: model.Dashboard, id: str) -> model.PanelView:
    return next(p for card in d.cards for p in card.panels if p.panel.id == id)


def labels(d: model.Dashboard, id: str) -> list[tuple[str, tuple[float | None, ...]]]:
    return [(r.label.text, r.values) for r in panel(d, id).rows]


@pytest.fixture
def visits(kero: Kero) -> Kero:
    """Four visits of three visitors today (NOW is 12:00 UTC):
    A: / (-60 min), /pricing (-50): 10 minutes; then 40 minutes later /docs (-10): a bounce.
    B: /blog (-30): a bounce.  C: / (-120), /a and /b 29 min 59 s apart: one visit of 3598 s."""
    ingest(kero, [
        view_hit(at(-60), "/", ip=A), view_hit(at(-50), "/pricing", ip=A), view_hit(at(-10), "/docs", ip=A),
        view_hit(at(-30), "/blog", ip=B),
        view_hit(at(-120), "/", ip=C), view_hit(at(-120 + 29 + 59 / 60), "/a", ip=C),
        view_hit(at(-120 + 2 * (29 + 59 / 60)), "/b", ip=C),
    ])
    return kero


def test_visits_bounces_and_median_duration(visits: Kero) -> None:
    f = figures(build(visits, "period=today"))
    assert (f["visitors"], f["views"]) == (3, 7)
    assert f["bounce_rate"] == 0.5  # 2 of 4 visits saw one page
    assert f["visit_duration"] == 300.0  # median of 600, 0, 0 and 3598 seconds
    assert f["views_per_visitor"] == pytest.approx(7 / 3)


def test_a_gap_of_exactly_30_minutes_starts_a_new_visit(kero: Kero) -> None:
    ingest(kero, [view_hit(at(-200), "/", ip=D), view_hit(at(-170), "/x", ip=D)])
    f = figures(build(kero, "period=today"))
    assert (f["visitors"], f["bounce_rate"], f["visit_duration"]) == (1, 1.0, 0.0)


def test_page_views_at_the_same_moment_make_a_visit_of_0_seconds(kero: Kero) -> None:
    """Access logs have whole seconds: a visit's entry and exit may share a timestamp. Sorted
    twice (visit marks, then lengths), ties must not pair an exit with another visitor's row."""
    ingest(kero, [view_hit(at(-300 + i / 2), page, ip=f"81.2.{i // 200}.{i % 200 + 1}")
                  for i in range(400) for page in ("/", "/next")])
    f = figures(build(kero, "period=today"))
    assert (f["visitors"], f["bounce_rate"], f["visit_duration"]) == (400, 0.0, 0.0)
    with kero.read() as con:
        lengths, visits = (con.execute(f"""WITH e AS (SELECT true AS cur, ts, visitor_id FROM events),
            marked AS ({queries.visit_marks("e", ["cur"])}) {rows("marked", ["cur"])}""").fetchall()
                           for rows in (queries.visit_lengths, queries.visits))
    assert len(lengths) == 400 and sorted({seconds for _, _, seconds in lengths}) == [0.0]
    assert len(visits) == 400 and all(start == stop and not bounce for _, _, start, stop, bounce in visits)


def test_entry_and_exit_pages_count_visits(visits: Kero) -> None:
    d = build(visits, "period=today")
    assert labels(d, "entry_pages") == [("/", (2.0,)), ("/blog", (1.0,)), ("/docs", (1.0,))]
    assert labels(d, "exit_pages") == [("/b", (1.0,)), ("/blog", (1.0,)), ("/docs", (1.0,)), ("/pricing", (1.0,))]
    assert labels(d, "pages")[0] == ("/", (2.0,))  # two visitors


def test_the_period_before_and_the_chart(kero: Kero) -> None:
    ingest(kero, [
        view_hit(at(-60), "/", ip=A),
        view_hit(at(hours=-23), "/", ip=B),  # yesterday 13:00: in the 12 hours before today
        view_hit(at(hours=-25), "/", ip=C),  # yesterday 11:00: before both periods
    ])
    d = build(kero, "period=today")
    assert {f.id: (f.value, f.previous) for f in d.figures}["views"] == (1, 1)
    assert d.unit == "hour"
    assert [b.start for b in d.buckets][:2] == [datetime(2026, 11, 10, 0), datetime(2026, 11, 10, 1)]
    assert len(d.buckets) == 13  # 00:00 to the current hour, 12:00
    assert [(b.views, b.visitors) for b in d.buckets if b.views] == [(1, 1)]
    assert d.buckets[11].views == 1  # 11:00
    assert [b.previous_views for b in d.buckets].index(1) == 1  # 13:00 yesterday lines up with 01:00
    assert d.chart.bars[11].title == "Tue 10 Nov, 11:00 UTC: 1 visitor, 1 page view (period before: 0 visitors, 0 page views)"


def test_week_buckets_for_a_custom_range(kero: Kero) -> None:
    d = build(kero, "from=2026-09-01&to=2026-10-31")
    assert d.unit == "week" and d.buckets[0].start == datetime(2026, 8, 31)  # a Monday


def test_filters_apply_to_everything(visits: Kero) -> None:
    d = build(visits, "period=today&path=/")
    assert (figures(d)["views"], figures(d)["visitors"]) == (2, 2)
    assert labels(d, "pages") == [("/", (2.0,))]
    assert sum(b.views for b in d.buckets) == 2
    excluded = build(visits, "period=today&path!=/")
    assert figures(excluded)["views"] == 5
    assert "/" not in [label for label, _ in labels(excluded, "pages")]


def test_bots_have_their_own_card(kero: Kero) -> None:
    ingest(kero, [view_hit(at(-5), "/", ip=A), view_hit(at(-4), "/robots.txt", ip=B, **CURL),
                  view_hit(at(-3), "/", ip=B, **CURL)])
    d = build(kero, "period=today")
    assert figures(d)["views"] == 1
    assert labels(d, "bots") == [("curl", (2.0, 1.0))]
    bot_row = panel(d, "bots").rows[0]
    assert bot_row.href == "?period=today&is_bot=true&browser=curl"
    bots = build(kero, "period=today&is_bot=true&browser=curl")
    assert figures(bots)["views"] == 2
    assert labels(bots, "form_factors") == [("🤖 Bot", (1.0,))]


def test_custom_events_card_and_the_name_filter(kero: Kero) -> None:
    signup = hit_from_environ(environ("/signup", REMOTE_ADDR=A), at(-2), name="signup", labels={"plan": "pro"})
    ingest(kero, [view_hit(at(-5), "/signup", ip=A), signup])
    d = build(kero, "period=today")
    assert labels(d, "custom_events") == [("signup", (1.0, 1.0))]
    assert figures(d)["views"] == 1  # custom events are not page views
    events = build(kero, "period=today&name=signup")
    assert [(f.label, f.value) for f in events.figures][1] == ("Events: signup", 1)


def test_sources_campaigns_and_referrer_drill_down(kero: Kero) -> None:
    ingest(kero, [
        view_hit(at(-9), "/", ip=A, HTTP_REFERER="https://www.google.com/search?q=kero"),
        view_hit(at(-8), "/", ip=B, HTTP_REFERER="https://news.example.org/item?id=1",
                 QUERY_STRING="utm_source=news&utm_campaign=launch"),
        view_hit(at(-7), "/", ip=C),
    ])
    d = build(kero, "period=today")
    assert sorted(labels(d, "referrers")) == [("Direct / none", (1.0,)), ("google.com", (1.0,)), ("news.example.org", (1.0,))]
    assert labels(d, "utm_sources") == [("news", (1.0,))]  # visits without a campaign are not a row
    assert labels(d, "utm_mediums") == []
    direct = next(r for r in panel(d, "referrers").rows if r.label.text == "Direct / none")
    assert direct.href == "?period=today&referrer_domain="
    drilled = build(kero, "period=today&referrer_domain=google.com")
    [row] = panel(drilled, "referrer_urls").rows
    assert (row.label.text, row.label.href) == ("https://www.google.com/search?q=kero",) * 2


def test_routes_slowest_routes_and_errors(kero: Kero) -> None:
    ingest(kero, [
        view_hit(at(-9), "/hello/ann", ip=A, route="/hello/<name>", duration_ms=10),
        view_hit(at(-8), "/hello/bob", ip=B, route="/hello/<name>", duration_ms=30),
        view_hit(at(-7), "/gone", ip=C, status=404, duration_ms=2),
        view_hit(at(-6), "/boom", ip=C, status=500, duration_ms=900),
        view_hit(at(-5), "/wp-login.php", ip=A, status=404, duration_ms=4),
    ])
    d = build(kero, "period=today")
    routes = panel(d, "routes").rows
    assert [(r.label.text, r.values) for r in routes] == [  # 404s without a route are one route
        ("GET (not found)", (2.0,)), ("GET /hello/<name>", (2.0,)), ("GET /boom", (1.0,))]
    assert routes[0].href == "?period=today&method=GET&route=&status=404"
    assert routes[1].href == "?period=today&method=GET&route=%2Fhello%2F%3Cname%3E"
    assert routes[2].href == "?period=today&method=GET&path=%2Fboom"  # no route known: the path
    # Today is read from its rollups (kept current at ingest): response times from histograms, within 1%.
    assert labels(d, "slowest_routes")[0] == ("GET /boom", (pytest.approx(900, rel=0.01),) * 2)
    assert labels(d, "status_codes") == [("200 OK", (2.0,)), ("404 Not Found", (2.0,)), ("500 Internal Server Error", (1.0,))]
    assert labels(d, "not_found") == [("/gone", (1.0,)), ("/wp-login.php", (1.0,))]
    assert figures(d)["error_rate"] == 0.2
    not_found = build(kero, "period=today&method=GET&route=&status=404")
    assert figures(not_found)["views"] == 2


def test_no_slowest_routes_nor_response_times_without_measuring(make_kero, clock) -> None:
    d = build(make_kero(clock=clock))
    assert "slowest_routes" not in [p.panel.id for card in d.cards for p in card.panels]
    assert "p95" not in figures(d)


def test_cards_show_ten_rows_and_count_them_all(kero: Kero) -> None:
    ingest(kero, [view_hit(at(-30 + i), f"/page/{i:02d}", ip=A) for i in range(25)])
    d = build(kero, "period=today")
    pages = panel(d, "pages")
    assert (len(pages.rows), pages.total, pages.show_all) == (10, 25, "?period=today&show=pages")
    assert [r.bar for r in pages.rows] == [100] * 10
    full = model.build_modal(kero, parse_view({"period": ["today"]}, kero.now()), "pages")
    assert (len(full.rows), full.total) == (25, 25)


def test_show_all_of_a_card_is_read_with_the_cards(kero: Kero, monkeypatch: pytest.MonkeyPatch) -> None:
    """?show= of a card lists its first MODAL_ROWS rows, counted with the other cards in one
    statement (not in a second read of the same events); the card shows the list's first ten."""
    ingest(kero, [view_hit(at(-30 + i), f"/page/{i:02d}", ip=A) for i in range(25)])
    view = parse_view({"period": ["today"]}, kero.now())
    monkeypatch.setattr(model, "_breakdowns", lambda *args: pytest.fail("the list was read apart"))
    d = model.build(kero, replace(view, show="pages"))
    pages = panel(d, "pages")
    assert d.modal is not None and (len(d.modal.rows), d.modal.total) == (25, 25)
    assert pages.rows == d.modal.rows[:10] and pages.total == 25
    monkeypatch.undo()
    assert model.build(kero, replace(view, show="properties")).modal is not None  # not among the cards: read apart


def test_empty_site_and_realtime(kero: Kero, clock) -> None:
    d = build(kero)
    assert not d.has_data and d.realtime == 0
    assert all(not p.rows for card in d.cards for p in card.panels)
    ingest(kero, [view_hit(at(-4), "/", ip=A), view_hit(at(-6), "/", ip=B), view_hit(at(-1), "/", ip=C, **CURL)])
    assert model.realtime(kero) == 1  # B is older than five minutes; curl is a bot
    d = build(kero, "period=7d&path=/nothing")
    assert d.has_data and figures(d)["views"] == 0


def test_bars_are_proportional_to_the_largest_row(kero: Kero) -> None:
    ingest(kero, [view_hit(at(-9), "/", ip=ip) for ip in (A, B, C, D)] + [view_hit(at(-8), "/x", ip=A)])
    assert [r.bar for r in panel(build(kero, "period=today"), "pages").rows] == [100, 25]


@pytest.mark.parametrize(("number", "text"), [
    (0, "0"), (999_999, "999,999"), (999_999.6, "1M"), (1_000_000, "1M"), (1_234_567, "1.23M"),
    (28_234_567, "28.2M"), (999_949_999, "1B"), (1_234_567_890, "1.23B"), (5 * 10**12, "5T"),
])
def test_compact_numbers_keep_three_significant_digits(number: float, text: str) -> None:
    assert compact(number) == text
