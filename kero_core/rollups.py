"""Per-day rollups: what the dashboard needs of each completed day, kept small and exact, so a
month's view reads a few thousand rollup rows instead of millions of events.

Visitor ids rotate daily, so distinct visitors of different days add up, and so do visits. The
one exception is deliberate: a visit in progress at midnight keeps its id for up to 30 minutes
(enrich.VisitorIds), and the rollups count such a visitor, and its visit, on both days, as the
dashboard's definition says ("a person on two days counts twice"); tests/dashboard/test_rollups.py
shows rollups and raw queries otherwise agree exactly. Each day is stored per (event name, bot or not, country):
a view of one event name, of humans only, or filtered by one country, sums the matching rows;
the cards are also kept summed over countries (day_cards_all), which unfiltered views read.
Quantiles do not add up: visit lengths are kept as (length, visits) pairs, response times as
histograms (p50 and p95 within 1%, see STEP), and so are those of each route (day_routes, and
day_routes_all summed over countries). Goals and funnels are options, so their days are
rolled up for the ones the site defines (day_goals, day_funnels, see Conversions), and so is,
per goal, everything a view filtered by it (``?goal=``) shows: the same rollups over the events
of the goal's converting visitors of the day (the day_goal_* tables, see GOAL_TABLES).

A day is rolled up once it is over (``rollup_days.rolled``); anything ingested into a past day
later (an import, a late spool file) marks that day for another roll-up. Views read whole
rolled-up days from here and the rest of their period (today, a cut first day, days not rolled
up yet) from the events, and add them up. Views with other filters read the events only. The
last two days also keep their visits (day_visits, see VISIT_DAYS), which the key figures of a
period that cuts one of them read (see :class:`Cut`)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Collection, Mapping, Sequence

import duckdb

from kero_core import goal_queries, queries
from kero_core.capture import PAGE_VIEW
from kero_core.goal_queries import FunnelStep, GoalCounts
from kero_core.goals import Funnel, Step
from kero_core.queries import BreakdownRow, Bucket, Figures, Scope

GROUP = ("name", "is_bot", "country")
VIEW_TABLES = ("day_figures", "day_lengths", "day_cards", "day_cards_all", "day_durations", "day_routes",
               "day_routes_all", "day_properties", "day_hours")  # what a view reads, rolled up again per goal below
# Each view table's twin for the views filtered by a goal: its columns, and the goal after the day.
GOAL_TABLES = {table: table.replace("day_", "day_goal_", 1) for table in VIEW_TABLES}
TABLES = (*VIEW_TABLES, "day_goals", "day_funnels", *GOAL_TABLES.values(), "day_goal_goals", "day_visits")
# Response times are kept as per-day histograms of buckets (STEP^(b-1), STEP^b] ms, read as their
# geometric middle: a p50 or p95 from them is within STEP^0.5 - 1 (under 1%) of the exact one.
STEP = 1.02
BUCKET = f"CASE WHEN duration_ms > 0 THEN ceil(ln(duration_ms) / ln({STEP}))::INTEGER END"  # NULL: 0 ms
# What a route's response times are kept by (the slowest routes' key, see kero_core.queries).
ROUTE_GROUP = f"name, is_bot, country, {queries.ROUTE_LABEL}, method, route <> ''"
# Keys a card keeps per day (per event name, bots or humans): the rest of a day's keys (a flood of
# unique paths, referrers, campaigns) fold into one queries.OTHER row with their exact sums, so
# neither the rollups nor a view of them grow with the number of distinct values.
CARD_KEYS = 1000
KEPT = "kero_kept_keys"  # the temporary table of the keys a day keeps, while it is rolled up
CONVERTING = "kero_converting_events"  # the temporary table of a goal's converters' events of the day
ROLL_UP_BUDGET = 1.0  # seconds one session spends rolling up days at most: others wait meanwhile
# A finished day's visits (day_visits) are kept while it is one of this many days before today:
# the days Today's comparison (yesterday) and Past 24 hours' (yesterday, the day before) cut.
# All 30 days' visits grew a file of 10M events by 12 bytes an event; a cut of an older day reads
# its events.
VISIT_DAYS = 2
DAY = timedelta(days=1)


def create(con: duckdb.DuckDBPyConnection) -> None:
    """The rollup tables (schema version 2); every day already stored is to be rolled up."""
    group = "day DATE NOT NULL, name VARCHAR, is_bot BOOLEAN, country VARCHAR"
    con.execute("CREATE TABLE rollup_days (day DATE PRIMARY KEY, rolled BOOLEAN NOT NULL)")
    con.execute(f"CREATE TABLE day_figures ({group}, visitors UBIGINT, views UBIGINT, errors UBIGINT)")
    con.execute(f"CREATE TABLE day_lengths ({group}, seconds DOUBLE, visits UBIGINT, bounces UBIGINT)")
    con.execute(f"CREATE TABLE day_cards ({group}, card VARCHAR, k VARCHAR, v1 UBIGINT, v2 UBIGINT)")
    con.execute("INSERT INTO rollup_days SELECT DISTINCT ts::DATE, false FROM events")


def create_v3(con: duckdb.DuckDBPyConnection) -> None:
    """Schema version 3: day_cards summed over countries, what every unfiltered view reads.
    Grouped by country, the cards hold about five times as many rows (each page a visitor of
    each country saw), and summing them at every render was most of a month's render time."""
    con.execute("CREATE TABLE day_cards_all (day DATE NOT NULL, name VARCHAR, is_bot BOOLEAN, "
                "card VARCHAR, k VARCHAR, v1 UBIGINT, v2 UBIGINT)")
    _sum_countries(con, EVERY_EVENT, queries.Where("TRUE", []))


def create_v4(con: duckdb.DuckDBPyConnection) -> None:
    """Schema version 4: per-day histograms of response times, so p50 and p95 of a month no
    longer read every event of it; the days already rolled up get theirs from their events."""
    con.execute("CREATE TABLE day_durations (day DATE NOT NULL, name VARCHAR, is_bot BOOLEAN, country VARCHAR, "
                "bucket INTEGER, n UBIGINT)")
    con.execute(f"""INSERT INTO day_durations SELECT ts::DATE, {', '.join(GROUP)}, {BUCKET}, count(*) FROM events
                    WHERE duration_ms IS NOT NULL AND ts::DATE IN (SELECT day FROM rollup_days WHERE rolled)
                    GROUP BY ALL""")


def create_v5(con: duckdb.DuckDBPyConnection) -> None:
    """Schema version 5: per-day histograms of response times per route (the slowest routes of
    a month read every event of it before), and every day rolled up again: visit lengths are now
    whole seconds (exact ones made a month of day_lengths 1.7M rows at 10M events, and summing
    them was most of the key figures' time) and 404s without a route one route (they made the
    routes 90% of a month's card rows). Until a day is rolled up again, views read its events."""
    route = "label VARCHAR, method VARCHAR, routed BOOLEAN, bucket INTEGER, n UBIGINT"
    con.execute(f"CREATE TABLE day_routes (day DATE NOT NULL, name VARCHAR, is_bot BOOLEAN, country VARCHAR, {route})")
    con.execute(f"CREATE TABLE day_routes_all (day DATE NOT NULL, name VARCHAR, is_bot BOOLEAN, {route})")
    con.execute("UPDATE rollup_days SET rolled = false")


def create_v8(con: duckdb.DuckDBPyConnection) -> None:
    """Schema version 8: per-day properties of custom events (the Properties card read every
    custom event of a month at each render); the days already rolled up get theirs now."""
    con.execute("CREATE TABLE day_properties (day DATE NOT NULL, name VARCHAR, is_bot BOOLEAN, country VARCHAR, "
                "k VARCHAR, events UBIGINT, visitors UBIGINT)")
    fill_properties(con)


def fill_properties(con: duckdb.DuckDBPyConnection) -> None:
    """day_properties of the days already rolled up (a store made before they were kept)."""
    _insert_properties(con, EVERY_EVENT, queries.Where("ts::DATE IN (SELECT day FROM rollup_days WHERE rolled)", []))


def _insert_properties(con: duckdb.DuckDBPyConnection, into: "Into", within: queries.Where) -> None:
    """The day_properties rows (or ``into``'s twin's) of ``into``'s events ``within``."""
    group = ", ".join(GROUP)
    goal, params = ("", within.params) if into.goal is None else (", ?::VARCHAR AS goal", [into.goal, *within.params])
    ctes, _ = goal_queries.property_sql(
        f"(SELECT ts::DATE AS day{goal}, {group}, visitor_id, labels FROM {into.source} WHERE {within.sql})")
    con.execute(f"""INSERT INTO {into.table('day_properties')} WITH {', '.join(ctes)}
                    SELECT {into.key}, {group}, {goal_queries.PROPERTY_KEY}, count(*), {queries.METRICS['visitors']}
                    FROM kv GROUP BY ALL""", params)


def create_v9(con: duckdb.DuckDBPyConnection) -> None:
    """Schema version 9: per-day counts of the site's goals and funnels (see Conversions); the
    days rolled up before get theirs at their next roll-up, which the missing rows bring about."""
    con.execute("CREATE TABLE day_goals (day DATE NOT NULL, goal VARCHAR, visitors UBIGINT, conversions UBIGINT)")
    con.execute("CREATE TABLE day_funnels (day DATE NOT NULL, funnel VARCHAR, step INTEGER, visitors UBIGINT)")


def create_v10(con: duckdb.DuckDBPyConnection) -> None:
    """Schema version 10: per goal, the rollups of its converting visitors' events (a view
    filtered by a goal read all of them from a month's events at each render), and of the
    other goals among them (day_goal_goals: per the converters' country, for a goal ``counted``).
    The days rolled up before lose their day_goals rows, so their next roll-up adds the rest."""
    for table in VIEW_TABLES:
        if table != "day_hours":  # it came with schema 12
            _create_twin(con, table)
    con.execute("CREATE TABLE day_goal_goals (day DATE NOT NULL, goal VARCHAR, country VARCHAR, counted VARCHAR, "
                "visitors UBIGINT, conversions UBIGINT)")
    con.execute("DELETE FROM day_goals")


