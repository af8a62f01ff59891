"""The per-day rollups answer exactly what the raw-event queries answer: key figures, chart and
every card (the Properties card too), unfiltered, for one country and for one event name; response times p50 and p95 (from histograms, also
each route's p95 in the slowest routes) within their documented 1%. The one documented difference: a visit in progress
at midnight keeps its visitor id (enrich.VisitorIds), and the rollups count it on both days."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import duckdb
import pytest
from _maxminddb_geolite2 import geolite2_database

from kero_core import Kero, goal_queries, queries, rollups
from kero_core.capture import Hit
from kero_core.dashboard.cards import PANELS
from kero_core.dashboard.view import parse_view
from kero_core.synthetic import generate
from kero_core.store import SCHEMA_VERSION
from tests.conftest import FakeClock, environ
from tests.dashboard.conftest import open_copy, seed_once, view_hit

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc)


def far_from_midnight(hit: Hit) -> bool:
    seconds = hit.ts % 86400
    return 1800 <= seconds <= 86400 - 1800


def exact(figures: queries.Figures) -> queries.Figures:
    """The figures the rollups keep exactly: all but the response times, read from histograms."""
    return replace(figures, p50_ms=None, p95_ms=None)


def close(approximate: float | None, exact_ms: float | None) -> bool:
    """Within the documented bound of a response time read from the histograms."""
    if exact_ms is None:
        return approximate is None
    return approximate is not None and abs(approximate - exact_ms) <= (rollups.STEP ** 0.5 - 1) * exact_ms


def drop_schema_10(con: duckdb.DuckDBPyConnection) -> None:
    """Back to schema 9: no goal twins, (schema 11) no live day: today's rows go, and the day
    is read from its events, (schema 12) no day_hours and (schema 13) no day_visits."""
    for table in (*rollups.GOAL_TABLES.values(), "day_goal_goals", "day_hours", "day_visits"):
        con.execute(f"DROP TABLE {table}")
    kept = {row[0] for row in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    for day in rollups.live_days(con):
        for table in kept.intersection(rollups.VIEW_TABLES):
            con.execute(f"DELETE FROM {table} WHERE day = ?", [day])
    rollups.save_live_days(con, {})


def options() -> dict[str, Any]:
    return {"clock": FakeClock(NOW), "geoip_db": geolite2_database(), "measure_requests": True, "retention": 60}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 days of traffic (away from midnight), every past day rolled up by the ingest."""
    return seed_once(tmp_path_factory, options(),
                     [h for h in generate(6000, days=12, seed=5, end=NOW.timestamp()) if far_from_midnight(h)])


@pytest.fixture
def kero(make_kero: Callable[..., Kero], seeded: Path, tmp_path: Path) -> Kero:
    return open_copy(make_kero, seeded, tmp_path, options())


def test_ingest_returns_with_every_past_day_rolled_up(kero: Kero) -> None:
    """The first view after a bulk write is served from rollups like every later one."""
    with kero.read() as con:
        days = con.execute("SELECT day, rolled FROM rollup_days ORDER BY day").fetchall()
    assert len(days) == 13  # 12 days back from 15:00 touch 13 dates
    assert [day for day, rolled in days if not rolled] == [NOW.date()]  # today is read from events


@pytest.mark.parametrize("params", [{"period": ["7d"]}, {"period": ["30d"]}, {"period": ["7d"], "country": ["US"]},
                                    {"period": ["30d"], "name": ["signup"]},
                                    {"from": ["2026-11-12"], "to": ["2026-11-19"]}])
