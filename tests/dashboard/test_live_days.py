"""Today's rollups kept current at ingest (kero_core.live_days): after events arrive out of order,
in many ingests, with visitors spread over them, a view of today read from the live rows answers
exactly what the raw-event queries answer (response times within the rollups' documented 1%);
a card past its keys counts the rest in one exact "(other)" row; midnight hands the day to the
usual roll-up; a failure falls back to reading the events, without losing one."""

from __future__ import annotations

import logging
import random
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import duckdb
import pytest
from _maxminddb_geolite2 import geolite2_database

from kero_core import Kero, goal_queries, live_days, queries, rollups
from kero_core.capture import Hit
from kero_core.dashboard.cards import PANELS
from kero_core.dashboard.view import parse_view
from kero_core.synthetic import generate
from tests.conftest import FakeClock
from tests.dashboard.conftest import open_copy, seed_once
from tests.dashboard.test_rollups import close, exact, far_from_midnight

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc)
MIDNIGHT = NOW.replace(hour=0).timestamp()
CARDS = [i for i in PANELS if i in queries.BREAKDOWNS and i != "slowest_routes"]


def today_in_pieces(hits: list[Hit], pieces: int) -> list[list[Hit]]:
    """Today's hits shuffled (late events, several spool files) and cut into ``pieces``."""
    today = [h for h in hits if h.ts >= MIDNIGHT]
    random.Random(7).shuffle(today)
    size = len(today) // pieces + 1
    return [today[i:i + size] for i in range(0, len(today), size)]


def options() -> dict[str, Any]:
    return {"clock": FakeClock(NOW), "geoip_db": geolite2_database(), "measure_requests": True, "retention": 60}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three days of traffic, today's in 8 ingests of shuffled events (each visitor's events
    spread over several of them); today's live rows are in the database."""
    # Away from midnight: a visit across it counts on both days in the rollups (see test_rollups).
    hits = [h for h in generate(6000, days=3, seed=5, end=NOW.timestamp()) if far_from_midnight(h)]
    pieces = today_in_pieces(hits, 8)
    # The first ingest of today starts it.
    return seed_once(tmp_path_factory, options(), [h for h in hits if h.ts < MIDNIGHT] + pieces[0], *pieces[1:])


@pytest.fixture
def kero(make_kero: Callable[..., Kero], seeded: Path, tmp_path: Path) -> Kero:
    return open_copy(make_kero, seeded, tmp_path, options())


def assert_rollups_answer_like_events(kero: Kero, params: dict[str, list[str]]) -> None:
    view = parse_view(params, NOW.replace(tzinfo=None))
    scope = view.scope()
    with kero.read() as con:
        live = rollups.live_days(con)
        assert list(live) == [NOW.date()]  # else the rollups would read today's events: no test
        assert NOW.date() in rollups.plan(con, scope.start, scope.end, live=live).days
        rolled, raw = rollups.figures(con, scope, view.previous_start), queries.figures(con, scope, view.previous_start)
        assert [exact(f) for f in rolled] == [exact(f) for f in raw] and raw[0].views > 0
        assert close(rolled[0].p50_ms, raw[0].p50_ms) and close(rolled[0].p95_ms, raw[0].p95_ms)
        assert rollups.series(con, scope, view.previous_start) == queries.series(con, scope, view.previous_start)
        assert rollups.breakdowns(con, scope, CARDS, 50) == queries.breakdowns(con, scope, CARDS, 50)
        assert rollups.properties(con, scope, 50) == goal_queries.properties(con, scope, 50)


def test_a_live_day_answers_like_its_events(kero: Kero) -> None:
    for params in ({"period": ["today"]}, {"period": ["today"], "country": ["US"]},
                   {"period": ["today"], "name": ["signup"]}, {"period": ["7d"]}):
        assert_rollups_answer_like_events(kero, params)


def test_later_ingests_keep_the_live_rows_equal_to_the_events(kero: Kero) -> None:
    """More of today's events after the views were read: the rows follow (new keys among them)."""
    more = today_in_pieces(list(generate(900, days=1, seed=11, end=NOW.timestamp())), 3)
    with kero.read() as con:
        before = con.execute("SELECT count(*) FROM day_cards_all WHERE day = ?", [NOW.date()]).fetchone()[0]
    for piece in more:
        kero.ingest(piece)
    with kero.read() as con:
        assert con.execute("SELECT count(*) FROM day_cards_all WHERE day = ?", [NOW.date()]).fetchone()[0] > before
    assert_rollups_answer_like_events(kero, {"period": ["today"]})