def _create_twin(con: duckdb.DuckDBPyConnection, table: str) -> None:
    con.execute(f"CREATE TABLE {GOAL_TABLES[table]} AS SELECT day, ''::VARCHAR AS goal, * EXCLUDE (day) FROM {table} LIMIT 0")


def create_v12(con: duckdb.DuckDBPyConnection) -> None:
    """Schema version 12: per-hour visitors and page views (day_hours, and its goal twin): the
    hourly chart of Today and of Past 24 hours read the events of two days at each render; the
    days already rolled up get theirs now. And the folded row's key is queries.OTHER, which no
    tracked value can spell (it was the text "(other)", which a visitor could send): the stored
    folded rows take it (a tracked "(other)" stored before cannot be told from them)."""
    con.execute("CREATE TABLE day_hours (day DATE NOT NULL, name VARCHAR, is_bot BOOLEAN, country VARCHAR, "
                "hour TINYINT, visitors UBIGINT, views UBIGINT)")
    _create_twin(con, "day_hours")
    fill_hours(con, live_days(con))
    rename_folded_rows(con)


def fill_hours(con: duckdb.DuckDBPyConnection, live: Collection[date] = ()) -> None:
    """day_hours of the days already rolled up, and of the ``live`` ones (a store made before
    they were kept)."""
    con.execute(f"""INSERT INTO day_hours SELECT ts::DATE, {', '.join(GROUP)}, hour(ts), {queries.METRICS['visitors']},
                    count(*) FROM events WHERE ts::DATE IN (SELECT day FROM rollup_days WHERE rolled)
                                            OR list_contains(?::DATE[], ts::DATE) GROUP BY ALL""", [list(live)])


def create_v13(con: duckdb.DuckDBPyConnection) -> None:
    """Schema version 13: the visits of the last rolled-up days (day_visits: one row per visit,
    see VISIT_DAYS), so that a view whose period cuts such a day (Today compares with yesterday
    from the time of day it is now, see :class:`Cut`) reads the part's visits from them instead
    of finding the visits among the day's events; the last days rolled up get theirs now."""
    con.execute("CREATE TABLE day_visits (day DATE NOT NULL, name VARCHAR, is_bot BOOLEAN, country VARCHAR, "
                "visitor_id UBIGINT, start TIMESTAMP, stop TIMESTAMP, bounce BOOLEAN)")
    fill_visits(con)


def fill_visits(con: duckdb.DuckDBPyConnection) -> None:
    """day_visits of the VISIT_DAYS newest rolled-up days whose events are kept (a store made
    before they were), one day a statement."""
    kept_from = events_kept_from(con)
    days = [r[0] for r in con.execute("""SELECT day FROM rollup_days WHERE rolled AND (?::DATE IS NULL OR day >= ?)
                                         ORDER BY day DESC LIMIT ?""", [kept_from, kept_from, VISIT_DAYS]).fetchall()]
    for day in days:
        _insert_visits(con, day)


def rename_folded_rows(con: duckdb.DuckDBPyConnection) -> None:
    """The folded rows stored before schema 12 take their key queries.OTHER (see create_v12)."""
    for table, column in (("day_cards", "k"), ("day_cards_all", "k"), ("day_routes", "label"),
                          ("day_routes_all", "label")):
        for name in (table, GOAL_TABLES[table]):
            con.execute(f"UPDATE {name} SET {column} = ? WHERE {column} = '(other)'", [queries.OTHER])


def _sum_countries(con: duckdb.DuckDBPyConnection, into: "Into", condition: queries.Where) -> None:
    """day_cards_all from day_cards where ``condition`` holds (or ``into``'s twins). Exact: a
    visitor id hashes the IP, so each visitor has one country a day and visitor counts add up
    over countries."""
    con.execute(f"""INSERT INTO {into.table('day_cards_all')} SELECT {into.key}, name, is_bot, card, k, sum(v1), sum(v2)
                    FROM {into.table('day_cards')} WHERE {condition.sql} GROUP BY ALL""", condition.params)


@dataclass(frozen=True)
class Into:
    """What one pass of a day's roll-up reads and where it writes: every event of the day into
    the view tables, or (with ``goal``) the events of the goal's converting visitors of the day,
    copied into ``source``, into the goal's twins of them (GOAL_TABLES)."""

    source: str = "events"
    goal: str | None = None
    rows: str | None = None  # write into the temporary tables named ``{rows}_{table}`` instead
    keys: int = CARD_KEYS  # a card keeps its this many first keys, the others folded (see _keep_top_keys)
    kept: str | None = None  # or: the table of the keys each card keeps (live days, see kero_core.live_days)
    visits: bool = False  # keep the day's visits (day_visits): a roll-up of one of the last VISIT_DAYS does

    def table(self, name: str) -> str:
        if self.rows is not None:
            return f"{self.rows}_{name}"
        return name if self.goal is None else GOAL_TABLES[name]

    @property
    def key(self) -> str:
        """The leading columns of its rows."""
        return "day" if self.goal is None else "day, goal"

    def values(self, day: date) -> tuple[str, list[Any]]:
        """The leading columns' values for ``day``: placeholders and parameters."""
        return ("?", [day]) if self.goal is None else ("?, ?", [day, self.goal])

    def of_day(self, day: date) -> queries.Where:
        """Its rows of ``day``."""
        return queries.Where("day = ?", [day]) if self.goal is None else queries.Where("day = ? AND goal = ?", [day, self.goal])


EVERY_EVENT = Into()


@dataclass(frozen=True)
class Conversions:
    """The goals and funnels a site defines (options, so they change between runs). Each rolled-up
    day holds one day_goals row per goal and one day_funnels row per funnel step, for human page
    views of any country (the Goals card and the funnel without filters, what most views show),
    keyed by the goal's text or the funnel's steps (its name does not change what it counts). A
    day lacking the rows of a goal or funnel defined now is rolled up again; until then views read
    that goal or funnel from the events. A funnel's visits are cut at midnight, and its visitors,
    like the goals', add up over days: a visitor id is one day's."""

    goals: tuple[Step, ...] = ()
    funnels: tuple[Funnel, ...] = ()


def funnel_key(funnel: Funnel) -> str:
    """What identifies a funnel's rows: its steps (no step holds a control character)."""
    return "\x1f".join(step.text for step in funnel.steps)


def _complete(conversions: Conversions) -> tuple[str, list[Any]]:
    """A condition on ``day``: it has the rows of every goal and funnel of ``conversions``."""
    clauses, params = [], []
    for table, column, keys in (("day_goals", "goal", [g.text for g in conversions.goals]),
                                ("day_funnels", "funnel", [funnel_key(f) for f in conversions.funnels])):
        if keys:
            clauses.append(f"""day IN (SELECT day FROM {table} WHERE list_contains(?, {column})
                                       GROUP BY day HAVING count(DISTINCT {column}) = ?)""")
            params += [keys, len(keys)]
    return " AND ".join(clauses) or "TRUE", params


# -- maintenance (inside a store session) -------------------------------------------------------------
RAW_KEPT_FROM = "raw_kept_from"  # meta key: the day from which events are kept (raw_retention)


def events_kept_from(con: duckdb.DuckDBPyConnection) -> date | None:
    """The day before which rolled-up days have lost their events to the raw_retention option
    (recorded by :func:`prune`, so every process sees it, whatever its own options), if any:
    their rollups are final."""
    row = con.execute("SELECT value FROM meta WHERE key = ?", [RAW_KEPT_FROM]).fetchone()
    return date.fromisoformat(row[0]) if row else None


LIVE = "live_days"  # meta key: the days whose rollups are kept current at ingest (kero_core.live_days)


def live_days(con: duckdb.DuckDBPyConnection) -> dict[date, datetime]:
    """The days whose rollup rows are kept current at ingest (see :mod:`kero_core.live_days`),
    each with the newest event time its rows hold: they answer a period that covers the day
    from its midnight to after that time (Today does)."""
    row = con.execute("SELECT value FROM meta WHERE key = ?", [LIVE]).fetchone()
    return {date.fromisoformat(day): datetime.fromisoformat(until) for day, until in json.loads(row[0]).items()} \
        if row else {}


def save_live_days(con: duckdb.DuckDBPyConnection, days: dict[date, datetime]) -> None:
    """Record ``days`` as the live days (inside the caller's transaction)."""
    if days:
        value = json.dumps({day.isoformat(): until.isoformat() for day, until in sorted(days.items())})
        con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [LIVE, value])
    else:
        con.execute("DELETE FROM meta WHERE key = ?", [LIVE])


def mark_files(con: duckdb.DuckDBPyConnection, files: Sequence[Path]) -> None:
    """The days of events being ingested from ``files`` need a (new) roll-up, except the days
    whose rollups are final (a late event there is deleted by the next prune)."""
    final = events_kept_from(con)
    con.execute("""INSERT OR REPLACE INTO rollup_days SELECT DISTINCT ts::DATE, false FROM read_parquet(?)
                   WHERE ?::DATE IS NULL OR ts::DATE >= ? OR ts::DATE NOT IN (SELECT day FROM rollup_days WHERE rolled)""",
                [[str(f) for f in files], final, final])


def prune(con: duckdb.DuckDBPyConnection, cutoff: datetime, today: date, raw_from: date | None = None) -> int:
    """Rollups follow the retention: days before ``cutoff`` go, and its own day is redone from
    what is left of it; so do the visits of the days VISIT_DAYS before ``today``. With
    ``raw_from`` (the raw_retention option, at least VISIT_DAYS), the events of rolled-up days
    before that day go too (returns how many): those days' rollups are then final, and are kept
    by whole days."""
    for table in (*TABLES, "rollup_days"):
        con.execute(f"DELETE FROM {table} WHERE day < ?", [cutoff.date()])
    prune_visits(con, today)
    live = live_days(con)
    if any(day <= cutoff.date() for day in live):  # its rows would count the events deleted
        save_live_days(con, {day: until for day, until in live.items() if day > cutoff.date()})
    if raw_from is None:
        con.execute("UPDATE rollup_days SET rolled = false WHERE day = ?", [cutoff.date()])
        return 0
    start = datetime.combine(raw_from, datetime.min.time())
    removed = con.execute("DELETE FROM events WHERE ts < ? AND ts::DATE IN (SELECT day FROM rollup_days WHERE rolled)",
                          [start]).fetchone()[0]
    final = events_kept_from(con)
    con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [RAW_KEPT_FROM, max(raw_from, final or raw_from).isoformat()])
    return int(removed)