def test_rollups_equal_raw_queries(kero: Kero, params: dict[str, list[str]]) -> None:
    view = parse_view(params, NOW.replace(tzinfo=None))
    scope = view.scope()
    ids = [i for i in PANELS if i in queries.BREAKDOWNS]
    with kero.read() as con:
        assert con.execute("SELECT count(*) FROM rollup_days WHERE rolled").fetchone()[0] >= 10
        rolled = rollups.figures(con, scope, view.previous_start)
        raw = queries.figures(con, scope, view.previous_start)
        assert [exact(f) for f in rolled] == [exact(f) for f in raw]
        timed = scope.name == "http_req"  # page views have response times, custom events none
        assert bool(raw[0].p50_ms and raw[0].p95_ms) == timed
        for approximate, right in zip(rolled, raw):  # the period and the one before (None when empty)
            assert close(approximate.p50_ms, right.p50_ms) and close(approximate.p95_ms, right.p95_ms)
        assert rollups.series(con, scope, view.previous_start) == queries.series(con, scope, view.previous_start)
        properties = rollups.properties(con, scope, 50)
        assert properties == goal_queries.properties(con, scope, 50)
        assert properties[0] >= 2 and {row.key[1] for row in properties[1]} <= {"signup", "purchase"}
        others = [i for i in ids if i != "slowest_routes"]
        assert rollups.breakdowns(con, scope, others, 50) == queries.breakdowns(con, scope, others, 50)
        (total, rows), = rollups.breakdowns(con, scope, ["slowest_routes"], 10_000).values()
        (raw_total, raw_rows), = queries.breakdowns(con, scope, ["slowest_routes"], 10_000).values()
        assert total == raw_total and (total > 10) == timed
        right = {row.key: row for row in raw_rows}
        assert [row.key for row in rows if row.key not in right] == []
        for row in rows:  # p95 and mean from the histograms, the count exact
            assert close(row.value, right[row.key].value) and close(row.value2, right[row.key].value2), row
            assert row.value3 == right[row.key].value3


def test_a_visit_across_midnight_counts_on_both_days(make_kero: Callable[..., Kero]) -> None:
    clock = FakeClock(datetime(2026, 11, 10, 23, 50, tzinfo=timezone.utc))
    kero = make_kero(clock=clock)
    kero.record_request(environ("/a"), status=200)
    clock.advance(20 * 60)  # 00:10 the next day: the visit goes on, with the same visitor id
    kero.record_request(environ("/b"), status=200)
    clock.set(datetime(2026, 11, 12, 12, 0, tzinfo=timezone.utc))
    view = parse_view({"from": ["2026-11-10"], "to": ["2026-11-11"]}, datetime(2026, 11, 12, 12, 0))
    with kero.read() as con:
        while rollups.refresh(con, datetime(2026, 11, 12).date(), budget=math.inf):
            pass
        raw, _ = queries.figures(con, view.scope(), view.previous_start)
        rolled, _ = rollups.figures(con, view.scope(), view.previous_start)
    assert (raw.visitors, raw.visits) == (1, 1)
    assert (rolled.visitors, rolled.visits) == (2, 2)


def test_schema_5_upgrade_rolls_every_day_up_again(kero: Kero) -> None:
    view = parse_view({"period": ["7d"]}, NOW.replace(tzinfo=None))
    scope = view.scope()

    def answers() -> tuple[object, ...]:
        with kero.read() as con:
            return (rollups.figures(con, scope, view.previous_start),
                    rollups.breakdowns(con, scope, [i for i in PANELS if i in queries.BREAKDOWNS], 1000))

    before = answers()
    with kero.read() as con:  # back to schema 4: exact visit lengths, no route histograms (nor later tables)
        con.execute("DROP TABLE day_properties")
        con.execute("DROP TABLE day_routes")
        con.execute("DROP TABLE day_routes_all")
        con.execute("DROP TABLE day_goals")  # (schema 9)
        con.execute("DROP TABLE day_funnels")
        drop_schema_10(con)
        con.execute("UPDATE day_lengths SET seconds = seconds + 0.25 WHERE seconds > 0")
        con.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    with kero.read() as con:
        assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == str(SCHEMA_VERSION)
        while rollups.refresh(con, NOW.date(), budget=math.inf):
            pass
        assert con.execute("SELECT count(*) FROM day_lengths WHERE seconds <> round(seconds)").fetchone()[0] == 0
        assert con.execute("SELECT count(DISTINCT day) FROM day_routes").fetchone()[0] >= 10
    assert answers() == before
    assert before[1]["slowest_routes"][0] > 10


