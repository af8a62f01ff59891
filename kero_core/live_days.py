"""Today's rollups, kept current at ingest: a view of today reads the day's rollup rows, as it
does for any rolled-up day, instead of grouping its events (the cards of a day's events took
most of Today's render, and all of it under a flood of unique values).

Every rollup row is a sum over visitors: distinct visitors of a key, page views, visits (a visit
is one visitor's), response times. So when a batch brings events of a live day, the day's rows
change by f(after) - f(before), where ``before`` is what the day already holds of the batch's
visitors (a sample of it that changes the difference in nothing, see SAMPLE), ``after`` the same
plus the batch's events of the day, and f the day's roll-up (:func:`kero_core.rollups.roll_events`)
of such a set. Both are small (the batch's visitors' events of one day, at most a few per
quarter of an hour and key), exact, and need no order: events arrive late and from several
spool files.
It runs in the ingest's transaction, so the rows never miss nor count twice a committed event;
if it fails (a bug, rows a crash left inconsistent), the day stops being live and the batch is
ingested without it: views then read the day's events, as before.

A day becomes live at the first ingest of its events while it is the clock's today (its rows
are then computed from what is stored, once) and stops being live when it is rolled up after
midnight, like every day (:func:`kero_core.rollups.roll_up` replaces its rows with the usual
ones: each card's 1,000 most frequent keys, goals and funnels). A live day's card keeps the first
CARD_KEYS keys it sees and counts the others in one queries.OTHER row (see _keep_keys), and a
view filtered by a goal reads the day from its events (live days have no goal twins). The lake
keeps no live days: its hosts commit concurrently, and its rows are rolled up by one of them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Sequence

import duckdb

from kero_core import queries, rollups
from kero_core.schema import COLUMN_NAMES

# What each view table sums (its other columns are the row's key).
VALUES = {
    "day_figures": ("visitors", "views", "errors"),
    "day_lengths": ("visits", "bounces"),
    "day_cards": ("v1", "v2"),
    "day_cards_all": ("v1", "v2"),
    "day_durations": ("n",),
    "day_routes": ("n",),
    "day_routes_all": ("n",),
    "day_properties": ("events", "visitors"),
    "day_hours": ("visitors", "views"),
}
assert set(VALUES) == set(rollups.VIEW_TABLES)
BEFORE, AFTER = "kero_live_before", "kero_live_after"  # the two sets' events, and their rows' tables
KEPT = "kero_live_kept"  # the keys the cards of the live day being updated keep (see _keep_keys)
# A live day's card keeps its first this many keys (rollups keep 1,000 of a finished day: the most
# frequent ones, which a day in progress cannot know yet): 300,000 events of a day of the
# synthetic site have 6,400 paths.
CARD_KEYS = 10 * rollups.CARD_KEYS

# ``before`` holds not every event the day has of the batch's visitors (a monitor, a crawler
# or a load test is one visitor of thousands of events a day: each update rolled them all up
# twice) but a sample that changes f(after) - f(before) in nothing, whatever the batch:
# - per visitor, group (rollups.GROUP: visits are counted within one) and quarter of an hour, its
#   first and last event. Two kept events that follow each other are then either less than 15
#   minutes apart or were next to each other among all the events, so the sample splits into
#   visits (queries.VISIT_GAP, 30 minutes) where all the events did, with or without the
#   batch's among them, and each visit keeps its first and last event: its length, its entry
#   and exit page, whether it bounced (one event or more). And every hour with an event keeps one.
#   (Among events of the same time, the first and last in the order of the visit cards.)
# - one event of each combination of the columns a card, a property or a figure is keyed by
#   (all but the time and the measures): whether the visitor already counts for a key.
# The other events count the same in f(after) and f(before) (page views, response times,
# property events): they cancel out.
QUARTER = timedelta(minutes=15)
assert QUARTER < queries.VISIT_GAP and timedelta(hours=1) % QUARTER == timedelta(0)
_QUARTER = f"visitor_id, {', '.join(rollups.GROUP)}, time_bucket(INTERVAL {QUARTER.seconds} SECOND, ts)"
_ORDER = ", ".join(("ts", *queries.VISIT_KEYS, "kero_row"))  # the visit cards' order (queries.visit_marks), then any
_KEYED = ", ".join(c for c in COLUMN_NAMES if c not in ("ts", "duration_ms", "value"))
# The sample of the events in ``mine`` (with their rowid as kero_row): one pass of three
# aggregates (row_number() windows over the same rows took three times as long).
SAMPLE = f"""SELECT * EXCLUDE (kero_row) FROM mine WHERE kero_row IN (
                 SELECT arg_min(kero_row, ({_ORDER})) FROM mine GROUP BY {_QUARTER}
                 UNION ALL SELECT arg_max(kero_row, ({_ORDER})) FROM mine GROUP BY {_QUARTER}
                 UNION ALL SELECT min(kero_row) FROM mine GROUP BY {_KEYED})"""


@dataclass
class Update:
    """What an ingest does to the live days: the days it starts (rolled up whole once the batch
    is in) and those it updates (their ``before`` rows are computed before the batch goes in)."""

    files: list[str]
    live: dict[date, datetime]
    start: list[date] = field(default_factory=list)
    update: list[date] = field(default_factory=list)
    newest: dict[date, datetime] = field(default_factory=dict)


def create_v11(con: duckdb.DuckDBPyConnection) -> None:
    """Schema version 11: today's rollups are kept current at ingest (the live days, recorded in
    ``meta``). Nothing to create; the version goes up so that a Kero which does not keep them (an
    older one, during a rolling deploy) cannot ingest into the database: the live rows would miss
    its events. It refuses the newer schema, and its events wait in the spool for a newer one."""


def before_insert(con: duckdb.DuckDBPyConnection, files: Sequence[Path], today: date) -> Update:
    """Inside the ingest's transaction, before the events of ``files`` go in: which live days
    they touch, with each one's ``before`` rows computed (see the module docstring)."""
    update = Update([str(f) for f in files], rollups.live_days(con))
    rolled = {r[0] for r in con.execute("SELECT day FROM rollup_days WHERE rolled").fetchall()}
    for day, newest in con.execute("SELECT ts::DATE, max(ts) FROM read_parquet(?) GROUP BY ALL", [update.files]).fetchall():
        update.newest[day] = newest
        if day in update.live:
            update.update.append(day)
        elif day == today and day not in rolled:
            update.start.append(day)
    for day in update.update:
        span = rollups.day_span(day)
        con.execute(f"""CREATE OR REPLACE TEMP TABLE {BEFORE}_{day:%Y%m%d} AS
                        WITH mine AS (SELECT *, rowid AS kero_row FROM events WHERE ts >= ? AND ts < ? AND visitor_id IN (
                                          SELECT visitor_id FROM read_parquet(?) WHERE ts >= ? AND ts < ?))
                        {SAMPLE}""",
                    [*span, update.files, *span])
    return update