def prune_visits(con: duckdb.DuckDBPyConnection, today: date) -> None:
    """Delete the visits of the days more than VISIT_DAYS before ``today``."""
    con.execute("DELETE FROM day_visits WHERE day < ?", [today - VISIT_DAYS * DAY])


def refresh(con: duckdb.DuckDBPyConnection, today: date, budget: float = ROLL_UP_BUDGET,
            roll: Callable[[duckdb.DuckDBPyConnection, date, Conversions, bool], None] | None = None,
            conversions: Conversions = Conversions(), before: date | None = None) -> int:
    """Roll up past days that need it (not rolled up, or lacking a goal or funnel of
    ``conversions``), newest first, for about ``budget`` seconds; the next sessions do the rest.
    Only days before ``before`` when given (a bulk writer's day still filling); the visits are
    kept of those of the last VISIT_DAYS before ``today``. Returns how many days were rolled up.
    ``roll`` rolls up one day (default :func:`roll_up`; the lake records its rolled days its own
    way). Days whose rollups are final (see :func:`prune`) are never redone: a goal added later
    lacks them."""
    complete, params = _complete(conversions)
    final = events_kept_from(con)
    days = [r[0] for r in con.execute(
        f"""SELECT day FROM rollup_days WHERE NOT (rolled AND {complete}) AND day < ?
                   AND (NOT rolled OR ?::DATE IS NULL OR day >= ?) ORDER BY day DESC""",
        [*params, min(today, before or today), final, final]).fetchall()]
    started, done = time.monotonic(), 0
    for day in days:
        if done and time.monotonic() - started >= budget:
            break
        (roll or roll_up)(con, day, conversions, day >= today - VISIT_DAYS * DAY)
        done += 1
    return done


def roll_up(con: duckdb.DuckDBPyConnection, day: date, conversions: Conversions = Conversions(),
            visits: bool = False) -> None:
    """(Re)compute the rollups of one day, in one transaction (with ``visits``, see :func:`compute`)."""
    con.execute("BEGIN")
    compute(con, day, conversions, visits)
    con.execute("UPDATE rollup_days SET rolled = true WHERE day = ?", [day])
    live = live_days(con)
    if live.pop(day, None) is not None:  # its live rows are replaced: no longer kept at ingest
        save_live_days(con, live)
    con.execute("COMMIT")


def compute(con: duckdb.DuckDBPyConnection, day: date, conversions: Conversions = Conversions(),
            visits: bool = False) -> None:
    """Replace the rollup rows of one day with ones computed from its events (inside the
    caller's transaction); goals and funnels: those of ``conversions``; its visits kept too with
    ``visits`` (a day of the last VISIT_DAYS)."""
    for table in TABLES:
        con.execute(f"DELETE FROM {table} WHERE day = ?", [day])
    roll_events(con, day, Into(visits=visits))
    _compute_conversions(con, day, conversions)


def roll_events(con: duckdb.DuckDBPyConnection, day: date, into: Into) -> None:
    """The view tables' rows of one day: of which events, into which tables, ``into`` says."""
    span = day_span(day)
    group = ", ".join(GROUP)
    events = f"FROM {into.source} WHERE ts >= ? AND ts < ?"
    key, key_params = into.values(day)
    con.execute(f"""INSERT INTO {into.table('day_figures')} SELECT {key}, {group}, {queries.METRICS['visitors']},
                    count(*), count(*) FILTER (WHERE status >= 500) {events} GROUP BY ALL""", [*key_params, *span])
    con.execute(f"""INSERT INTO {into.table('day_hours')} SELECT {key}, {group}, hour(ts), {queries.METRICS['visitors']},
                    count(*) {events} GROUP BY ALL""", [*key_params, *span])
    if into.visits:  # kept, and the lengths counted from them
        _insert_visits(con, day)
        lengths = "SELECT *, round(epoch(stop - start)) AS seconds FROM day_visits WHERE day = ?"
        lengths_params: list[Any] = [day]
    else:
        lengths = f"""WITH e AS (SELECT {group}, ts, visitor_id {events}), marked AS ({queries.visit_marks("e", GROUP)})
                      {queries.visit_lengths("marked", GROUP)}"""
        lengths_params = span
    con.execute(f"""INSERT INTO {into.table('day_lengths')} SELECT {key}, {group}, seconds, count(*),
                    count(*) FILTER (WHERE bounce) FROM ({lengths}) GROUP BY ALL""", [*key_params, *lengths_params])
    this_day = into.of_day(day)
    folded = into.kept
    if folded is None:  # counted, and folded if a card has too many keys
        cards(con, into, day, span)
        folding = _keep_top_keys(con, into, day)
        if folding:
            folded = KEPT
            _fold(con, into, day, span, folding)
    else:
        cards(con, into, day, span, fold=folded)
    _sum_countries(con, into, this_day)
    con.execute(f"""INSERT INTO {into.table('day_durations')} SELECT {key}, {group}, {BUCKET}, count(*) {events}
                    AND duration_ms IS NOT NULL GROUP BY ALL""", [*key_params, *span])
    routes = f"SELECT {ROUTE_GROUP}, {BUCKET} AS bucket, count(*) AS n {events} AND duration_ms IS NOT NULL GROUP BY ALL"
    if folded:  # the slowest routes keep the routes the routes card keeps
        routes = f"""SELECT r.name, r.is_bot, country, CASE WHEN f.k IS NULL THEN '{queries.OTHER}' ELSE label END,
                            method, routed, bucket, sum(n)
                     FROM ({routes}) AS r (name, is_bot, country, label, method, routed, bucket, n)
                     LEFT JOIN {folded} AS f ON f.card = 'routes' AND f.name = r.name AND f.is_bot = r.is_bot
                                          AND f.k = {queries.ROUTE_KEY}
                     GROUP BY ALL"""
    con.execute(f"INSERT INTO {into.table('day_routes')} SELECT {key}, * FROM ({routes})", [*key_params, *span])
    con.execute(f"""INSERT INTO {into.table('day_routes_all')}
                    SELECT {into.key}, name, is_bot, label, method, routed, bucket, sum(n)
                    FROM {into.table('day_routes')} WHERE {this_day.sql} GROUP BY ALL""", this_day.params)
    _insert_properties(con, into, queries.Where("ts >= ? AND ts < ?", span))
    if folded == KEPT:
        con.execute(f"DROP TABLE {KEPT}")


def day_span(day: date) -> list[datetime]:
    """``day``'s time range: its midnight and the next."""
    start = datetime.combine(day, datetime.min.time())
    return [start, start + DAY]


def _insert_visits(con: duckdb.DuckDBPyConnection, day: date) -> None:
    """day_visits of ``day``, from its events."""
    group = ", ".join(GROUP)
    con.execute(f"""INSERT INTO day_visits
                    WITH e AS (SELECT {group}, ts, visitor_id FROM events WHERE ts >= ? AND ts < ?),
                         marked AS ({queries.visit_marks("e", GROUP)})
                    SELECT ?, * FROM ({queries.visits("marked", GROUP)})""", [*day_span(day), day])


def cards(con: duckdb.DuckDBPyConnection, into: Into, day: date, span: list[datetime], fold: str | None = None,
          ids: Sequence[str] = tuple(queries.DIMENSION_BREAKDOWNS)) -> None:
    """The day's day_cards rows of the cards ``ids`` (all by default), or ``into``'s (with
    ``fold``, keys it does not hold as queries.OTHER)."""
    ctes, parts = queries.dimension_sql(list(ids), GROUP, fold)
    columns = ", ".join(dict.fromkeys([*GROUP, *queries.BREAKDOWN_COLUMNS]))
    key, key_params = into.values(day)
    con.execute(f"""INSERT INTO {into.table('day_cards')}
        WITH pv AS (SELECT {columns} FROM {into.source} WHERE ts >= ? AND ts < ?), requests AS (SELECT * FROM pv),
             {', '.join(ctes)}
        SELECT {key}, * EXCLUDE (v3) FROM ({' UNION ALL '.join(parts)}) AS p ({', '.join(GROUP)}, card, k, v1, v2, v3)""",
                [*span, *key_params])


def _fold(con: duckdb.DuckDBPyConnection, into: Into, day: date, span: list[datetime], folding: Sequence[str]) -> None:
    """Fold the day's counted cards ``folding`` to the keys of KEPT without counting them all again: a card
    that counts page views or visits sums its other keys' rows into one queries.OTHER row (the
    count of the events with those keys); one that counts distinct visitors is counted again
    with the fold (a visitor of two folded keys is one visitor of OTHER). Cards with no key to
    fold keep their rows. (The synthetic site's days fold pages, entry and exit pages and 404s:
    only pages are counted again, not the visits' window the entry and exit pages need.)"""
    this_day = into.of_day(day)
    table = into.table("day_cards")
    dropped = f"""{this_day.sql} AND list_contains(?, card) AND NOT EXISTS (
                      SELECT 1 FROM {KEPT} AS f WHERE f.name = c.name AND f.is_bot = c.is_bot AND f.card = c.card AND f.k = c.k)"""
    counted = [card for card in folding if queries.DIMENSION_BREAKDOWNS[card].visitors]
    summed = [card for card in folding if card not in counted]
    if summed:
        con.execute(f"""INSERT INTO {table} BY NAME
                        SELECT * EXCLUDE (k, v1, v2), '{queries.OTHER}' AS k, sum(v1) AS v1, sum(v2) AS v2
                        FROM {table} AS c WHERE {dropped} GROUP BY ALL""", [*this_day.params, summed])
        con.execute(f"DELETE FROM {table} AS c WHERE k <> '{queries.OTHER}' AND {dropped}", [*this_day.params, summed])
    if counted:
        con.execute(f"DELETE FROM {table} WHERE {this_day.sql} AND list_contains(?, card)", [*this_day.params, counted])
        cards(con, into, day, span, fold=KEPT, ids=counted)