def test_schema_8_upgrade_keeps_the_properties_of_the_days_already_rolled_up(kero: Kero) -> None:
    scope = parse_view({"period": ["7d"]}, NOW.replace(tzinfo=None)).scope()
    with kero.read() as con:
        before = rollups.properties(con, scope, 1000)
        con.execute("DROP TABLE day_properties")  # back to schema 7
        con.execute("DROP TABLE day_goals")  # (schema 9)
        con.execute("DROP TABLE day_funnels")
        drop_schema_10(con)
        con.execute("UPDATE meta SET value = '7' WHERE key = 'schema_version'")
    with kero.read() as con:
        assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == str(SCHEMA_VERSION)
        rolled_days = con.execute("SELECT count(*) FROM rollup_days WHERE rolled").fetchone()[0]
        assert con.execute("SELECT count(DISTINCT day) FROM day_properties").fetchone()[0] == rolled_days >= 10
        assert rollups.properties(con, scope, 1000) == before == goal_queries.properties(con, scope, 1000)
        # The rolled-up days are answered by their rollups: without their events they read the same.
        con.execute("DELETE FROM events WHERE name <> 'http_req' AND ts < ?", [NOW.replace(hour=0, tzinfo=None)])
        assert rollups.properties(con, scope, 1000) == before != goal_queries.properties(con, scope, 1000)
    assert before[0] >= 2  # there was something to keep


def test_schema_12_upgrade_gives_the_folded_rows_their_new_key_and_hours_to_rolled_days(kero: Kero) -> None:
    """Before schema 12 the folded row's key was the text "(other)"; the upgrade renames it in
    the cards and the routes' histograms (and their goal twins), and nothing else. The days
    already rolled up get their day_hours rows."""
    day = (NOW - timedelta(days=2)).date()
    with kero.read() as con:
        hours = con.execute("SELECT * FROM day_hours ORDER BY ALL").fetchall()
        assert len({row[0] for row in hours}) >= 10
        con.execute("DROP TABLE day_hours")  # back to schema 11
        con.execute("DROP TABLE day_goal_hours")
        con.execute("DROP TABLE day_visits")  # (schema 13)
        con.execute("INSERT INTO day_cards_all VALUES (?, 'http_req', false, 'pages', '(other)', 7, 9)", [day])
        con.execute("INSERT INTO day_goal_cards VALUES (?, 'g', 'http_req', false, 'US', 'pages', '(other)', 1, 1)", [day])
        con.execute("INSERT INTO day_routes_all VALUES (?, 'http_req', false, '(other)', 'GET', true, 3, 4)", [day])
        before = con.execute("SELECT count(*) FROM day_cards_all").fetchone()[0]
        con.execute("UPDATE meta SET value = '11' WHERE key = 'schema_version'")
    with kero.read() as con:
        assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == str(SCHEMA_VERSION)
        assert con.execute("SELECT k, v1, v2 FROM day_cards_all WHERE k LIKE '%(other)'").fetchall() == [(queries.OTHER, 7, 9)]
        assert con.execute("SELECT k FROM day_goal_cards WHERE k LIKE '%(other)'").fetchall() == [(queries.OTHER,)]
        assert con.execute("SELECT label FROM day_routes_all WHERE label LIKE '%(other)'").fetchall() == [(queries.OTHER,)]
        assert con.execute("SELECT count(*) FROM day_cards_all").fetchone()[0] == before
        assert con.execute("SELECT * FROM day_hours ORDER BY ALL").fetchall() == hours