def after_insert(con: duckdb.DuckDBPyConnection, update: Update) -> None:
    """Inside the ingest's transaction, once the events are in: the started days rolled up
    whole, the updated ones changed by f(after) - f(before), and the live days recorded.
    (Temporary tables go with the session's connection.)"""
    for day in update.start:
        for table in rollups.TABLES:
            con.execute(f"DELETE FROM {table} WHERE day = ?", [day])
        rollups.roll_events(con, day, rollups.Into(keys=CARD_KEYS))
        update.live[day] = con.execute("SELECT max(ts) FROM events WHERE ts >= ? AND ts < ?",
                                       rollups.day_span(day)).fetchone()[0]
    columns = ", ".join(COLUMN_NAMES)
    for day in update.update:
        span, before = rollups.day_span(day), f"{BEFORE}_{day:%Y%m%d}"
        after = f"{AFTER}_{day:%Y%m%d}"
        con.execute(f"CREATE OR REPLACE TEMP TABLE {after} AS SELECT * FROM {before}")
        con.execute(f"INSERT INTO {after} ({columns}) SELECT {columns} FROM read_parquet(?) WHERE ts >= ? AND ts < ?",
                    [update.files, *span])
        kept = _keep_keys(con, day, after, before)
        seen = con.execute(f"SELECT count(*) FROM {before}").fetchone()[0] > 0  # else f(before) is nothing
        for name, events in ((BEFORE, before), (AFTER, after)) if seen else ((AFTER, after),):
            for table in rollups.VIEW_TABLES:
                con.execute(f"CREATE OR REPLACE TEMP TABLE {name}_{table} AS SELECT * FROM {table} LIMIT 0")
            rollups.roll_events(con, day, rollups.Into(events, rows=name, keys=CARD_KEYS, kept=kept))
        for table in _with_rows(con):
            _merge(con, table, day, seen)
        update.live[day] = max(update.live[day], update.newest[day])
    if update.start or update.update:
        rollups.save_live_days(con, update.live)