def _keep_top_keys(con: duckdb.DuckDBPyConnection, into: Into, day: date) -> list[str]:
    """The cards of the day with more than ``into.keys`` keys (for one event name, bots or
    humans), if any: the temporary table KEPT then holds the ``into.keys`` first keys of each
    card (by their value summed over countries; all the keys of the others), and the cards are
    folded to them (see _fold)."""
    this_day = into.of_day(day)
    cards = into.table("day_cards")
    folding = [r[0] for r in con.execute(f"""SELECT DISTINCT card FROM (SELECT card, count(DISTINCT k) AS n FROM {cards}
                                                 WHERE {this_day.sql} GROUP BY name, is_bot, card)
                                             WHERE n > ? ORDER BY card""", [*this_day.params, into.keys]).fetchall()]
    if not folding:
        return []
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {KEPT} AS
                    SELECT name, is_bot, card, k FROM (
                        SELECT name, is_bot, card, k, sum(v1) AS v FROM {cards} WHERE {this_day.sql} GROUP BY ALL)
                    QUALIFY row_number() OVER (PARTITION BY name, is_bot, card ORDER BY v DESC, k) <= ?""",
                [*this_day.params, into.keys])
    return folding


def _compute_conversions(con: duckdb.DuckDBPyConnection, day: date, conversions: Conversions) -> None:
    """The day_goals and day_funnels rows of one day (zeros included: a row says the day has
    it), and each goal's twins of the view tables and its day_goal_goals rows."""
    start = datetime.combine(day, datetime.min.time())
    scope = Scope(PAGE_VIEW, {}, start, start + DAY)
    if conversions.goals:
        counts = [now for now, _ in goal_queries.goals(con, scope, conversions.goals, start)]
        con.execute("INSERT INTO day_goals SELECT ?, unnest(?::VARCHAR[]), unnest(?::UBIGINT[]), unnest(?::UBIGINT[])",
                    [day, [g.text for g in conversions.goals], [c.visitors for c in counts],
                     [c.conversions for c in counts]])
    for funnel in conversions.funnels:
        steps = goal_queries.funnel(con, scope, funnel)
        con.execute("INSERT INTO day_funnels SELECT ?, ?, unnest(range(?)), unnest(?::UBIGINT[])",
                    [day, funnel_key(funnel), len(steps), [s.visitors for s in steps]])
    for goal in conversions.goals:
        # The converters' events once (a semi-join on the day's scan), then every rollup of them.
        # A visit in progress at midnight keeps its visitor id (enrich.VisitorIds): its goal
        # events may be on the day before or after.
        converting = goal_queries.goal_where(goal, scope.start - DAY, scope.end + DAY)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {CONVERTING} AS SELECT * FROM events WHERE ts >= ? AND ts < ? "
                    f"AND {converting.sql}", [scope.start, scope.end, *converting.params])
        roll_events(con, day, Into(CONVERTING, goal.text))
        _goals_among(con, day, goal, conversions.goals)
    if conversions.goals:
        con.execute(f"DROP TABLE {CONVERTING}")


def _goals_among(con: duckdb.DuckDBPyConnection, day: date, goal: Step, goals: Sequence[Step]) -> None:
    """The day_goal_goals rows of one day: for each of ``goals``, its converting visitors and
    conversions (of the day) among the converters of ``goal`` (in CONVERTING) who viewed a page
    that day, by their country: what :func:`kero_core.goal_queries.goals` counts in a view
    filtered by ``goal``. Like the twins, a visitor converts on the day or the days either side
    (a visit across midnight keeps its visitor id), so a goal's rate among its own converters is 1."""
    start = datetime.combine(day, datetime.min.time())
    conditions = [goal_queries.step_sql(g) for g in goals]
    parts = " UNION ALL ".join(
        f"""SELECT ?::DATE, ?, country, ?, count(DISTINCT visitor_id), count(*) FILTER (WHERE on_day)
            FROM g WHERE {c.sql} GROUP BY country""" for c in conditions)
    con.execute(f"""INSERT INTO day_goal_goals
        WITH v AS (SELECT DISTINCT visitor_id, country FROM {CONVERTING}
                   WHERE name = ? AND NOT is_bot AND visitor_id <> 0),
             g AS (SELECT v.country, e.visitor_id, e.ts >= ? AND e.ts < ? AS on_day, e.name, e.path
                   FROM events AS e JOIN v USING (visitor_id) WHERE e.ts >= ? AND e.ts < ? AND NOT e.is_bot)
        {parts}""", [PAGE_VIEW, start, start + DAY, start - DAY, start + 2 * DAY,
                     *(p for g, c in zip(goals, conditions) for p in (day, goal.text, g.text, *c.params))])


# -- reading ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    """How a period is read: whole rolled-up ``days``, and ``raw`` intervals from the events."""

    days: list[date]
    raw: list[tuple[datetime, datetime]]


def rolled_days(con: duckdb.DuckDBPyConnection, goal: Step | None = None) -> frozenset[date]:
    """Every day rolled up (with ``goal``: those rolled up while it was defined, which have its
    twins): what a render reads once and hands to each query (on the lake each statement costs
    a catalog round trip: five reads of these were 8% of a render)."""
    with_goal = _with_goal_rows(goal)
    return frozenset(r[0] for r in con.execute(f"SELECT day FROM rollup_days WHERE rolled AND {with_goal.sql}",
                                               with_goal.params).fetchall())


def _with_goal_rows(goal: Step | None) -> queries.Where:
    """A condition on ``day``: it has the rows of ``goal`` (always true without one)."""
    if goal is None:
        return queries.Where("TRUE", [])
    return queries.Where("day IN (SELECT day FROM day_goals WHERE goal = ?)", [goal.text])


def plan(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime, rolled: Collection[date] | None = None,
         goal: Step | None = None, live: Mapping[date, datetime] | None = None) -> Plan:
    """How ``[start, end)`` is read, given the ``rolled`` days (read here when not given: those
    rolled up, with ``goal``'s rows when given; see :func:`rolled_days`) and the ``live`` ones
    (:func:`live_days`; none when not given): a live day's rows stand for its events from
    midnight to ``end`` when the period starts by then and ends after its newest event."""
    first = datetime.combine(start.date(), datetime.min.time())
    if first < start:
        first += DAY
    if rolled is None:
        with_goal = _with_goal_rows(goal)
        rolled = {r[0] for r in con.execute(
            f"SELECT day FROM rollup_days WHERE rolled AND day >= ? AND day < ? AND {with_goal.sql}",
            [first.date(), end.date(), *with_goal.params]).fetchall()}
    days, raw, cursor = [], [], start
    moment = first
    while moment + DAY <= end:
        if moment.date() in rolled:
            days.append(moment.date())
            if cursor < moment:
                raw.append((cursor, moment))
            cursor = moment + DAY
        moment += DAY
    until = (live or {}).get(moment.date())
    if until is not None and start <= moment < end and until < end:
        days.append(moment.date())
        if cursor < moment:
            raw.append((cursor, moment))
        cursor = end
    if cursor < end:
        raw.append((cursor, end))
    return Plan(days, raw)


def usable(scope: Scope) -> bool:
    """Whether the rollups can answer the scope: no filter, or one country; and a goal only for
    humans (the goal's twins count the converters of its human events)."""
    return all(key == "country" for key in scope.filters) and (scope.goal is None or scope.humans_only)


def _live(con: duckdb.DuckDBPyConnection, scope: Scope, live: Mapping[date, datetime] | None) -> Mapping[date, datetime]:
    """The live days a view of the scope can read (``live``, or read here when not given): none
    with a goal (live days have no goal twins)."""
    if scope.goal is not None:
        return {}
    return live_days(con) if live is None else live


def _table(scope: Scope, name: str) -> str:
    """The rollup table ``name``, or its twin of the scope's goal (see GOAL_TABLES)."""
    return name if scope.goal is None else GOAL_TABLES[name]


def _on_days(days: Sequence[date]) -> queries.Where:
    """The rollup rows of ``days``, with the bounds DuckDB's zone maps skip the other days'
    row groups by (a list alone read every row of the table: 6.7 ms of day_durations at 10M
    events, for none when the list was empty)."""
    if not days:
        return queries.Where("FALSE", [])
    low, high = min(days), max(days)
    if (high - low).days == len(set(days)) - 1:  # a range
        return queries.Where("day BETWEEN ? AND ?", [low, high])
    return queries.Where("day BETWEEN ? AND ? AND list_contains(?::DATE[], day)", [low, high, list(days)])


def _rolled(scope: Scope, days: Sequence[date], *, name: bool = True, humans: bool = True,
            names: Sequence[str] | None = None) -> queries.Where:
    """The rollup rows of ``days`` in the scope (its event name, or ``names``, and humans-only
    unless told not; its goal's, in a goal's twins)."""
    on_days = _on_days(days)
    clauses, params = [on_days.sql], list(on_days.params)
    if scope.goal is not None:
        clauses.append("goal = ?")
        params.append(scope.goal.text)
    if names is not None:
        clauses.append("list_contains(?, name)")
        params.append(list(names))
    elif name:
        clauses.append("name = ?")
        params.append(scope.name)
    if humans and scope.humans_only:
        clauses.append("NOT is_bot")
    for key, value in scope.filters.items():
        clauses.append(f"{key} = ?")
        params.append(queries.DIMENSIONS[key](value))
    return queries.Where(" AND ".join(clauses), params)