def test_a_cut_day_counts_a_visit_across_midnight_on_both_days(make_kero: Callable[..., Kero]) -> None:
    """Past 24 hours at 08:00 with today read from its events (no live rows, as in the lake):
    yesterday's part is cut and counted per day, as the dashboard defines visitors and visits,
    so a visit going on over midnight (its visitor id kept) counts on both days; the events
    read as one stretch would count it once."""
    clock = FakeClock(datetime(2026, 11, 10, 23, 50, tzinfo=timezone.utc))
    kero = make_kero(clock=clock)
    kero.store.keeps_live_days = False
    kero.record_request(environ("/a"), status=200)
    clock.advance(20 * 60)  # 00:10 the next day: the visit goes on, with the same visitor id
    kero.record_request(environ("/b"), status=200)
    clock.set(datetime(2026, 11, 11, 8, 0, tzinfo=timezone.utc))
    view = parse_view({"period": ["24h"]}, datetime(2026, 11, 11, 8, 0))
    with kero.read() as con:
        while rollups.refresh(con, datetime(2026, 11, 11).date(), budget=math.inf):
            pass
        assert rollups.live_days(con) == {}
        assert con.execute("SELECT count(*) FROM day_visits").fetchone()[0] == 1  # the 10th's
        raw, _ = queries.figures(con, view.scope(), view.previous_start)
        rolled, _ = rollups.figures(con, view.scope(), view.previous_start)
    assert (raw.visitors, raw.visits) == (1, 1)
    assert (rolled.visitors, rolled.visits, rolled.views) == (2, 2, 2)


def test_schema_13_upgrade_gives_the_last_rolled_days_their_visits(kero: Kero) -> None:
    """The visits of the VISIT_DAYS last days are kept (the retention pass deleted the others)."""
    last = [(NOW - timedelta(days=n)).date() for n in range(rollups.VISIT_DAYS, 0, -1)]
    with kero.read() as con:
        visits = con.execute("SELECT * FROM day_visits ORDER BY ALL").fetchall()
        assert sorted({row[0] for row in visits}) == last
        con.execute("DROP TABLE day_visits")  # back to schema 12
        con.execute("UPDATE meta SET value = '12' WHERE key = 'schema_version'")
    with kero.read() as con:
        assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == str(SCHEMA_VERSION)
        assert con.execute("SELECT * FROM day_visits ORDER BY ALL").fetchall() == visits
    assert len(visits) > 100


def test_the_retention_pass_deletes_the_visits_of_older_days(kero: Kero) -> None:
    with kero.read() as con:
        kero.store.prune(con, now=(NOW + timedelta(days=1)).timestamp())
        days = [row[0] for row in con.execute("SELECT DISTINCT day FROM day_visits ORDER BY day").fetchall()]
    assert days == [(NOW - timedelta(days=1)).date()]  # today's visits are kept when it is rolled up


def test_a_bulk_writers_roll_ups_keep_the_visits_of_the_last_days_only(make_kero: Callable[..., Kero]) -> None:
    """A bulk writer's session rolls up the days before the one its files are still filling:
    those days keep their visits only when they are of the last VISIT_DAYS before today (the two
    before the filling day kept theirs, until the hourly retention pass)."""
    kero = make_kero(**options())
    hits = list(generate(2000, days=5, seed=3, end=(NOW - timedelta(days=5)).timestamp()))
    kero.store.spool(kero._event_builder().build(hits))
    with kero.store.session(bulk=True) as con:
        rolled = [r[0] for r in con.execute("SELECT day FROM rollup_days WHERE rolled ORDER BY day").fetchall()]
        visit_days = con.execute("SELECT DISTINCT day FROM day_visits").fetchall()
    assert len(rolled) == 5 and max(rolled) == (NOW - timedelta(days=6)).date()  # all but the filling day
    assert visit_days == []