def _keep_keys(con: duckdb.DuckDBPyConnection, day: date, events: str, before: str) -> str | None:
    """The keys each card of the live ``day`` keeps, as the name of a temporary table (KEPT),
    or None when no card can fold with ``events`` added: those of its rows, and among
    ``events``' keys it does not have yet, as many as it has room for below CARD_KEYS (the most
    frequent first), unless it folds already (it has a queries.OTHER row): a key past that is
    counted in the OTHER row for the rest of the day. So a card's keys are the first CARD_KEYS
    of the day, kept from then on, and a flood of unique values costs one row. The table lists
    only the keys the cards of ``events`` or of ``before`` (their visitors' events the day held
    already) have: the fold joins it, and a folding day's 10,000 keys per card made the update's
    cards cost 20 times those of the batch. (Not those of ``events`` alone: the day's rows may
    hold a key only ``before`` has, e.g. the exit page of a visit that went on.)"""
    kept = "(SELECT name, is_bot, card, k FROM day_cards_all WHERE day = ?)"  # one row per key
    sizes = f"SELECT name, is_bot, card, count(*) AS n, bool_or(k = ?) AS folding FROM {kept} GROUP BY ALL"
    most, folding = con.execute(f"SELECT coalesce(max(n), 0), coalesce(bool_or(folding), false) FROM ({sizes})",
                                [queries.OTHER, day]).fetchone()
    if not folding and most + con.execute(f"SELECT count(*) FROM {events}").fetchone()[0] <= CARD_KEYS:
        return None  # an event brings a card one key at most
    new = f"{KEPT}_new"
    con.execute(f"CREATE OR REPLACE TEMP TABLE {new}_day_cards AS SELECT * FROM day_cards LIMIT 0")
    for counted in (events, before):
        rollups.cards(con, rollups.Into(counted, rows=new), day, rollups.day_span(day))
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {KEPT} AS
        WITH kept AS {kept}, sizes AS ({sizes}),
             seen AS (SELECT name, is_bot, card, k, sum(v1) AS v FROM {new}_day_cards AS c
                      WHERE NOT EXISTS (SELECT 1 FROM kept WHERE kept.name = c.name AND kept.is_bot = c.is_bot
                                                            AND kept.card = c.card AND kept.k = c.k)
                      GROUP BY ALL)
        SELECT * FROM kept WHERE EXISTS (SELECT 1 FROM {new}_day_cards AS c WHERE c.name = kept.name
                                          AND c.is_bot = kept.is_bot AND c.card = kept.card AND c.k = kept.k)
        UNION ALL
        SELECT name, is_bot, card, k FROM seen LEFT JOIN sizes USING (name, is_bot, card)
        WHERE NOT coalesce(folding, false)
        QUALIFY row_number() OVER (PARTITION BY name, is_bot, card ORDER BY v DESC, k) <= ? - coalesce(n, 0)""",
                [day, queries.OTHER, day, CARD_KEYS])
    return KEPT


def _with_rows(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The view tables for which ``after`` has rows, in one statement: the others cannot change
    (response times when requests are not measured, properties without labels), and a MERGE of
    nothing still cost about 5 ms of planning each. (``before``'s events are among ``after``'s,
    and an event that gives a table a row gives it one in any set it is in.)"""
    counted = " UNION ALL ".join(f"SELECT '{table}', count(*) FROM {AFTER}_{table}" for table in rollups.VIEW_TABLES)
    found = {table for table, rows in con.execute(counted).fetchall() if rows}
    return [table for table in rollups.VIEW_TABLES if table in found]


def _merge(con: duckdb.DuckDBPyConnection, table: str, day: date, seen: bool) -> None:
    """Add ``{AFTER}_{table}``'s rows less ``{BEFORE}_{table}``'s (none unless ``seen``) to
    ``table``'s rows of ``day``, key by key (a row whose sums all come to zero goes), in one
    MERGE. A sum below zero means the rows were not what the events say: the cast fails, and
    with it the ingest's transaction (see the module docstring)."""
    values = VALUES[table]
    keys = [c for c in _columns(con, table) if c not in values]
    key_list = ", ".join(keys)
    rows = f"SELECT {key_list}, {', '.join(values)} FROM {AFTER}_{table}"
    if seen:
        rows += f" UNION ALL SELECT {key_list}, {', '.join(f'-({v}::BIGINT)' for v in values)} FROM {BEFORE}_{table}"

    def same(a: str, b: str) -> str:
        return " AND ".join(f"{a}.{k} IS NOT DISTINCT FROM {b}.{k}" for k in keys)

    con.execute(f"""MERGE INTO {table} AS t USING (
                        WITH d AS (SELECT {key_list}, {', '.join(f'sum({v})::BIGINT AS {v}' for v in values)}
                                   FROM ({rows}) GROUP BY ALL HAVING {' OR '.join(f'sum({v}) <> 0' for v in values)})
                        SELECT {', '.join(f'd.{k}' for k in keys)},
                               {', '.join(f'(coalesce(o.{v}, 0) + d.{v})::UBIGINT AS {v}' for v in values)}
                        FROM d LEFT JOIN (SELECT * FROM {table} WHERE day = ?) AS o ON {same('o', 'd')}) AS n
                    ON t.day = ? AND {same('t', 'n')}
                    WHEN MATCHED AND NOT coalesce({' OR '.join(f'n.{v} <> 0' for v in values)}, false) THEN DELETE
                    WHEN MATCHED THEN UPDATE SET {', '.join(f'{v} = n.{v}' for v in values)}
                    WHEN NOT MATCHED THEN INSERT ({key_list}, {', '.join(values)})
                                          VALUES ({', '.join(f'n.{c}' for c in (*keys, *values))})""", [day, day])


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [d[0] for d in con.execute(f"SELECT * FROM {table} LIMIT 0").description]