def test_a_card_past_its_keys_counts_the_rest_in_one_exact_row(make_kero: Callable[..., Kero],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live_days, "CARD_KEYS", 12)
    kero = make_kero(clock=FakeClock(NOW), measure_requests=True)
    hits = list(generate(4000, days=1, seed=3, end=NOW.timestamp()))
    pieces = today_in_pieces(hits, 6)
    kero.ingest(pieces[0])
    scope = parse_view({"period": ["today"]}, NOW.replace(tzinfo=None)).scope()
    with kero.read() as con:
        first = {row.key for row in rollups.breakdowns(con, scope, ["pages"], 1000)["pages"][1]}
    for piece in pieces[1:]:
        kero.ingest(piece)
    with kero.read() as con:
        assert NOW.date() in rollups.live_days(con)
        total, rows = rollups.breakdowns(con, scope, ["pages"], 1000)["pages"]
        _, raw_rows = queries.breakdowns(con, scope, ["pages"], 10_000)["pages"]
    raw = {row.key: row for row in raw_rows}
    kept = [row for row in rows if row.key[0] != queries.OTHER]
    assert len(raw) > 12 and len(kept) <= 12 and total == len(rows)
    assert {row.key for row in kept} <= first  # the first keys seen stay the card's keys
    for row in kept:  # exact: visitors and views
        assert (row.value, row.value2) == (raw[row.key].value, raw[row.key].value2), row.key
    other, = (row for row in rows if row.key[0] == queries.OTHER)
    assert other.value2 == sum(r.value2 for r in raw_rows) - sum(r.value2 for r in kept)  # views add up


def test_midnight_hands_the_live_day_to_the_roll_up(kero: Kero) -> None:
    clock = kero.store.clock
    assert isinstance(clock, FakeClock)
    clock.advance(timedelta(hours=10).total_seconds())  # 01:00 the next day
    kero.ingest(list(generate(50, days=1 / 24, seed=9, end=clock())))  # the new day starts, yesterday is rolled up
    tomorrow = (NOW + timedelta(days=1)).date()
    view = parse_view({"from": [NOW.date().isoformat()], "to": [NOW.date().isoformat()]}, datetime.fromtimestamp(clock()))
    scope = view.scope()
    with kero.read() as con:
        assert list(rollups.live_days(con)) == [tomorrow]
        assert con.execute("SELECT rolled FROM rollup_days WHERE day = ?", [NOW.date()]).fetchone() == (True,)
        assert rollups.plan(con, scope.start, scope.end).days == [NOW.date()]
        assert [exact(f) for f in rollups.figures(con, scope, view.previous_start)] == \
            [exact(f) for f in queries.figures(con, scope, view.previous_start)]
        assert rollups.breakdowns(con, scope, CARDS, 50) == queries.breakdowns(con, scope, CARDS, 50)


def test_a_failed_update_reads_the_events_and_loses_none(kero: Kero, caplog: pytest.LogCaptureFixture,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           make_kero: Callable[..., Kero]) -> None:
    """An update that fails (an injected fault, half-way through the live rows): the ingest
    stores its events all the same, and today is read from its events from then on."""
    merged = []

    def failing_merge(con: duckdb.DuckDBPyConnection, table: str, day: date, seen: bool) -> None:
        if merged:
            raise duckdb.IOException("injected fault")
        merged.append(table)
        real_merge(con, table, day, seen)

    real_merge = live_days._merge
    monkeypatch.setattr(live_days, "_merge", failing_merge)
    with kero.read() as con:
        stored = con.execute("SELECT count(*) FROM events").fetchone()[0]
    more = today_in_pieces(list(generate(300, days=1, seed=5, end=NOW.timestamp())), 1)[0]  # visitors seen today
    with caplog.at_level(logging.ERROR, logger="kero"):
        kero.ingest(more)
    assert "could not keep today's rollups current" in caplog.text and "injected fault" in caplog.text
    assert kero.store.keeps_live_days is False
    view = parse_view({"period": ["today"]}, NOW.replace(tzinfo=None))
    with kero.read() as con:
        assert con.execute("SELECT count(*) FROM events").fetchone()[0] == stored + len(more)
        assert rollups.live_days(con) == {}
        assert [exact(f) for f in rollups.figures(con, view.scope(), view.previous_start)] == \
            [exact(f) for f in queries.figures(con, view.scope(), view.previous_start)]
    # Another process starts today again; the next ingest of this one, which keeps no live day
    # any more, ends it (its rows would miss this ingest's events).
    other = make_kero(clock=FakeClock(NOW), db_path=kero.config.db_path)
    other.ingest(more[:10])
    with kero.read() as con:
        assert list(rollups.live_days(con)) == [NOW.date()]
    kero.ingest(more[10:20])
    with kero.read() as con:
        assert rollups.live_days(con) == {}