def _intervals(plans: Sequence[Plan]) -> list[list[datetime]]:
    """The plans' raw intervals, in order, adjacent ones joined."""
    intervals: list[list[datetime]] = []
    for start, end in sorted(interval for p in plans for interval in p.raw):
        if intervals and intervals[-1][1] == start:
            intervals[-1][1] = end
        else:
            intervals.append([start, end])
    return intervals


def _raw_events(scope: Scope, plans: Sequence[Plan], columns: str, *, name: bool = True,
                humans: bool = True, since: datetime | None = None) -> tuple[str, list[Any]]:
    """The ``columns`` of the scope's events in the plans' raw intervals, as a subquery and its
    parameters: one SELECT per interval (adjacent ones joined), so each reads only what its time
    range can hold. An OR of the ranges defeats min/max pruning: a month's partial days read
    that way took 4x longer on the lake's Parquet files and 9x in the file (10M events).
    With a goal, only its converters' events, as the raw query from ``since`` (default: the
    scope's start) to the scope's end keeps them (:meth:`kero_core.queries.Scope.with_goal`);
    a visitor id lasts a day (and 30 minutes past midnight, see _compute_conversions), so the
    goal events of an interval's days and of the days either side are all it needs."""
    filters = {**scope.filters, "is_bot": False} if humans and scope.humans_only else scope.filters
    base = queries.where(scope.name if name else None, filters, None, None)
    intervals = _intervals(plans)
    if not intervals:
        return f"(SELECT {columns} FROM events WHERE FALSE)", []
    selects, params = [], []
    for start, end in intervals:
        within = queries.Where(f"{base.sql} AND ts >= ? AND ts < ?", [*base.params, start, end])
        if scope.goal is not None:
            first, last = (datetime.combine(moment.date(), datetime.min.time()) for moment in (start, end))
            converted = goal_queries.goal_where(scope.goal, max(since or scope.start, first - DAY),
                                                min(scope.end, (last + DAY if last < end else last) + DAY),
                                                scope.humans_only)
            within = queries.Where(f"{within.sql} AND {converted.sql}", [*within.params, *converted.params])
        selects.append(f"SELECT {columns} FROM events WHERE {within.sql}")
        params += within.params
    return "(" + " UNION ALL ".join(selects) + ")", params


def figures(con: duckdb.DuckDBPyConnection, scope: Scope, previous_start: datetime,
            rolled: Collection[date] | None = None, live: Mapping[date, datetime] | None = None) -> tuple[Figures, Figures]:
    """:func:`kero_core.queries.figures`, from the rollups where they can answer (``rolled`` and
    ``live``: see :func:`plan`; read here when not given). A period that holds most of a
    rolled-up day but not all of it (Today's period before: yesterday from the time of day it is
    now; Past 24 hours at 08:00: yesterday from 08:00) reads that part from the day's rows and
    visits (see :class:`Cut`)."""
    if not usable(scope):
        return queries.figures(con, scope, previous_start)
    live = _live(con, scope, live)
    current, current_cuts = _cut(con, scope, plan(con, scope.start, scope.end, rolled, scope.goal, live), rolled,
                                 visits=True)
    previous, previous_cuts = _cut(con, scope, plan(con, previous_start, scope.start, rolled, scope.goal, live),
                                   rolled, visits=True)
    cuts = [(True, cut) for cut in current_cuts] + [(False, cut) for cut in previous_cuts]
    if not current.days and not previous.days and not cuts:
        return queries.figures(con, scope, previous_start)
    raw, raw_params = _raw_events(scope, [current, previous], "ts, visitor_id, status, duration_ms", since=previous_start)
    rolled = _rolled(scope, sorted(previous.days + current.days))
    cut_ctes, cut_parts, cut_params = _cut_figures(scope, cuts)
    sql = f"""
        WITH e AS MATERIALIZED (SELECT ts >= ? AS cur, ts, visitor_id, status, duration_ms FROM {raw}),
        marked AS ({queries.visit_marks("e", ["cur"])}),
        lengths AS ({queries.visit_lengths("marked", ["cur"])}),
        {cut_ctes}
        all_lengths AS (
            SELECT cur, seconds, count(*) AS visits, count(*) FILTER (WHERE bounce) AS bounces FROM lengths GROUP BY ALL
            UNION ALL
            SELECT day >= ?, seconds, sum(visits), sum(bounces) FROM {_table(scope, 'day_lengths')}
            WHERE {rolled.sql} GROUP BY ALL
            {cut_parts['lengths']}),
        v AS ({_weighted_median("all_lengths")}),
        t AS (SELECT cur, sum(visitors) AS visitors, sum(views) AS views, sum(errors) AS errors FROM (
            SELECT cur, {queries.METRICS['visitors']} AS visitors, count(*) AS views,
                   count(*) FILTER (WHERE status >= 500) AS errors FROM e GROUP BY cur
            UNION ALL
            SELECT day >= ?, sum(visitors), sum(views), sum(errors) FROM {_table(scope, 'day_figures')}
            WHERE {rolled.sql} GROUP BY ALL
            {cut_parts['figures']})
            GROUP BY cur),
        times AS (
            SELECT cur, {BUCKET} AS bucket, count(*) AS n FROM e WHERE duration_ms IS NOT NULL GROUP BY ALL
            UNION ALL
            SELECT day >= ?, bucket, sum(n) FROM {_table(scope, 'day_durations')} WHERE {rolled.sql} GROUP BY ALL
            {cut_parts['times']}),
        d AS ({_histogram_quantiles("times")})
        SELECT t.cur, visitors, views, coalesce(visits, 0), coalesce(bounces, 0), duration, errors, p50, p95
        FROM t LEFT JOIN v USING (cur) LEFT JOIN d USING (cur)"""
    params = [scope.start, *raw_params, *cut_params["ctes"], scope.start, *rolled.params, *cut_params["lengths"],
              scope.start, *rolled.params, *cut_params["figures"], scope.start, *rolled.params, *cut_params["times"]]
    found = {row[0]: Figures(*row[1:]) for row in con.execute(sql, params).fetchall()}
    return found.get(True, Figures()), found.get(False, Figures())


@dataclass(frozen=True)
class Cut:
    """The part ``[start, end)`` of a rolled-up ``day`` whose events are kept, read from the
    day's rows and what the events outside the part take from them.

    The key figures read the part's visits from the day's (day_visits): the events of one visitor
    (and GROUP) that lie in the part are a stretch of the day's in time, so the gaps between them
    are the day's, and the part's visits are the day's visits cut to the part: those inside it
    whole, and the few that cross its ends cut short (their events in the part read from the
    events). Its visitors are the visitors of those visits; its page views, errors and response
    times, which add up event by event, are the day's rows less the events outside the part.

    The cards are sums over (visitor, GROUP) pairs; a pair whose events of the day all lie in the
    part counts the same in the day and in the part; the others (those with an event outside it)
    count f(their events of the day) in the day's rows and f(their events in the part) in the
    part. So f(part) = rows - f(theirs) + f(theirs in the part) (see :func:`_cut_cards`): it reads
    the events outside the part and those of the same pairs inside it, not every event inside it
    (Past 24 hours at 18:00 reads yesterday from 18:00: six hours of events instead of 18)."""

    day: date
    start: datetime
    end: datetime


def _cut(con: duckdb.DuckDBPyConnection, scope: Scope, period: Plan,
         rolled: Collection[date] | None, visits: bool = False) -> tuple[Plan, list[Cut]]:
    """``period`` with its raw intervals that hold more than half of a rolled-up day read as
    :class:`Cut` s instead, where the day's events are all kept (raw_retention), with
    ``visits`` its visits too (VISIT_DAYS), and no goal narrows the scope (the goals' twins
    count converters: their events are another set)."""
    if scope.goal is not None:
        return period, []
    pieces = []  # the raw intervals split at midnight
    for start, end in period.raw:
        while start < end:
            midnight = datetime.combine(start.date(), datetime.min.time()) + DAY
            pieces.append((start, min(end, midnight)))
            start = midnight
    candidates = [Cut(start.date(), start, end) for start, end in pieces if (end - start) * 2 > DAY]
    if not candidates:
        return period, []
    if rolled is None:
        on = _on_days([cut.day for cut in candidates])
        rolled = {r[0] for r in con.execute(f"SELECT day FROM rollup_days WHERE rolled AND {on.sql}",
                                            on.params).fetchall()}
    kept_from = events_kept_from(con)
    cuts = [cut for cut in candidates if cut.day in rolled and (kept_from is None or cut.day >= kept_from)]
    if visits and cuts:
        # (One row each: DISTINCT over the days' visits took 2 ms at 10M events.)
        cuts = [cut for cut in cuts
                if con.execute("SELECT 1 FROM day_visits WHERE day = ? LIMIT 1", [cut.day]).fetchone()]
    cut_pieces = {(cut.start, cut.end) for cut in cuts}
    return Plan(period.days, [piece for piece in pieces if piece not in cut_pieces]), cuts


_SIGN = "CASE WHEN part % 2 = 1 THEN 1 ELSE -1 END"  # how a row of _cut_cards's cut_events counts