def test_a_cut_of_a_day_without_its_visits_reads_its_events(kero: Kero, monkeypatch: pytest.MonkeyPatch) -> None:
    """A period before that starts at 09:00 five days ago: that day's visits are gone (VISIT_DAYS),
    so its part is read from its events, and the figures are the same."""
    scope = parse_view({"period": ["today"]}, NOW.replace(tzinfo=None)).scope()
    previous_start = scope.start - timedelta(days=4, hours=15)
    cuts: list[list[tuple[bool, rollups.Cut]]] = []
    cut_figures = rollups._cut_figures
    monkeypatch.setattr(rollups, "_cut_figures",
                        lambda scope, found: cuts.append(list(found)) or cut_figures(scope, found))
    with kero.read() as con:
        assert con.execute("SELECT count(*) FROM day_visits WHERE day = ?",
                           [previous_start.date()]).fetchone()[0] == 0
        assert con.execute("SELECT count(*) FROM events WHERE ts::DATE = ?", [previous_start.date()]).fetchone()[0] > 50
        rolled = rollups.figures(con, scope, previous_start)
        raw = queries.figures(con, scope, previous_start)
    assert cuts == [[]]
    assert [exact(f) for f in rolled] == [exact(f) for f in raw]
    assert raw[1].visits > raw[1].bounces > 0