def test_a_view_filtered_by_a_goal_reads_a_live_day_from_its_events(make_kero: Callable[..., Kero]) -> None:
    kero = make_kero(clock=FakeClock(NOW), goals=["signup"])
    hits = list(generate(3000, days=2, seed=5, end=NOW.timestamp()))
    kero.ingest(hits)
    view = parse_view({"period": ["today"], "goal": ["signup"]}, NOW.replace(tzinfo=None), goals=kero.config.goals)
    scope = view.scope()
    with kero.read() as con:
        assert NOW.date() in rollups.live_days(con)
        assert rollups.plan(con, scope.start, scope.end, live=rollups.live_days(con)).days == [NOW.date()]
        assert rollups.figures(con, scope, view.previous_start) == queries.figures(con, scope, view.previous_start)
        assert rollups.breakdowns(con, scope, CARDS, 50) == queries.breakdowns(con, scope, CARDS, 50)


def test_a_tracked_other_value_is_a_key_not_the_folded_row(make_kero: Callable[..., Kero],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A visitor who sends ``utm_source=(other)`` gets a key of its own: it does not pass for the
    folded row, which would stop the live card from taking new keys for the rest of the day."""
    monkeypatch.setattr(live_days, "CARD_KEYS", 12)
    kero = make_kero(clock=FakeClock(NOW), measure_requests=True)

    def visit(source: str, n: int) -> Hit:
        return Hit(NOW.timestamp() - 600 + n, "http_req", "GET", "/", f"utm_source={source}", "", 200, 5.0,
                   f"203.0.113.{n}", "", "", "", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
                   "", "", "")

    kero.ingest([visit("(other)", 1), visit("news", 2)])
    kero.ingest([visit(f"campaign-{n}", n) for n in range(3, 9)])
    scope = parse_view({"period": ["today"]}, NOW.replace(tzinfo=None)).scope()
    with kero.read() as con:
        assert NOW.date() in rollups.live_days(con)
        found = rollups.breakdowns(con, scope, ["utm_sources"], 100)["utm_sources"]
        assert found == queries.breakdowns(con, scope, ["utm_sources"], 100)["utm_sources"]
    keys = {row.key[0] for row in found[1]}
    assert keys == {"(other)", "news", *(f"campaign-{n}" for n in range(3, 9))} and queries.OTHER not in keys


def test_hourly_charts_read_whole_hours_from_the_rows_and_the_cut_hours_from_events(kero: Kero) -> None:
    """At 15:37:20 the hourly charts (Today, Past 24 hours, one past day, one country) read
    yesterday's rolled-up hours and today's live ones from day_hours, the cut hour at the start
    from the events, and answer exactly what the events answer. The live hour 15:00 is read
    from its row while it holds no event from the period's end on; after that, from the events."""
    clock = kero.store.clock
    assert isinstance(clock, FakeClock)
    clock.advance(37 * 60 + 20)
    kero.ingest(list(generate(300, days=1 / 48, seed=12, end=clock())))  # 15:07 to 15:37
    now = datetime.fromtimestamp(clock(), timezone.utc).replace(tzinfo=None)
    yesterday = (NOW - timedelta(days=1)).date().isoformat()
    with kero.read() as con:
        for params in ({"period": ["today"]}, {"period": ["24h"]}, {"period": ["24h"], "country": ["US"]},
                       {"from": [yesterday], "to": [yesterday]}):
            view = parse_view(params, now)
            scope = view.scope()
            unit, buckets = rollups.series(con, scope, view.previous_start)
            assert unit == "hour" and (unit, buckets) == queries.series(con, scope, view.previous_start), params
            assert sum(b.views for b in buckets) > 0
        rolled, live = rollups.rolled_days(con), rollups.live_days(con)
        hours, raw = rollups.hour_plan(now - timedelta(hours=24), now, rolled, live)
        newest = live[NOW.date()]
        # Ending at the newest event: the live hour is not all before the end.
        earlier = rollups.hour_plan(newest - timedelta(hours=24), newest, rolled, live)
    yesterday_16 = datetime.combine(NOW.date() - timedelta(days=1), datetime.min.time()) + timedelta(hours=16)
    assert hours == [(NOW.date() - timedelta(days=1), 16, 24), (NOW.date(), 0, 16)]
    assert raw == [(now - timedelta(hours=24), yesterday_16)]
    assert newest.hour == 15 and earlier[0][1] == (NOW.date(), 0, 15)
    assert earlier[1][-1] == (now.replace(minute=0, second=0), newest)


def test_a_folding_day_keeps_the_keys_a_visit_leaves_behind(make_kero: Callable[..., Kero],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """On a day whose cards fold, an update counts its batch with the day's kept keys: those of
    its visitors' events before the batch too. A visit that goes on leaves its old exit page,
    a key the batch's own events do not have as an exit page: it must still be kept, not
    folded (the day's rows would lose a visit from "(other)", which they never held)."""
    monkeypatch.setattr(live_days, "CARD_KEYS", 12)
    kero = make_kero(clock=FakeClock(NOW), measure_requests=True)
    start = NOW.timestamp() - 3600

    def view(path: str, visitor: int, minute: int) -> Hit:
        return Hit(start + 60 * minute, "http_req", "GET", path, "", "", 200, 5.0, f"203.0.113.{visitor}", "", "", "",
                   "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "", "", "")

    # /a, the most visited page, is visitor 1's exit page; twenty one-page visits make every
    # page card fold (12 keys kept, the rest in the folded row).
    kero.ingest([view("/a", v, 0) for v in (1, 2, 3)] + [view(f"/p{v}", v, 1) for v in range(10, 30)])
    kero.ingest([view("/b", 1, 5)])  # visitor 1's visit goes on: its exit page is now /b
    scope = parse_view({"period": ["today"]}, NOW.replace(tzinfo=None)).scope()
    with kero.read() as con:
        assert NOW.date() in rollups.live_days(con)  # the update did not fail
        rows = rollups.breakdowns(con, scope, ["exit_pages"], 100)["exit_pages"][1]
        raw = {row.key: row for row in queries.breakdowns(con, scope, ["exit_pages"], 100)["exit_pages"][1]}
    assert any(row.key[0] == queries.OTHER for row in rows)  # the card folds
    exits = {row.key[0]: row.value for row in rows if row.key[0] != queries.OTHER}
    assert exits["/a"] == 2 == raw[("/a",)].value  # visitors 2 and 3 left from /a, visitor 1 no longer does


def assert_live_rows_equal_a_roll_up(kero: Kero) -> None:
    """Every view table's rows of today are those a roll-up of the day's events makes (no card folds)."""
    day = NOW.date()
    with kero.read() as con:
        assert day in rollups.live_days(con)  # the updates did not fail
        for table in rollups.VIEW_TABLES:
            con.execute(f"CREATE OR REPLACE TEMP TABLE fresh_{table} AS SELECT * FROM {table} LIMIT 0")
        rollups.roll_events(con, day, rollups.Into(rows="fresh", keys=live_days.CARD_KEYS))
        with_rows = set()
        for table in rollups.VIEW_TABLES:
            live = con.execute(f"SELECT * FROM {table} WHERE day = ?", [day]).fetchall()
            fresh = con.execute(f"SELECT * FROM fresh_{table}").fetchall()
            assert sorted(live, key=repr) == sorted(fresh, key=repr), table
            with_rows.update([table] if fresh else [])
    assert {"day_figures", "day_lengths", "day_cards", "day_cards_all", "day_hours"} <= with_rows  # not empty


FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def at(minute: float, path: str, visitor: int = 1, *, name: str = "http_req", agent: str = FIREFOX,
       referrer: str = "", labels: dict[str, str] | None = None) -> Hit:
    """A hit ``minute`` minutes after 05:00 today (NOW is 15:00)."""
    ts = NOW.timestamp() - 10 * 3600 + 60 * minute
    return Hit(ts, name, "GET", path, "", "", 200, 5.0 + minute % 7, f"203.0.113.{visitor}", "", "", "", agent,
               "", "", referrer, labels)


def test_an_update_samples_a_heavy_visitors_day_and_stays_exact(make_kero: Callable[..., Kero]) -> None:
    """An update reads a sample of its visitors' earlier events (live_days.SAMPLE): later
    events extending a visit, landing inside one, before one (a new entry page), joining two
    visits, starting new ones, repeating the same page view, all leave every table's rows equal
    to a roll-up of the day's events."""
    kero = make_kero(clock=FakeClock(NOW), measure_requests=True)
    paths = ["/a", "/b", "/c"]
    kero.ingest(
        [at(m, paths[m % 3], referrer="https://news.example/x" if m == 0 else "") for m in range(0, 101, 2)]
        + [at(30, "/a", name="signup", labels={"plan": "pro"}), at(30, "/a", name="signup", labels={"plan": "free"})]
        + [at(40, "/b")] * 3  # the same second, the same page view
        + [at(7, "/once")]  # amid a quarter of an hour: only its page keeps it in the sample
        + [at(140, "/d"), at(145, "/e"), at(200, "/f")]  # a visit, then a bounce 55 minutes later
        + [at(m, "/g" if m % 2 else "/a") for m in range(300, 421, 3)]  # its first page view is not its page's first
        + [at(m, "/", visitor=9, agent=GOOGLEBOT) for m in range(0, 300, 10)]
        + [at(10, "/a", visitor=2), at(20, "/h", visitor=2)])
    assert_live_rows_equal_a_roll_up(kero)
    kero.ingest([at(423, "/h"),  # the last visit goes on, to a new exit page
                 at(50.5, "/z"),  # inside the first visit: a new page, nothing else
                 at(172, "/b"),  # 27 minutes after 145, 28 before 200: one visit of the two
                 at(-20, "/y", referrer="https://other.example/"),  # the first visit's new entry
                 at(600, "/a"), at(150, "/", visitor=9, agent=GOOGLEBOT)])
    assert_live_rows_equal_a_roll_up(kero)
    kero.ingest([at(424, "/a")] * 2 + [at(430, "/once"), at(31, "/a", name="signup", labels={"plan": "pro"}),
                                       at(25, "/h", visitor=2)])
    assert_live_rows_equal_a_roll_up(kero)


@pytest.mark.parametrize("seed", range(3))
def test_random_batches_of_few_visitors_keep_the_rows_exact(make_kero: Callable[..., Kero], seed: int) -> None:
    """Few visitors, many events each at random times of the day (visits that meet, split,
    repeat; page views of the same second), ingested in random batches: after each, the rows
    are a roll-up of the events. Seed 1 measures no response times: their tables are not merged."""
    rng = random.Random(seed)
    kero = make_kero(clock=FakeClock(NOW), measure_requests=seed != 1)
    hits = [at(rng.choice([rng.uniform(0, 600), rng.randrange(0, 600, 20)]), rng.choice(["/a", "/b", "/c", "/d"]),
               visitor=rng.choice([1, 2, 3]), name=rng.choice(["http_req"] * 5 + ["signup"]),
               referrer=rng.choice([""] * 4 + ["https://news.example/x"]),
               labels=rng.choice([None, {"plan": "pro"}])) for _ in range(400)]
    cuts = sorted(rng.sample(range(1, len(hits)), 5))
    for start, end in zip([0, *cuts], [*cuts, len(hits)]):
        kero.ingest(hits[start:end])
        assert_live_rows_equal_a_roll_up(kero)


def test_a_visitor_of_thousands_of_events_is_sampled_in_a_few(make_kero: Callable[..., Kero]) -> None:
    """2,000 page views of one page in 50 minutes (a monitor): per quarter of an hour its first
    and last one, and one of the page (its first, kept already): 8, whatever their number."""
    kero = make_kero(clock=FakeClock(NOW))
    kero.ingest([at(m / 40, "/health") for m in range(2000)])  # 05:00 to 05:50
    with kero.read() as con:
        stored, sampled = con.execute(f"SELECT count(*), (SELECT count(*) FROM (WITH mine AS (SELECT *, rowid AS "
                                      f"kero_row FROM events) {live_days.SAMPLE})) FROM events").fetchone()
    assert (stored, sampled) == (2000, 8)  # four quarters with events, the page's first event one of them