def _cut_figures(scope: Scope, cuts: Sequence[tuple[bool, Cut]]) -> tuple[str, dict[str, str], dict[str, list[Any]]]:
    """What :func:`figures` reads of ``cuts`` (each with the ``cur`` it counts for), see
    :class:`Cut`: CTEs (each ending with a comma), and the rows each of figures' unions adds
    (``lengths``, ``figures``, ``times``: each starting with UNION ALL), with the parameters of
    each.

    A visit cut short at an end of the part has an event within VISIT_GAP of that end, inside
    the part (its events on either side of the end are less than VISIT_GAP apart): its first
    event in the part is within VISIT_GAP after the part's start, its last within VISIT_GAP
    before the part's end, and where it starts or stops inside the part its day's row says
    when. So only those VISIT_GAP beside each end are read for them, and they neighbour the
    events outside the part: both are read in one scan (two scans of neighbouring events cost
    about twice one, each decoding the same blocks). Its part is one page view (a bounce) when
    its first and last times in the part are one and the events read there are one: with a
    single time, that time is among them (it is within VISIT_GAP of the end it crosses)."""
    filters = {**scope.filters, "is_bot": False} if scope.humans_only else scope.filters
    base = queries.where(scope.name, filters, None, None)
    gap = queries.VISIT_GAP
    ctes: list[str] = []
    parts: dict[str, list[str]] = {"lengths": [], "figures": [], "times": []}
    params: dict[str, list[Any]] = {"ctes": [], "lengths": [], "figures": [], "times": []}
    for number, (cur, cut) in enumerate(cuts):
        rows = _rolled(scope, [cut.day])
        midnight = datetime.combine(cut.day, datetime.min.time())
        outside = [(low, high) for low, high in ((midnight, cut.start), (cut.end, midnight + DAY)) if low < high]
        beside = []  # the part's events next to each end that visits can cross (not midnight)
        if cut.start > midnight:
            beside.append((cut.start, min(cut.end, cut.start + gap)))
        if cut.end < midnight + DAY:
            beside.append((max(cut.start, cut.end - gap), cut.end))
        spans = _joined([*outside, *beside])
        read = " UNION ALL ".join(f"""SELECT is_bot, country, visitor_id, ts, status, duration_ms FROM events
                                      WHERE {base.sql} AND ts >= ? AND ts < ?""" for _ in spans)
        visits, events = f"cut_visits_{number}", f"cut_events_{number}"
        ctes += [
            f"{events} AS MATERIALIZED ({read}),",
            f"""{visits} AS MATERIALIZED (SELECT is_bot, country, visitor_id, start, stop, bounce FROM day_visits
                                          WHERE {rows.sql} AND start < ? AND stop >= ?),""",
            f"""cut_short_{number} AS (
                    SELECT c.is_bot, c.country, c.visitor_id,
                           CASE WHEN c.start >= ? THEN c.start ELSE min(e.ts) END AS first,
                           CASE WHEN c.stop < ? THEN c.stop ELSE max(e.ts) END AS last, count(*) AS n
                    FROM (SELECT * FROM {visits} WHERE start < ? OR stop >= ?) AS c
                    JOIN (SELECT * FROM {events} WHERE ts >= ? AND ts < ?) AS e
                    ON e.visitor_id = c.visitor_id AND e.is_bot = c.is_bot AND e.country IS NOT DISTINCT FROM c.country
                       AND e.ts >= c.start AND e.ts <= c.stop
                    GROUP BY c.is_bot, c.country, c.visitor_id, c.start, c.stop),""",
            f"""cut_part_{number} AS MATERIALIZED (
                    SELECT is_bot, country, visitor_id, round(epoch(stop - start)) AS seconds, bounce FROM {visits}
                    WHERE start >= ? AND stop < ?
                    UNION ALL
                    SELECT is_bot, country, visitor_id, round(epoch(last - first)), first = last AND n = 1
                    FROM cut_short_{number}),""",
            f"cut_out_{number} AS MATERIALIZED (SELECT status, duration_ms FROM {events} WHERE ts < ? OR ts >= ?),",
        ]
        params["ctes"] += [*(value for low, high in spans for value in (*base.params, low, high)),
                           *rows.params, cut.end, cut.start, *[cut.start, cut.end] * 5]
        parts["lengths"].append(f"""UNION ALL SELECT {cur}, seconds, count(*), count(*) FILTER (WHERE bounce)
                                    FROM cut_part_{number} GROUP BY ALL""")
        parts["figures"].append(f"""UNION ALL SELECT {cur}, sum(n), 0, 0 FROM (  -- (a DISTINCT of the three: slower)
                                        SELECT count(DISTINCT visitor_id) AS n FROM cut_part_{number}
                                        GROUP BY is_bot, country)
                                    UNION ALL SELECT {cur}, 0, sum(views), sum(errors)
                                    FROM {_table(scope, 'day_figures')} WHERE {rows.sql}
                                    UNION ALL SELECT {cur}, 0, -count(*), -count(*) FILTER (WHERE status >= 500)
                                    FROM cut_out_{number}""")
        params["figures"] += rows.params
        parts["times"].append(f"""UNION ALL SELECT {cur}, bucket, sum(n) FROM {_table(scope, 'day_durations')}
                                  WHERE {rows.sql} GROUP BY ALL
                                  UNION ALL SELECT {cur}, {BUCKET}, -count(*) FROM cut_out_{number}
                                  WHERE duration_ms IS NOT NULL GROUP BY ALL""")
        params["times"] += rows.params
    return "\n".join(ctes), {name: "\n".join(sql) for name, sql in parts.items()}, params