@pytest.mark.parametrize(("params", "hour", "cut"), [
    ({"period": ["today"]}, 15, [(False, 1, 8, 0)]),  # (from 09:00 less the microsecond Today ends after 15:00)
    ({"period": ["today"], "country": ["US"]}, 15, [(False, 1, 8, 0)]),
    ({"period": ["24h"]}, 15, [(False, 1, 0, 16)]),  # (24 hourly bars: to 16:00)
    ({"period": ["24h"]}, 3, [(True, 1, 4, 0), (False, 2, 4, 0)]),
    ({"period": ["24h"], "country": ["US"]}, 3, [(True, 1, 4, 0), (False, 2, 4, 0)]),
])
def test_most_of_a_rolled_up_day_is_read_from_its_rows_and_visits(
        kero: Kero, params: dict[str, list[str]], hour: int, cut: list[tuple[bool, int, int, int]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Today's period before (yesterday from 09:00 at 15:00) and Past 24 hours' (yesterday until
    16:00; at 03:00, yesterday from 04:00 and the day before from 04:00) hold most of a
    rolled-up day: read from its visits and its rows less the events outside the part, they
    equal the events' figures. Visits that cross the cut are cut short: one of three page views
    from ten minutes before it, one of a page view just before and one at the cut, one that
    bounces in the part (or outside it), and one of a page view every 20 minutes from two hours
    before the cut to two hours after it (its first and last page views in the part are more
    than VISIT_GAP from the cut: read from its day's row, not from the events beside the cut)."""
    now = NOW.replace(hour=hour)
    yesterday = NOW - timedelta(days=1)
    start = yesterday.replace(hour=9 if params["period"] == ["today"] else hour + 1)  # where yesterday is cut
    crossing = [(start - timedelta(minutes=10), "/a", "1.1.1.1"), (start + timedelta(minutes=5), "/b", "1.1.1.1"),
                (start + timedelta(minutes=30), "/c", "1.1.1.1"),  # a visit of three, two in the part
                (start - timedelta(seconds=1), "/d", "8.8.4.4"), (start, "/e", "8.8.4.4"),  # one each side
                (start - timedelta(minutes=20), "/f", "9.9.9.9"), (start + timedelta(minutes=1), "/g", "9.9.9.9"),
                *((start + timedelta(minutes=m), f"/long-{m}", "8.8.8.8") for m in range(-120, 121, 20))]
    kero.ingest([view_hit(moment.timestamp(), path, ip=ip) for moment, path, ip in crossing])
    with kero.read() as con:
        while rollups.refresh(con, NOW.date(), budget=math.inf):
            pass
    view = parse_view(params, now.replace(tzinfo=None))
    scope = view.scope()
    cuts: list[list[tuple[bool, rollups.Cut]]] = []
    cut_figures = rollups._cut_figures
    monkeypatch.setattr(rollups, "_cut_figures",
                        lambda scope, found: cuts.append(list(found)) or cut_figures(scope, found))
    with kero.read() as con:
        rolled = rollups.figures(con, scope, view.previous_start)
        raw = queries.figures(con, scope, view.previous_start)
    assert [[(cur, (now.date() - c.day).days, c.start.hour, c.end.hour) for cur, c in found] for found in cuts] == [cut]
    assert [exact(f) for f in rolled] == [exact(f) for f in raw]
    assert raw[1].visitors > 20 and raw[1].visits > raw[1].bounces > 0
    for approximate, right in zip(rolled, raw):
        assert close(approximate.p50_ms, right.p50_ms) and close(approximate.p95_ms, right.p95_ms)


@pytest.mark.parametrize("params", [{"period": ["24h"]}, {"period": ["24h"], "country": ["US"]}])
def test_cards_of_most_of_a_rolled_up_day_are_its_rows_less_the_visitors_it_cuts(
        kero: Kero, params: dict[str, list[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    """Past 24 hours at 03:00 (from 04:00 yesterday: 24 hourly bars) holds 20 hours of yesterday,
    a rolled-up day: its cards, read as the day's rows less what the visitors with an event
    outside those hours add, equal the events' (response times within the histograms' 1%). One
    visitor of 02:00 comes back at 09:00: a page only that visit has is in the cards."""
    yesterday = NOW - timedelta(days=1)
    comeback = [(2, 0, "/pricing"), (9, 0, "/docs"), (9, 5, "/cut-only-after")]  # one visitor in the US
    kero.ingest([view_hit((yesterday.replace(hour=hour) + timedelta(minutes=minute)).timestamp(), path, ip="8.8.8.8")
                 for hour, minute, path in comeback])
    view = parse_view(params, NOW.replace(hour=3, tzinfo=None))
    scope = view.scope()
    cuts: list[rollups.Cut] = []
    cut_cards = rollups._cut_cards
    monkeypatch.setattr(rollups, "_cut_cards", lambda scope, cut, cards: cuts.append(cut) or cut_cards(scope, cut, cards))
    ids = [i for i in PANELS if i in queries.BREAKDOWNS and i != "slowest_routes"]
    with kero.read() as con:
        rolled = rollups.breakdowns(con, scope, ids, 10_000)  # every row
        assert rolled == queries.breakdowns(con, scope, ids, 10_000)
        (total, rows), = rollups.breakdowns(con, scope, ["slowest_routes"], 10_000).values()
        (raw_total, raw_rows), = queries.breakdowns(con, scope, ["slowest_routes"], 10_000).values()
    assert [(cut.day, cut.start.hour, cut.end.hour) for cut in cuts] == [(yesterday.date(), 4, 0)] * 2
    assert rolled["pages"][0] > 20 and rolled["entry_pages"][0] > 5
    assert any(row.key == ("/cut-only-after",) for row in rolled["pages"][1] + rolled["exit_pages"][1])
    assert rolled["custom_events"][0] >= (0 if scope.filters else 2)  # (these hours have none in the US)
    assert total == raw_total > 10
    right = {row.key: row for row in raw_rows}
    for row in rows:  # p95 and mean from the histograms, the count exact
        assert close(row.value, right[row.key].value) and close(row.value2, right[row.key].value2), row
        assert row.value3 == right[row.key].value3


def test_a_period_with_two_days_to_cut_cuts_the_first_and_reads_the_second_from_events(kero: Kero) -> None:
    """Each cut folds with its own day's keys, so one statement cuts one day (no view has two:
    a period's last day is today, or whole); a period from 03:00 one day to 21:00 the next still
    equals the events' cards."""
    first = (NOW - timedelta(days=3)).replace(hour=3, tzinfo=None)
    scope = replace(parse_view({"period": ["7d"]}, NOW.replace(tzinfo=None)).scope(), start=first,
                    end=first + timedelta(hours=42))
    ids = [i for i in PANELS if i in queries.BREAKDOWNS and i != "slowest_routes"]
    with kero.read() as con:
        pieces = rollups._cut(con, scope, rollups.plan(con, scope.start, scope.end), None)[1]
        assert [(cut.day, cut.start.hour, cut.end.hour) for cut in pieces] == [
            (first.date(), 3, 0), (first.date() + timedelta(days=1), 0, 21)]
        assert rollups.breakdowns(con, scope, ids, 10_000) == queries.breakdowns(con, scope, ids, 10_000)