def _joined(spans: Sequence[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """``spans`` (half-open intervals) with those that overlap or touch joined, in order."""
    joined: list[tuple[datetime, datetime]] = []
    for low, high in sorted(span for span in spans if span[0] < span[1]):
        if joined and low <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(joined[-1][1], high))
        else:
            joined.append((low, high))
    return joined


def _weighted_median(source: str) -> str:
    """Per ``cur``: visits, bounces and the median length of ``source``'s (length, visits)
    rows, interpolated between the two middle visits like DuckDB's median()."""
    return f"""
        SELECT cur, any_value(total) AS visits, sum(bounces) AS bounces,
               (min(seconds) FILTER (WHERE upto > floor((total - 1) / 2))
                + min(seconds) FILTER (WHERE upto > ceil((total - 1) / 2))) / 2 AS duration
        FROM (SELECT cur, seconds, visits, bounces,
                     sum(visits) OVER (PARTITION BY cur ORDER BY seconds) AS upto,
                     sum(visits) OVER (PARTITION BY cur) AS total
              FROM (SELECT cur, seconds, sum(visits) AS visits, sum(bounces) AS bounces FROM {source} GROUP BY ALL))
        GROUP BY cur"""


def _histogram_quantiles(source: str, by: Sequence[str] = ("cur",), p50: bool = True) -> str:
    """Per ``by``: p50 (unless not ``p50``: the slowest routes show p95 alone, and it cost them
    2 of 13 ms), p95, the mean and the count of ``source``'s (bucket, n) rows, each time read as
    the middle of its bucket (so within 1%); quantiles interpolated between two times like
    quantile_cont(). A bucket whose counts add up to nothing (a cut's, see Cut) is none."""
    keys = ", ".join(by)
    value = f"CASE WHEN bucket IS NULL THEN 0 ELSE pow({STEP}, bucket - 0.5) END"

    def quantile(p: float) -> str:
        at = f"(total - 1) * {p}"
        low = f"min(x) FILTER (WHERE upto > floor({at}))"
        high = f"min(x) FILTER (WHERE upto > ceil({at}))"
        fraction = f"(any_value(total) - 1) * {p} % 1"
        return f"{low} + ({fraction}) * ({high} - {low})"

    return f"""
        SELECT {keys}, {f"{quantile(0.5)} AS p50, " if p50 else ""}{quantile(0.95)} AS p95,
               sum(x * n) / any_value(total) AS mean,
               any_value(total) AS n
        FROM (SELECT {keys}, {value} AS x, n,
                     sum(n) OVER (PARTITION BY {keys} ORDER BY bucket NULLS FIRST) AS upto,
                     sum(n) OVER (PARTITION BY {keys}) AS total
              FROM (SELECT {keys}, bucket, sum(n) AS n FROM {source} GROUP BY ALL HAVING sum(n) <> 0))
        GROUP BY {keys}"""


def series(con: duckdb.DuckDBPyConnection, scope: Scope, previous_start: datetime,
           rolled: Collection[date] | None = None, live: Mapping[date, datetime] | None = None) -> tuple[str, list[Bucket]]:
    """:func:`kero_core.queries.series`, from the rollups where they can answer: hourly buckets
    from day_hours (see _hourly_series); longer ones from day_figures, but not for the previous
    period when its shift onto the current one is not whole days (each of its days would
    straddle two buckets)."""
    unit, starts = queries.buckets(scope.start, scope.end)
    if not usable(scope):
        return queries.series(con, scope, previous_start)
    if unit == "hour":
        return unit, _hourly_series(con, scope, previous_start, starts, rolled, live)
    shift = scope.start - previous_start
    live = _live(con, scope, live)
    current = plan(con, scope.start, scope.end, rolled, scope.goal, live)
    previous = plan(con, previous_start, scope.start, rolled, scope.goal, live) if shift % DAY == timedelta(0) else \
        Plan([], [(previous_start, scope.start)])
    raw, raw_params = _raw_events(scope, [current, previous], "ts, visitor_id", since=previous_start)
    rolled = _rolled(scope, previous.days + current.days)
    # The unit is one of four literals chosen by bucket_unit(), never user input.
    sql = f"""
        SELECT cur, b, sum(v), sum(n) FROM (
            SELECT ts >= ? AS cur, date_trunc('{unit}', CASE WHEN ts >= ? THEN ts ELSE ts + ? END) AS b,
                   {queries.METRICS['visitors']} AS v, count(*) AS n FROM {raw} GROUP BY ALL
            UNION ALL
            SELECT day >= ?, date_trunc('{unit}', CASE WHEN day >= ? THEN day::TIMESTAMP ELSE day + ? END),
                   sum(visitors), sum(views) FROM {_table(scope, 'day_figures')} WHERE {rolled.sql} GROUP BY ALL)
        GROUP BY ALL"""
    params = [scope.start, scope.start, shift, *raw_params, scope.start, scope.start, shift, *rolled.params]
    return unit, queries.overlaid(con.execute(sql, params).fetchall(), starts)


def hour_plan(start: datetime, end: datetime, rolled: Collection[date], live: Mapping[date, datetime],
              ) -> tuple[list[tuple[date, int, int]], list[tuple[datetime, datetime]]]:
    """How ``[start, end)`` is read by the hour: (day, first hour, end hour) ranges of whole
    hours from day_hours, of the ``rolled`` and ``live`` days, and raw intervals from the events
    for the rest. A live day's rows hold every event of the day stored so far, so any of its
    whole hours reads from them what the events would give, and so does the hour ``end`` cuts
    when the day's newest event (``live``'s value) is before ``end``: Today's current hour, which
    was read from the events at every render."""
    hours, raw = [], []
    day = start.date()
    while datetime.combine(day, datetime.min.time()) < end:
        midnight = datetime.combine(day, datetime.min.time())
        low, high = max(start, midnight), min(end, midnight + DAY)
        first = low.replace(minute=0, second=0, microsecond=0)
        first += timedelta(hours=1) if first < low else timedelta(0)
        last = high.replace(minute=0, second=0, microsecond=0) if high < midnight + DAY else high
        if last < high and first <= last and day in live and live[day] < end:  # its rows hold all of it
            last += timedelta(hours=1)
            high = last
        if first < last and (day in rolled or day in live):
            hours.append((day, first.hour, (last - midnight) // timedelta(hours=1)))
            raw += [(a, b) for a, b in ((low, first), (last, high)) if a < b]
        else:
            raw.append((low, high))
        day += DAY
    return hours, raw


def _hourly_series(con: duckdb.DuckDBPyConnection, scope: Scope, previous_start: datetime, starts: list[datetime],
                   rolled: Collection[date] | None, live: Mapping[date, datetime] | None) -> list[Bucket]:
    """Hourly buckets: whole hours of rolled-up and live days from day_hours (visitors are
    distinct per hour, as a bucket counts them), the rest from the events. The previous period
    moves by whole hours onto the buckets (queries.overlay_shift), so its whole hours come from rows too."""
    shift = queries.overlay_shift(scope.start - previous_start, "hour")
    days = (rolled_days(con, scope.goal) if rolled is None else rolled, _live(con, scope, live))
    current = hour_plan(scope.start, scope.end, *days)
    previous = hour_plan(previous_start, scope.start, *days)
    hours = current[0] + previous[0]
    raw, raw_params = _raw_events(scope, [Plan([], current[1]), Plan([], previous[1])], "ts, visitor_id",
                                  since=previous_start)
    parts = [f"""SELECT ts >= ? AS cur, date_trunc('hour', CASE WHEN ts >= ? THEN ts ELSE ts + ? END) AS b,
                        {queries.METRICS['visitors']} AS v, count(*) AS n FROM {raw} GROUP BY ALL"""]
    params = [scope.start, scope.start, shift, *raw_params]
    if hours:
        rows = _rolled(scope, sorted({day for day, _, _ in hours}))
        within = " OR ".join(["(day = ? AND hour >= ? AND hour < ?)"] * len(hours))
        moment = "(day + to_hours(hour))"
        parts.append(f"""SELECT {moment} >= ?, CASE WHEN {moment} >= ? THEN {moment} ELSE {moment} + ? END,
                                sum(visitors), sum(views)
                         FROM {_table(scope, 'day_hours')} WHERE {rows.sql} AND ({within}) GROUP BY ALL""")
        params += [scope.start, scope.start, shift, *rows.params, *(v for h in hours for v in h)]
    sql = f"SELECT cur, b, sum(v), sum(n) FROM ({' UNION ALL '.join(parts)}) AS p (cur, b, v, n) GROUP BY ALL"
    return queries.overlaid(con.execute(sql, params).fetchall(), starts)


def breakdowns(
    con: duckdb.DuckDBPyConnection, scope: Scope, ids: Sequence[str], limit: int, rolled: Collection[date] | None = None,
    live: Mapping[date, datetime] | None = None, limits: Mapping[str, int] | None = None,
) -> dict[str, tuple[int, list[BreakdownRow]]]:
    """:func:`kero_core.queries.breakdowns`, from the rollups where they can answer. A raw piece
    that holds most of a rolled-up day (Past 24 hours at 01:00 holds 23 hours of yesterday) reads
    that day's rows less what its visitors outside the piece add to them (see :class:`Cut`,
    :func:`_cut_cards`)."""
    current = plan(con, scope.start, scope.end, rolled, scope.goal, _live(con, scope, live)) if usable(scope) \
        else Plan([], [])
    current, cuts = _cut(con, scope, current, rolled) if current.raw else (current, [])
    if len(cuts) > 1:  # each day folds its own keys: one cut a statement, the others read from events
        current, cuts = Plan(current.days, sorted([*current.raw, *((c.start, c.end) for c in cuts[1:])])), cuts[:1]
    if not (current.days or cuts) or not ids:
        return queries.breakdowns(con, scope, ids, limit, limits)
    unknown = [i for i in ids if i not in queries.BREAKDOWNS]
    if unknown:
        raise ValueError(f"unknown breakdown {unknown[0]!r}; known: {', '.join(queries.BREAKDOWNS)}")
    days = sorted([*current.days, *(cut.day for cut in cuts)])
    requests = _rolled(scope, days, names=queries.request_names(scope.name))
    in_scope = _rolled(scope, days, name=False, humans=False)  # the days and the filters only
    human = "AND NOT is_bot" if scope.humans_only else ""
    dims = [i for i in ids if i in queries.DIMENSION_BREAKDOWNS]
    # A period read from rollups alone (whole days, today's live rows) leaves out the events'
    # part (UNPIVOTs, visit marks, a dozen CTEs), which DuckDB planned even with nothing to read.
    ctes: list[str] = []
    parts: list[str] = []
    params: list[Any] = []
    if current.raw:
        raw, raw_params = _raw_events(scope, [current], ", ".join(queries.BREAKDOWN_COLUMNS), name=False, humans=False)
        ctes += [
            f"b AS NOT MATERIALIZED {raw}",
            f"pv AS (SELECT * FROM b WHERE name = ? {human})",
            f"requests AS (SELECT * FROM b WHERE list_contains(?, name) {human})",
            f"bots AS (SELECT * FROM b WHERE name IN ({queries.REQUEST_SQL}) AND is_bot)",
            f"custom AS (SELECT * FROM b WHERE name NOT IN ({queries.REQUEST_SQL}))",
        ]
        params += [*raw_params, scope.name, queries.request_names(scope.name)]
        dimension_ctes, parts = queries.dimension_sql(dims)
        ctes += dimension_ctes
    table, routes = (_table(scope, t) for t in (("day_cards", "day_routes") if scope.filters
                                                  else ("day_cards_all", "day_routes_all")))
    # The cards' rows and the bots' (their browsers) come from one scan of the card rollups: a
    # second one cost a fifth of a one-country month's breakdowns (every country's rows are read).
    cards = [*dims, *(["browsers"] if "bots" in ids else [])]
    if cuts:
        cut_ctes, cut_params = _cut_cards(scope, cuts[0], list(dict.fromkeys(cards)))
        ctes += cut_ctes
        params += cut_params
    if cards:
        ctes.append(f"""rolled_cards AS MATERIALIZED (
                            SELECT name, is_bot, card, k, v1::BIGINT AS v1, v2::BIGINT AS v2 FROM {table}
                            WHERE {in_scope.sql} AND list_contains(?, card)
                            {'UNION ALL SELECT * FROM cut_cards' if cuts else ''})""")
        params += [*in_scope.params, cards]
    # The rollup rows (of days and countries), which ranked() sums by card and key, and their parameters.
    summed: list[str] = []
    summed_params: list[Any] = []
    page_dims = [i for i in dims if not queries.DIMENSION_BREAKDOWNS[i].requests]
    if page_dims:
        summed.append(f"SELECT card, k, v1, v2, NULL FROM rolled_cards WHERE name = ? {human} AND list_contains(?, card)")
        summed_params += [scope.name, page_dims]
    request_dims = [i for i in dims if queries.DIMENSION_BREAKDOWNS[i].requests]
    if request_dims:  # the routes and statuses of every request (a POST too)
        summed.append(f"SELECT card, k, v1, v2, NULL FROM rolled_cards WHERE list_contains(?, name) {human} "
                      "AND list_contains(?, card)")
        summed_params += [queries.request_names(scope.name), request_dims]
    if "bots" in ids:
        parts += [queries.other_sql("bots")] if current.raw else []
        summed.append(f"SELECT 'bots', k, v2, v1, NULL FROM rolled_cards WHERE name IN ({queries.REQUEST_SQL}) "
                      "AND is_bot AND card = 'browsers'")
    if "custom_events" in ids:
        parts += [queries.other_sql("custom_events")] if current.raw else []
        summed.append("SELECT 'custom_events', name, views, visitors, NULL "
                      f"FROM {_table(scope, 'day_figures')} WHERE {in_scope.sql} AND name NOT IN ({queries.REQUEST_SQL})")
        summed_params += in_scope.params
        if cuts:
            summed.append(f"""SELECT 'custom_events', name, sum({_SIGN} * views), sum({_SIGN} * visitors), NULL FROM (
                                  SELECT part, name, count(*) AS views, {queries.METRICS['visitors']} AS visitors
                                  FROM cut_events WHERE name NOT IN ({queries.REQUEST_SQL}) GROUP BY part, {', '.join(GROUP)})
                              GROUP BY ALL""")
    if "slowest_routes" in ids:
        raw_times = f"""SELECT {queries.ROUTE_LABEL} AS label, method, route <> '' AS routed, {BUCKET} AS bucket,
                               count(*) AS n FROM requests WHERE duration_ms IS NOT NULL GROUP BY ALL UNION ALL"""
        cut_times = f"""UNION ALL SELECT label, method, routed, bucket, {_SIGN} * n FROM cut_times
                        WHERE list_contains(?, name) {human}"""
        times = f"""({raw_times if current.raw else ''}
                     SELECT label, method, routed, bucket, n FROM {routes} WHERE {requests.sql}
                     {cut_times if cuts else ''})"""
        quantiles = _histogram_quantiles(times, ("label", "method", "routed"), p50=False)
        parts.append(f"SELECT 'slowest_routes', {queries.ROUTE_KEY}, p95, mean, n FROM ({quantiles})")
        params += [*requests.params, *([queries.request_names(scope.name)] if cuts else [])]
    return queries.ranked(con, ctes, parts, params, ids, limit, summed, summed_params, limits)


def _cut_cards(scope: Scope, cut: Cut, cards: Sequence[str]) -> tuple[list[str], list[Any]]:
    """CTEs of what ``cut`` takes from its day's rows, and their parameters: ``cut_events``, the
    day's events (the scope's filters only: the rows count every event name, bots too) of the
    visitors with an event outside the piece, as ``part`` 0 (counted -1, see _SIGN), and again
    those of them inside it as ``part`` 1 (+1); ``cut_cards``, the signed rows of ``cards`` they
    make (name, is_bot, card, k, v1, v2), counted as the day's rows are (rollups.GROUP apart,
    keys the day folded as queries.OTHER: a visitor of a folded key is one of OTHER's there);
    ``cut_times``, their signed response times per route (labelled as the day's rows are).
    Every card is a sum over visitors, so the rows less part 0 plus part 1 are the piece's cards.
    A visitor's events outside the piece are a few hours of the day where the piece holds the
    rest: after a flood of unique values, the piece's events made 900,000 card rows."""
    base = queries.where(None, scope.filters, None, None)
    midnight = datetime.combine(cut.day, datetime.min.time())
    columns = ", ".join(dict.fromkeys([*GROUP, *queries.BREAKDOWN_COLUMNS]))
    kept = "SELECT DISTINCT name, is_bot, card, k FROM day_cards_all WHERE day = ?"
    ctes = [
        f"""cut_day AS MATERIALIZED (
                SELECT {columns} FROM events WHERE {base.sql} AND ts >= ? AND ts < ? AND visitor_id IN (
                    SELECT visitor_id FROM events WHERE {base.sql} AND (ts >= ? AND ts < ? OR ts >= ? AND ts < ?)))""",
        "cut_events AS (SELECT 0 AS part, * FROM cut_day UNION ALL SELECT 1, * FROM cut_day WHERE ts >= ? AND ts < ?)",
        "cut_pv AS (SELECT * FROM cut_events)",
        "cut_requests AS (SELECT * FROM cut_events)",
        f"cut_keys AS MATERIALIZED ({kept})",
    ]
    params: list[Any] = [*base.params, midnight, midnight + DAY, *base.params, midnight, cut.start, cut.end,
                         midnight + DAY, cut.start, cut.end, cut.day]
    dimension_ctes, parts = queries.dimension_sql(list(cards), [*GROUP, "part"], "cut_keys", prefix="cut_")
    ctes += dimension_ctes
    rows = " UNION ALL ".join(parts) if parts else "SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL WHERE FALSE"
    ctes.append(f"""cut_cards AS (SELECT name, is_bot, card, k, {_SIGN} * v1 AS v1, {_SIGN} * v2 AS v2
                                   FROM ({rows}) AS c ({', '.join(GROUP)}, part, card, k, v1, v2, v3))""")
    # As rollups fold the slowest routes of a day that folds a card: a route the routes card
    # does not keep is OTHER there (roll_events).
    ctes.append(f"""cut_times AS (
        SELECT t.name, t.is_bot, part, CASE WHEN f.k IS NULL AND (SELECT bool_or(k = '{queries.OTHER}') FROM cut_keys)
                                            THEN '{queries.OTHER}' ELSE label END AS label, method, routed, bucket, n
        FROM (SELECT part, name, is_bot, {queries.ROUTE_LABEL} AS label, method, route <> '' AS routed,
                     {BUCKET} AS bucket, count(*) AS n
              FROM cut_events WHERE duration_ms IS NOT NULL GROUP BY ALL) AS t
        LEFT JOIN cut_keys AS f ON f.card = 'routes' AND f.name = t.name AND f.is_bot = t.is_bot
                               AND f.k = {queries.ROUTE_KEY})""")
    return ctes, params


def properties(con: duckdb.DuckDBPyConnection, scope: Scope, limit: int,
               rolled: Collection[date] | None = None, live: Mapping[date, datetime] | None = None,
               ) -> tuple[int, list[BreakdownRow]]:
    """:func:`kero_core.goal_queries.properties`, from the rollups where they can answer."""
    current = plan(con, scope.start, scope.end, rolled, scope.goal, _live(con, scope, live)) if usable(scope) \
        else Plan([], [])
    if not current.days:
        return goal_queries.properties(con, scope, limit)
    one_event = scope.name != "http_req"  # else the custom events of every name
    raw, params = _raw_events(scope, [current], "name, visitor_id, labels", name=one_event)
    rolled = _rolled(scope, current.days, name=one_event)
    ctes, parts = [], []  # Today: its live rows alone
    if current.raw:
        ctes, part = goal_queries.property_sql(raw)
        parts = [part]
    rows = f"SELECT 'properties', k, events, visitors, NULL FROM {_table(scope, 'day_properties')} WHERE {rolled.sql}"
    found = queries.ranked(con, ctes, parts, params, ["properties"], limit, [rows], rolled.params)
    return goal_queries.property_rows(found["properties"])


def _conversions_usable(scope: Scope) -> bool:
    """Whether day_goals and day_funnels can answer the scope: human page views, no filter."""
    return scope.humans_only and not goal_queries.narrowed(scope)


def _goal_view(scope: Scope) -> bool:
    """Whether day_goal_goals can answer the Goals card of the scope: human page views filtered
    by a goal, and by no more than one country."""
    return scope.goal is not None and scope.name == PAGE_VIEW and usable(scope)


def goals(con: duckdb.DuckDBPyConnection, scope: Scope, goal_list: Sequence[Step],
          previous_start: datetime, rolled: Collection[date] | None = None) -> list[tuple[GoalCounts, GoalCounts]]:
    """:func:`kero_core.goal_queries.goals`, from the rollups where they can answer (day_goals,
    or day_goal_goals in a view filtered by a goal): each goal that every rolled-up day of both
    periods has, plus the events of the rest of the periods."""
    if not goal_list or not (_conversions_usable(scope) or _goal_view(scope)):
        return goal_queries.goals(con, scope, goal_list, previous_start)
    current = plan(con, scope.start, scope.end, rolled, scope.goal)
    previous = plan(con, previous_start, scope.start, rolled, scope.goal)
    days = previous.days + current.days
    if not days:
        return goal_queries.goals(con, scope, goal_list, previous_start)
    on_days = _on_days(days)
    texts = [g.text for g in goal_list]
    days_of = dict(con.execute(f"""SELECT goal, count(DISTINCT day) FROM day_goals
                                   WHERE {on_days.sql} AND list_contains(?, goal) GROUP BY goal""",
                               [*on_days.params, texts]).fetchall())
    rolled = {text for text in texts if days_of.get(text) == len(days)}
    if scope.goal is None:
        sums = f"SELECT goal, day >= ?, sum(visitors), sum(conversions) FROM day_goals WHERE {on_days.sql}"
        params = [scope.start, *on_days.params, texts]
    else:  # the goals among the converters of the scope's goal, of its country if it has one
        in_view = _rolled(scope, days, name=False, humans=False)
        sums = f"SELECT counted, day >= ?, sum(visitors), sum(conversions) FROM day_goal_goals WHERE {in_view.sql}"
        params = [scope.start, *in_view.params, texts]
    found = {(goal, cur): GoalCounts(int(v), int(c))
             for goal, cur, v, c in con.execute(f"{sums} AND list_contains(?, {'goal' if scope.goal is None else 'counted'}) "
                                                "GROUP BY ALL", params).fetchall() if goal in rolled}
    from_rollups = [g for g in goal_list if g.text in rolled]
    # The rest of both periods, one time range at a time (an OR of ranges defeats min/max pruning).
    for interval in _intervals([current, previous]) if from_rollups else []:
        within = queries.Where("ts >= ? AND ts < ?", interval)
        # The view's visitors of those days and the days either side (a visitor id lasts a day).
        seen = queries.Where("ts >= ? AND ts < ?", [interval[0] - DAY, interval[1] + DAY])
        for goal, (now, before) in zip(from_rollups, goal_queries.goals(con, scope, from_rollups, previous_start,
                                                                        within, seen)):
            for cur, counts in ((True, now), (False, before)):
                was = found.get((goal.text, cur), GoalCounts())
                found[(goal.text, cur)] = GoalCounts(was.visitors + counts.visitors, was.conversions + counts.conversions)
    others = [g for g in goal_list if g.text not in rolled]
    for goal, (now, before) in zip(others, goal_queries.goals(con, scope, others, previous_start)):
        found[(goal.text, True)], found[(goal.text, False)] = now, before
    return [(found.get((g.text, True), GoalCounts()), found.get((g.text, False), GoalCounts())) for g in goal_list]


def funnel(con: duckdb.DuckDBPyConnection, scope: Scope, definition: Funnel,
           rolled: Collection[date] | None = None) -> list[FunnelStep]:
    """:func:`kero_core.goal_queries.funnel`, from the rollups when every rolled-up day of the
    period has the funnel, plus the events of the rest of the period (each part on its own)."""
    if not _conversions_usable(scope):
        return goal_queries.funnel(con, scope, definition)
    current = plan(con, scope.start, scope.end, rolled)
    if not current.days:
        return goal_queries.funnel(con, scope, definition)
    on_days = _rolled(scope, current.days, name=False, humans=False)
    rows = con.execute(f"""SELECT step, sum(visitors), count(DISTINCT day) FROM day_funnels
                           WHERE {on_days.sql} AND funnel = ? GROUP BY step""",
                       [*on_days.params, funnel_key(definition)]).fetchall()
    if len(rows) != len(definition.steps) or any(n != len(current.days) for _, _, n in rows):
        return goal_queries.funnel(con, scope, definition)
    visitors = {int(step): int(v) for step, v, _ in rows}
    for start, end in current.raw:
        for i, step in enumerate(goal_queries.funnel(con, replace(scope, start=start, end=end), definition)):
            visitors[i] += step.visitors
    return [FunnelStep(visitors[i]) for i in range(len(definition.steps))]
