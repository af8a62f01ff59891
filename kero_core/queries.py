"""Every read query of Kero's public API. All SQL of the read side lives here.

Filters are a dict of dimension -> value (a key ending in ``!=`` negates). Dimensions are checked
against :data:`DIMENSIONS` and values are always bound parameters, never spliced into SQL."""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator, Mapping, NamedTuple, Sequence

import duckdb

from kero_core.capture import PAGE_VIEW, REQUEST_NAMES
from kero_core.schema import COLUMN_NAMES, Event

Filters = Mapping[str, Any]
TimeArg = datetime | float | int | None


def _as_status(value: Any) -> int:
    try:
        status = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"status filter must be an HTTP status code, got {value!r}") from None
    if not 0 <= status < 1000:
        raise ValueError(f"status filter must be an HTTP status code, got {value!r}")
    return status


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).lower()
    if text in ("1", "true", "yes"):
        return True
    if text in ("0", "false", "no"):
        return False
    raise ValueError(f"is_bot filter must be true or false, got {value!r}")


# dimension -> converter of the filter value (the SQL column has the dimension's name)
DIMENSIONS: dict[str, Callable[[Any], Any]] = {
    **{
        name: str
        for name in (
            "name", "method", "path", "route", "browser", "browser_version", "os", "os_version",
            "device", "form_factor", "referrer", "referrer_domain", "utm_source", "utm_medium",
            "utm_campaign", "utm_term", "utm_content", "click_id", "country", "region", "city",
        )
    },
    "status": _as_status,
    "is_bot": _as_bool,
}
PROPERTY = "prop."  # a filter or dimension "prop.<key>": the label <key> of custom events
MAX_PROPERTY_KEY = 256


def property_path(dimension: str) -> str:
    """The JSON path (a bound parameter) of the label a ``prop.<key>`` dimension names."""
    key = dimension[len(PROPERTY):]
    if not key or len(key) > MAX_PROPERTY_KEY or any(c in key for c in '"\\') or any(ord(c) < 32 for c in key):
        raise ValueError(f"{dimension[:60]!r} must be prop.<key>, the key 1 to {MAX_PROPERTY_KEY} characters without quotes, backslashes or control characters")
    return f'$."{key}"'


def is_property(dimension: str) -> bool:
    return dimension.startswith(PROPERTY)


# A label's value as text ('' when the event has no such label); labels is '' without labels.
PROPERTY_SQL = "coalesce(json_extract_string(nullif(labels, ''), ?), '')"
METRICS = {
    "visitors": "count(DISTINCT visitor_id) FILTER (WHERE visitor_id <> 0)",
    "events": "count(*)",
    "avg_duration": "avg(duration_ms)",
    "p95_duration": "quantile_cont(duration_ms, 0.95)",
}
HISTOGRAM_METRICS = ("events", "visitors")


def to_utc(value: TimeArg) -> datetime | None:
    """An aware datetime, naive UTC datetime or unix seconds, as the naive UTC stored in ts."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, timezone.utc).replace(tzinfo=None)
    raise ValueError(f"times must be datetimes or unix seconds, got {value!r}")


@dataclass(frozen=True)
class Where:
    """A WHERE clause and its bound parameters."""

    sql: str
    params: list[Any]


def where(name: str | None, filters: Filters | None, start: TimeArg, end: TimeArg) -> Where:
    clauses: list[str] = []
    params: list[Any] = []
    if name is not None:
        clauses.append("name = ?")
        params.append(name)
    for key, value in (filters or {}).items():
        negate = key.endswith("!=")
        dimension = key[:-2] if negate else key
        if is_property(dimension):
            clauses.append(f"{PROPERTY_SQL} IS DISTINCT FROM ?" if negate else f"{PROPERTY_SQL} = ?")
            params += [property_path(dimension), str(value)]
            continue
        if dimension not in DIMENSIONS:
            raise ValueError(f"unknown filter dimension {dimension!r}; known: {', '.join(sorted(DIMENSIONS))}")
        clauses.append(f"{dimension} IS DISTINCT FROM ?" if negate else f"{dimension} = ?")
        params.append(DIMENSIONS[dimension](value))
    start_dt, end_dt = to_utc(start), to_utc(end)
    if start_dt is not None:
        clauses.append("ts >= ?")
        params.append(start_dt)
    if end_dt is not None:
        clauses.append("ts < ?")
        params.append(end_dt)
    return Where(" AND ".join(clauses) or "TRUE", params)


def count(con: duckdb.DuckDBPyConnection, w: Where) -> int:
    return int(con.execute(f"SELECT count(*) FROM events WHERE {w.sql}", w.params).fetchone()[0])


def count_visitors(con: duckdb.DuckDBPyConnection, w: Where) -> int:
    sql = f"SELECT {METRICS['visitors']} FROM events WHERE {w.sql}"
    return int(con.execute(sql, w.params).fetchone()[0])


def events(con: duckdb.DuckDBPyConnection, w: Where, limit: int) -> list[Event]:
    rows = con.execute(
        f"SELECT {', '.join(COLUMN_NAMES)} FROM events WHERE {w.sql} ORDER BY ts DESC LIMIT ?",
        [*w.params, max(0, int(limit))],
    ).fetchall()
    return [_event(row) for row in rows]


def _event(row: tuple[Any, ...]) -> Event:
    values = dict(zip(COLUMN_NAMES, row))
    values["ts"] = values["ts"].replace(tzinfo=timezone.utc)
    values["labels"] = json.loads(values["labels"]) if values["labels"] else {}
    values["duration_ms"] = None if values["duration_ms"] is None else float(values["duration_ms"])
    return Event(**values)


def top(
    con: duckdb.DuckDBPyConnection, dimension: str, w: Where, metric: str, limit: int
) -> list[tuple[str, float]]:
    if is_property(dimension):
        return _top_property(con, dimension, w, metric, limit)
    if dimension not in DIMENSIONS:
        raise ValueError(f"unknown dimension {dimension!r}; known: {', '.join(sorted(DIMENSIONS))}")
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")
    label = "method || ' ' || route" if dimension == "route" else f"CAST({dimension} AS VARCHAR)"
    having = "route <> ''" if dimension == "route" else f"{dimension} IS NOT NULL AND CAST({dimension} AS VARCHAR) <> ''"
    if metric in ("avg_duration", "p95_duration"):
        having += " AND duration_ms IS NOT NULL"
    sql = (
        f"SELECT {label} AS label, {METRICS[metric]} AS m FROM events WHERE {w.sql} AND {having} "
        "GROUP BY label ORDER BY m DESC, label LIMIT ?"
    )
    rows = con.execute(sql, [*w.params, max(0, int(limit))]).fetchall()
    return [(str(r[0]), float(r[1]) if metric.endswith("duration") else int(r[1])) for r in rows]


def _top_property(con: duckdb.DuckDBPyConnection, dimension: str, w: Where, metric: str, limit: int) -> list[tuple[str, float]]:
    """The top values of a label (``prop.plan``) among the events of ``w`` that have it."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")
    path = property_path(dimension)
    sql = (
        f"SELECT label, {METRICS[metric]} AS m FROM (SELECT {PROPERTY_SQL} AS label, * FROM events WHERE {w.sql}) "
        "WHERE label <> '' GROUP BY label ORDER BY m DESC, label LIMIT ?"
    )
    rows = con.execute(sql, [path, *w.params, max(0, int(limit))]).fetchall()
    return [(str(r[0]), float(r[1]) if metric.endswith("duration") else int(r[1])) for r in rows]


def bucket_unit(start: datetime, end: datetime) -> str:
    """Kero's bucket size: up to 3 days hours, up to 31 days days, up to 93 weeks, up to ten
    years months (at most 121 buckets), else years (a history imported from old logs)."""
    span = end - start
    if span <= timedelta(days=3):
        return "hour"
    if span <= timedelta(days=31):
        return "day"
    if span <= timedelta(days=93):
        return "week"
    if span <= timedelta(days=3660):
        return "month"
    return "year"


def _truncate(moment: datetime, unit: str) -> datetime:
    if unit == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "day":
        return day
    if unit == "week":
        return day - timedelta(days=day.weekday())
    if unit == "year":
        return day.replace(month=1, day=1)
    return day.replace(day=1)


def _next(moment: datetime, unit: str) -> datetime:
    if unit == "year":
        return moment.replace(year=moment.year + 1)
    if unit == "month":
        return moment.replace(year=moment.year + moment.month // 12, month=moment.month % 12 + 1)
    return moment + {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}[unit]


def buckets(start: datetime, end: datetime) -> tuple[str, list[datetime]]:
    """The unit and every bucket start (naive UTC) covering [start, end)."""
    unit = bucket_unit(start, end)
    moment, out = _truncate(start, unit), []
    while moment < end:
        out.append(moment)
        moment = _next(moment, unit)
    return unit, out or [_truncate(start, unit)]


def first_event_time(con: duckdb.DuckDBPyConnection, name: str | None) -> datetime | None:
    w = where(name, None, None, None)
    return con.execute(f"SELECT min(ts) FROM events WHERE {w.sql}", w.params).fetchone()[0]


def histogram(
    con: duckdb.DuckDBPyConnection, name: str | None, filters: Filters | None,
    start: datetime, end: datetime, metric: str,
) -> list[tuple[datetime, int]]:
    if metric not in HISTOGRAM_METRICS:
        raise ValueError(f"histogram metric must be one of {', '.join(HISTOGRAM_METRICS)}, got {metric!r}")
    unit, starts = buckets(start, end)
    w = where(name, filters, start, end)
    # The unit is one of four literals chosen above, never user input.
    sql = (
        f"SELECT date_trunc('{unit}', ts) AS b, {METRICS[metric]} FROM events WHERE {w.sql} GROUP BY b"
    )
    found = {row[0]: int(row[1]) for row in con.execute(sql, w.params).fetchall()}
    return [(b.replace(tzinfo=timezone.utc), found.get(b, 0)) for b in starts]


# -- the dashboard -----------------------------------------------------------------------------------
# A render issues four statements (figures, series, breakdowns, realtime), each scanning the time
# range once, whatever the number of cards or buckets. They take a Scope, so a later version can
# answer whole past days from rollups without touching the dashboard.

VISIT_GAP = timedelta(minutes=30)  # a gap this long or longer between two page views starts a new visit


@dataclass(frozen=True)
class Scope:
    """What a dashboard view covers: page views (or the events called ``name``) matching
    ``filters`` in ``[start, end)``. Bots and HTTP libraries are left out unless ``humans_only``
    is false: they have their own card, and would otherwise swamp a small site's figures."""

    name: str
    filters: Filters
    start: datetime
    end: datetime
    humans_only: bool = True
    goal: Any = None  # a kero_core.goals.Step: only visitors who completed it (?goal=)

    def where(self, start: datetime | None = None) -> Where:
        """The scope's WHERE clause, from ``start`` (default: the scope's own start) to its end."""
        filters = {**self.filters, "is_bot": False} if self.humans_only else self.filters
        return self.with_goal(where(self.name, filters, self.start if start is None else start, self.end), start)

    def with_goal(self, w: Where, start: datetime | None = None) -> Where:
        """``w`` narrowed to the visitors who completed the scope's goal, if it has one."""
        if self.goal is None:
            return w
        from kero_core.goal_queries import goal_where  # it imports this module

        g = goal_where(self.goal, self.start if start is None else start, self.end, self.humans_only)
        return Where(f"{w.sql} AND {g.sql}", [*w.params, *g.params])


def visit_marks(source: str, by: Sequence[str] = (), where: str = "visitor_id <> 0", ties: Sequence[str] = ()) -> str:
    """The rows of ``source`` with two flags: ``entry`` (first page view of a visit) and ``exit``
    (last one). A visit is the page views of one visitor id (and of the same ``by`` columns)
    with gaps under VISIT_GAP. One window ordered by visitor and time, without PARTITION BY:
    DuckDB handles one sort much faster than thousands of tiny partitions. Page views of the
    same time (whole-second log times) are ordered by ``ties``: the entry and exit among them
    are those of the first and last values, not whichever the sort meets first."""
    gap = int(VISIT_GAP.total_seconds())
    keys = [*by, "visitor_id"]
    after = " AND ".join(f"lag({k}) OVER w = {k}" for k in keys)
    before = " AND ".join(f"lead({k}) OVER w = {k}" for k in keys)
    return f"""
        SELECT *, NOT coalesce({after} AND ts - lag(ts) OVER w < INTERVAL {gap} SECOND, false) AS entry,
                  NOT coalesce({before} AND lead(ts) OVER w - ts < INTERVAL {gap} SECOND, false) AS exit
        FROM {source} WHERE {where}
        WINDOW w AS (ORDER BY {', '.join([*keys, "ts", *ties])})"""


def visit_lengths(marked: str, by: Sequence[str]) -> str:
    """One row per visit of ``marked`` (rows flagged by :func:`visit_marks` with the same
    ``by``): its ``by`` columns, whether it bounced, and its length in seconds. A visit's length
    is its exit's time less its entry's, in whole seconds (what the dashboard shows; it keeps a
    month of per-day rollups to a few thousand lengths): among the rows that are an entry or an
    exit, the row before a (non-entry) exit is its visit's entry."""
    return f"""SELECT {', '.join(by)}, entry AND exit AS bounce,
            CASE WHEN entry THEN 0 ELSE round(epoch(ts - lag(ts) OVER (ORDER BY {_exits_last(by)}))) END AS seconds
        FROM {marked} WHERE entry OR exit QUALIFY exit"""


def visits(marked: str, by: Sequence[str]) -> str:
    """As :func:`visit_lengths`, with the visitor id and the times of the visit's first and last
    page views (``start``, ``stop``) instead of its length. (Lengths computed from these cost an
    ingest into a live day up to a fifth more CPU: benchmarks/live_ingest.py.)"""
    start = f"CASE WHEN entry THEN ts ELSE lag(ts) OVER (ORDER BY {_exits_last(by)}) END"
    return f"""SELECT {', '.join(by)}, visitor_id, {start} AS start, ts AS stop, entry AND exit AS bounce
        FROM {marked} WHERE entry OR exit QUALIFY exit"""


def _exits_last(by: Sequence[str]) -> str:
    """The order in which a visit's entry comes just before its exit (a tie, whole-second log
    times: entry first)."""
    return ", ".join([*by, "visitor_id", "ts", "exit"])


@dataclass(frozen=True)
class Figures:
    """The key figures of one period. Durations are None when nothing measured them."""

    visitors: int = 0
    views: int = 0
    visits: int = 0
    bounces: int = 0  # visits of a single page view
    median_visit_seconds: float | None = None
    errors: int = 0  # page views answered with a 5xx status
    p50_ms: float | None = None
    p95_ms: float | None = None


def figures(con: duckdb.DuckDBPyConnection, scope: Scope, previous_start: datetime) -> tuple[Figures, Figures]:
    """The figures of the scope and of the period ``[previous_start, scope.start)`` before it."""
    w = scope.where(previous_start)
    sql = f"""
        WITH e AS MATERIALIZED (
            SELECT ts >= ? AS cur, ts, visitor_id, status, duration_ms FROM events WHERE {w.sql}),
        marked AS ({visit_marks("e", ["cur"])}),
        lengths AS ({visit_lengths("marked", ["cur"])}),
        v AS (SELECT cur, count(*) AS visits, count(*) FILTER (WHERE bounce) AS bounces, median(seconds) AS duration
              FROM lengths GROUP BY cur),
        t AS (SELECT cur, {METRICS['visitors']} AS visitors, count(*) AS views,
                     count(*) FILTER (WHERE status >= 500) AS errors,
                     quantile_cont(duration_ms, 0.5) AS p50, quantile_cont(duration_ms, 0.95) AS p95
              FROM e GROUP BY cur)
        SELECT t.cur, visitors, views, coalesce(visits, 0), coalesce(bounces, 0), duration, errors, p50, p95
        FROM t LEFT JOIN v USING (cur)"""
    found = {row[0]: Figures(*row[1:]) for row in con.execute(sql, [scope.start, *w.params]).fetchall()}
    return found.get(True, Figures()), found.get(False, Figures())


@contextmanager
def snapshot(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Reads in one transaction: they all see the same data (on the lake, where other hosts
    commit meanwhile, one snapshot; its catalog is also read once rather than per statement)."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    finally:
        con.execute("ROLLBACK")  # nothing was written; also ends a transaction a failed read aborted


def has_events(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether anything at all is stored (to tell an empty site from an empty view)."""
    return con.execute("SELECT EXISTS (SELECT 1 FROM events)").fetchone()[0]


@dataclass(frozen=True)
class Bucket:
    """Visitors and page views of one chart bucket, and of the same bucket one period earlier."""

    start: datetime
    visitors: int
    views: int
    previous_visitors: int
    previous_views: int


def overlay_shift(length: timedelta, unit: str) -> timedelta:
    """How far the previous period's events move to overlay the chart's buckets: the period's
    length, rounded to whole hours on an hourly chart, so an hour of the period before lines up
    with one bucket (a view ends a microsecond after "now": without rounding, an event in the
    last microsecond of an hour would move to the next bucket)."""
    if unit != "hour":
        return length
    return round(length / timedelta(hours=1)) * timedelta(hours=1)


def series(con: duckdb.DuckDBPyConnection, scope: Scope, previous_start: datetime) -> tuple[str, list[Bucket]]:
    """The scope's buckets (as :func:`buckets` cuts them) with the previous period overlaid:
    previous events are shifted by one period length, so bucket i of both lines up."""
    unit, starts = buckets(scope.start, scope.end)
    w = scope.where(previous_start)
    shift = overlay_shift(scope.start - previous_start, unit)
    # The unit is one of four literals chosen by bucket_unit(), never user input.
    sql = f"""
        SELECT ts >= ? AS cur, date_trunc('{unit}', CASE WHEN ts >= ? THEN ts ELSE ts + ? END) AS b,
               {METRICS['visitors']}, count(*)
        FROM events WHERE {w.sql} GROUP BY ALL"""
    return unit, overlaid(con.execute(sql, [scope.start, scope.start, shift, *w.params]).fetchall(), starts)


def overlaid(rows: Sequence[tuple[bool, datetime, int, int]], starts: Sequence[datetime]) -> list[Bucket]:
    """The chart's buckets from (current or not, bucket start, visitors, views) rows: each of
    ``starts`` with the period's counts and those of the period before moved onto it."""
    found = {(cur, b): (int(v), int(n)) for cur, b, v, n in rows}
    return [Bucket(b, *found.get((True, b), (0, 0)), *found.get((False, b), (0, 0))) for b in starts]


# A request's route: plain WSGI apps have no routes, so their path stands in; a 404 without a route
# (a path the app does not know, most often a probe) counts as the one route NOT_FOUND_ROUTE, not as
# thousands of one-off routes (they are listed in the not-found card).
NOT_FOUND_ROUTE = "(not found)"
# The row of a card that stands for the keys past the CARD_KEYS most frequent of a day (see
# kero_core.rollups): its counts are the exact sums of theirs, so a flood of unique values costs
# one row, not one per value. Its key starts with a control character, which no tracked value
# holds (enrichment removes them): a visit with ``?utm_source=(other)`` is a key of its own, not
# the folded row (before schema 12 it was, and it froze the card's keys of a live day). Shown as
# OTHER_LABEL.
OTHER = "\x1e(other)"
OTHER_LABEL = "(other)"
ROUTE_LABEL = f"CASE WHEN route <> '' THEN route WHEN status = 404 THEN '{NOT_FOUND_ROUTE}' ELSE path END"
_ROUTE_KEY = (ROUTE_LABEL, "method", "(route <> '')::VARCHAR")  # the last key tells a route from a path


@dataclass(frozen=True)
class Dimension:
    """A card that groups the scope's page views by a key (SQL expressions chosen here, never
    user input; the first one is the label), counting those where ``where`` holds."""

    key: tuple[str, ...]
    where: str = "TRUE"
    visitors: bool = True  # values: distinct visitors, then page views; else page views only
    of_visitor: bool = False  # derived from the IP or the User-Agent, which the visitor id hashes
    requests: bool = False  # counts every request (a form's POST too), not only page views


# SQL lists of event names (constants, never user input): the requests that are no custom event.
REQUEST_SQL = ", ".join(f"'{name}'" for name in REQUEST_NAMES)


def request_names(name: str) -> list[str]:
    """The event names a scope of ``name`` counts in its request cards (routes, statuses):
    every request for page views, the events themselves otherwise."""
    return list(REQUEST_NAMES) if name == PAGE_VIEW else [name]


_VISITOR_COLUMNS = ("country", "region", "city", "browser", "os", "form_factor")
DIMENSION_BREAKDOWNS: dict[str, Dimension] = {
    "pages": Dimension(("path",)),
    "entry_pages": Dimension(("path",), "entry AND visitor_id <> 0", visitors=False),  # page views: visits
    "exit_pages": Dimension(("path",), "exit AND visitor_id <> 0", visitors=False),
    "referrers": Dimension(("referrer_domain",), "entry"),  # where visits come from, not internal clicks
    "referrer_urls": Dimension(("referrer",), "referrer <> ''"),
    "utm_sources": Dimension(("utm_source",), "utm_source <> ''"),
    "utm_mediums": Dimension(("utm_medium",), "utm_medium <> ''"),
    "utm_campaigns": Dimension(("utm_campaign",), "utm_campaign <> ''"),
    "countries": Dimension(("country",), of_visitor=True),
    "regions": Dimension(("region", "country"), "region <> ''", of_visitor=True),
    "cities": Dimension(("city", "country"), "city <> ''", of_visitor=True),
    "browsers": Dimension(("browser",), of_visitor=True),
    "operating_systems": Dimension(("os",), of_visitor=True),
    "form_factors": Dimension(("form_factor",), of_visitor=True),
    "routes": Dimension(_ROUTE_KEY, visitors=False, requests=True),
    "status_codes": Dimension(("CAST(status AS VARCHAR)",), visitors=False, requests=True),
    "not_found": Dimension(("path",), "status = 404", visitors=False, requests=True),
}
VISIT_BREAKDOWNS = ("entry_pages", "exit_pages", "referrers")  # these need the visit marks
# Cards with their own aggregate: card id -> SELECT of (key, v1 (sorts), v2, v3).
# The slowest routes group by the key's columns and join them into one text afterwards: building
# the text for every page view first took half of a month's render at 10M events.
OTHER_BREAKDOWNS: dict[str, str] = {
    "slowest_routes": """SELECT {key}, * EXCLUDE (label, method, routed) FROM (
                             SELECT {route} AS label, method, route <> '' AS routed, quantile_cont(duration_ms, 0.95),
                                    avg(duration_ms), count(*) FROM requests WHERE duration_ms IS NOT NULL GROUP BY ALL)""",
    "bots": f"SELECT browser, count(*), {METRICS['visitors']}, NULL FROM bots GROUP BY ALL",
    "custom_events": f"SELECT name, count(*), {METRICS['visitors']}, NULL FROM custom GROUP BY ALL",
}
BREAKDOWNS = (*DIMENSION_BREAKDOWNS, *OTHER_BREAKDOWNS)
_KEY_PARTS = {i: len(d.key) for i, d in DIMENSION_BREAKDOWNS.items()} | {
    "slowest_routes": len(_ROUTE_KEY), "release_routes": len(_ROUTE_KEY)}
VISIT_KEYS = ("path", "referrer_domain")  # the visit cards' keys (of a visit's entry or exit)
_VISIT_COLUMNS = ("ts", "visitor_id", *VISIT_KEYS)  # what the visit cards read
BREAKDOWN_COLUMNS = (
    "ts", "name", "is_bot", "visitor_id", "method", "path", "route", "status", "duration_ms", "browser", "os",
    "form_factor", "referrer", "referrer_domain", "utm_source", "utm_medium", "utm_campaign", "country", "region", "city",
)


def _key_sql(parts: Sequence[str]) -> str:
    """A key as one text: grouping by text is several times faster than by lists or JSON. The
    parts after the label (an HTTP method, a flag, a country code: never a control character)
    come first, joined by the unit separator, so the label may hold anything."""
    return parts[0] if len(parts) == 1 else f"concat_ws(chr(31), {', '.join(parts[1:])}, {parts[0]})"


def _key(card: str, text: str) -> tuple[str, ...]:
    """The key tuple (label first) of a key made by :func:`_key_sql`."""
    *extra, label = text.split("\x1f", _KEY_PARTS.get(card, 1) - 1)
    return (label, *extra)


def _column_sql(d: Dimension) -> str:
    """The key where the card counts the row, else NULL. Planning is most of a small site's
    render, so the cheapest expression that does it: the key alone, or NULLIF for "not empty"."""
    if d.where == "TRUE":
        return _key_sql(d.key)
    if d.where == f"{d.key[0]} <> ''" and len(d.key) == 1:
        return f"nullif({d.key[0]}, '')"
    return f"CASE WHEN {d.where} THEN {_key_sql(d.key)} END"


def _keyed(source: str, ids: Sequence[str], extra: str, fold: str | None = None) -> str:
    """One row per (page view or visitor, card) with the card's key: an UNPIVOT of one column
    per card, NULL where the card does not count the row (UNPIVOT drops NULLs). With ``fold``
    (a table of the (name, is_bot, card, k) to keep), every other key becomes :data:`OTHER`."""
    columns = ", ".join(f"{_column_sql(DIMENSION_BREAKDOWNS[i])} AS {i}" for i in ids)
    keyed = f"UNPIVOT (SELECT {extra}, {columns} FROM {source}) ON {', '.join(ids)} INTO NAME card VALUE k"
    if fold is None:
        return keyed
    return f"""SELECT u.* REPLACE (CASE WHEN f.k IS NULL THEN '{OTHER}' ELSE u.k END AS k) FROM ({keyed}) AS u
               LEFT JOIN {fold} AS f ON f.name = u.name AND f.is_bot = u.is_bot AND f.card = u.card AND f.k = u.k"""


class BreakdownRow(NamedTuple):
    """One row of a card: its key (label first, then e.g. the country of a city), the value it
    is sorted by, and up to two more (see the card's definition above)."""

    key: tuple[str, ...]
    value: float
    value2: float | None
    value3: float | None


def dimension_sql(ids: Sequence[str], group: Sequence[str] = (), fold: str | None = None,
                  prefix: str = "") -> tuple[list[str], list[str]]:
    """CTEs and parts (SELECTs of ``group`` columns, card, k, v1, v2, v3) for the dimension
    cards ``ids``, over the page views in ``pv`` (and the requests in ``requests`` for the cards
    counting every request). ``group`` (columns of pv) keeps groups apart: the rollups count
    every (name, bot or not, country) of a day separately. ``fold``: see :func:`_keyed`
    (``group`` must then hold name and is_bot); keys are folded before visitors are counted, so
    the visitors of :data:`OTHER` are exact too. ``prefix`` goes before the name of every CTE
    read and made (``cut_``: ``cut_pv``...), for a second set of cards in the same statement.

    Exact distinct visitors without a COUNT(DISTINCT) per card (several times slower on
    DuckDB): rows are deduplicated per (card, key, visitor), then counted. Properties of the
    visitor (country, browser...) are first deduplicated per visitor, which leaves one row per
    visitor instead of one per page view; the visit cards read the few columns they need from
    the visit marks, whose window sorts every column it carries."""
    ctes, parts, counted = [], [], []
    g = "".join(f"{c}, " for c in group)
    visit_ids = [i for i in ids if i in VISIT_BREAKDOWNS]
    page_ids = [i for i in ids if i not in VISIT_BREAKDOWNS and not DIMENSION_BREAKDOWNS[i].of_visitor
                and not DIMENSION_BREAKDOWNS[i].requests]
    request_ids = [i for i in ids if DIMENSION_BREAKDOWNS[i].requests]
    visitor_ids = [i for i in ids if DIMENSION_BREAKDOWNS[i].of_visitor]
    if visit_ids:
        narrow = f"(SELECT {g}{', '.join(_VISIT_COLUMNS)} FROM {prefix}pv)"
        ctes.append(f"{prefix}marked AS MATERIALIZED ({visit_marks(narrow, group, where='TRUE', ties=VISIT_KEYS)})")
    # Cards counting page views (or visits) and cards counting visitors are keyed apart: one
    # keyed table filtered by card names afterwards cost a join per filter.
    hits, seen = [], []
    for source, cards in ((f"{prefix}marked", visit_ids), (f"{prefix}pv", page_ids), (f"{prefix}requests", request_ids)):
        for counts_visitors, keyed in ((False, hits), (True, seen)):
            chosen = [i for i in cards if DIMENSION_BREAKDOWNS[i].visitors == counts_visitors]
            if chosen:
                keyed.append(f"SELECT * FROM ({_keyed(source, chosen, g + 'visitor_id', fold)})")
    if hits:
        parts.append(f"SELECT {g}card, k, count(*), NULL, NULL FROM ({' UNION ALL '.join(hits)}) GROUP BY ALL")
    if seen:
        counted.append(f"SELECT {g}card, k, visitor_id, count(*) AS n FROM ({' UNION ALL '.join(seen)}) GROUP BY ALL")
    if visitor_ids:
        people = ", ".join(dict.fromkeys([*group, "visitor_id", *_VISITOR_COLUMNS]))
        ctes.append(f"{prefix}people AS (SELECT {people}, count(*) AS n FROM {prefix}pv GROUP BY ALL)")
        ctes.append(f"{prefix}people_keys AS ({_keyed(prefix + 'people', visitor_ids, g + 'visitor_id, n', fold)})")
        counted.append(f"SELECT {g}card, k, visitor_id, sum(n) AS n FROM {prefix}people_keys GROUP BY ALL")
    if counted:
        ctes.append(f"{prefix}per_visitor AS ({' UNION ALL '.join(counted)})")
        parts.append(f"SELECT {g}card, k, count(*) FILTER (WHERE visitor_id <> 0), sum(n), NULL FROM {prefix}per_visitor GROUP BY ALL")
    return ctes, parts


def breakdowns(
    con: duckdb.DuckDBPyConnection, scope: Scope, ids: Sequence[str], limit: int, limits: Mapping[str, int] | None = None,
) -> dict[str, tuple[int, list[BreakdownRow]]]:
    """For each breakdown id: how many rows it has in all, and its first ``limit`` rows (those in
    ``limits``: as many rows as it says).

    One statement for all cards: the scope's events are read once into CTEs that every card
    reads."""
    unknown = [i for i in ids if i not in BREAKDOWNS]
    if unknown:
        raise ValueError(f"unknown breakdown {unknown[0]!r}; known: {', '.join(BREAKDOWNS)}")
    if not ids:
        return {}
    base = scope.with_goal(where(None, scope.filters, scope.start, scope.end))
    human = "AND NOT is_bot" if scope.humans_only else ""
    ctes = [
        f"b AS NOT MATERIALIZED (SELECT {', '.join(BREAKDOWN_COLUMNS)} FROM events WHERE {base.sql})",
        f"pv AS (SELECT * FROM b WHERE name = ? {human})",
        f"requests AS (SELECT * FROM b WHERE list_contains(?, name) {human})",
        f"bots AS (SELECT * FROM b WHERE name IN ({REQUEST_SQL}) AND is_bot)",
        f"custom AS (SELECT * FROM b WHERE name NOT IN ({REQUEST_SQL}))",
    ]
    dimension_ctes, parts = dimension_sql([i for i in ids if i in DIMENSION_BREAKDOWNS])
    ctes += dimension_ctes
    parts += [other_sql(i) for i in ids if i in OTHER_BREAKDOWNS]
    return ranked(con, ctes, parts, [*base.params, scope.name, request_names(scope.name)], ids, limit, limits=limits)


ROUTE_KEY = _key_sql(("label", "method", "routed::VARCHAR"))  # the slowest routes' key, from those columns


def other_sql(card: str, source: str | None = None) -> str:
    """The part (card, k, v1, v2, v3) of one of OTHER_BREAKDOWNS, reading ``source`` instead
    of its own CTE when given."""
    sql = OTHER_BREAKDOWNS[card].format(key=ROUTE_KEY, route=ROUTE_LABEL)
    if source is not None:
        sql = sql.replace(" FROM requests ", f" FROM {source} ")
    return f"SELECT '{card}', * FROM ({sql})"


RELEASE_WINDOW = timedelta(hours=24)  # compared on each side of a release


def release_routes(con: duckdb.DuckDBPyConnection, scope: Scope, release_at: datetime, limit: int) -> tuple[int, list[BreakdownRow]]:
    """Each route's p95 in the RELEASE_WINDOW after ``release_at`` (value, the sort), in the
    RELEASE_WINDOW before it (value2, None without requests then) and its requests after
    (value3), under the scope's filters whatever its period: what a release changed."""
    filters = {**scope.filters, "is_bot": False} if scope.humans_only else scope.filters
    w = scope.with_goal(where(scope.name, filters, release_at - RELEASE_WINDOW, release_at + RELEASE_WINDOW))
    ctes = [f"""r AS (SELECT {ROUTE_KEY} AS k, * EXCLUDE (label, method, routed) FROM (
                    SELECT {ROUTE_LABEL} AS label, method, route <> '' AS routed,
                           quantile_cont(duration_ms, 0.95) FILTER (WHERE ts >= ?) AS after,
                           quantile_cont(duration_ms, 0.95) FILTER (WHERE ts < ?) AS before,
                           count(*) FILTER (WHERE ts >= ?) AS n
                    FROM events WHERE {w.sql} AND duration_ms IS NOT NULL GROUP BY ALL))"""]
    part = "SELECT 'release_routes', k, after, before, n FROM r WHERE after IS NOT NULL"
    return ranked(con, ctes, [part], [*[release_at] * 3, *w.params], ["release_routes"], limit)["release_routes"]


def ranked(
    con: duckdb.DuckDBPyConnection, ctes: Sequence[str], parts: Sequence[str], params: list[Any],
    ids: Sequence[str], limit: int, summed: Sequence[str] = (), summed_params: Sequence[Any] = (),
    limits: Mapping[str, int] | None = None,
) -> dict[str, tuple[int, list[BreakdownRow]]]:
    """Each card's row count and first ``limit`` rows (or ``limits[card]``: a "Show all" list
    read with the other cards, not in a statement of its own that reads the events again), from
    the ``parts`` (card, k, v1, v2, v3), whose rows have a key each (a card's key appears once
    among them), and the rows of ``summed`` (rollup rows of several days and countries), summed
    by card and key and added to those of ``parts`` (a key whose sums all come to nothing is left
    out: a day's rows less what a cut takes, see rollups.Cut). ``params``: those of ``ctes`` and
    ``parts``; ``summed_params``: ``summed``'s.

    The sum is a join, not one GROUP BY of every row: after a flood of unique values the
    events' parts hold hundreds of thousands of keys (920,000 rows over 19 cards in a flooded
    Past 24 hours at 01:00), and hashing them all again to add the rollup rows cost more than
    hashing the rollup rows and looking each key up once (that render: 819 -> 697 ms, see
    benchmarks/RESULTS.md, section 6)."""
    rows_sql = " UNION ALL ".join(parts) if parts else "SELECT NULL, NULL, NULL, NULL, NULL WHERE FALSE"
    sums = f"""SELECT card, k, sum(v1) AS v1, sum(v2) AS v2, sum(v3) AS v3
               FROM ({' UNION ALL '.join(summed)}) AS s (card, k, v1, v2, v3) GROUP BY ALL
               HAVING sum(v1) <> 0 OR sum(v2) <> 0 OR sum(v3) <> 0""" if summed else ""
    if summed and not parts:  # (planning the join with nothing cost 3 ms of a 4.5 ms statement)
        rows_sql = sums
    elif summed:
        def plus(v: str) -> str:  # as sum() does: NULL only when both are
            return f"CASE WHEN e.{v} IS NULL THEN r.{v} WHEN r.{v} IS NULL THEN e.{v} ELSE e.{v} + r.{v} END"

        rows_sql = f"""
            SELECT coalesce(e.card, r.card), coalesce(e.k, r.k), {plus('v1')}, {plus('v2')}, {plus('v3')}
            FROM ({rows_sql}) AS e (card, k, v1, v2, v3)
            FULL JOIN ({sums}) AS r
            ON e.card = r.card AND e.k IS NOT DISTINCT FROM r.k"""
    # Ranking every row of a month (hundreds of thousands of keys, most of them tied after a flood
    # of unique values) took longer than counting them: each card's first rows are a top-N of its
    # own (a heap of ``limit`` rows, not a sort of them all).
    cards = list(dict.fromkeys(ids))
    tops = " UNION ALL ".join(["(SELECT * FROM all_rows WHERE card = ? ORDER BY v1 DESC, k LIMIT ?)"] * len(cards))
    sql = f"""
        WITH {''.join(f"{cte}, " for cte in ctes)}
        all_rows (card, k, v1, v2, v3) AS MATERIALIZED ({rows_sql}),
        totals AS (SELECT card, count(*) AS total FROM all_rows GROUP BY card)
        SELECT card, k, v1, v2, v3, total FROM ({tops}) JOIN totals USING (card)
        ORDER BY card, v1 DESC, k"""
    rows: dict[str, list[BreakdownRow]] = {i: [] for i in ids}
    totals: dict[str, int] = {}
    limits = limits or {}
    tops_params = [p for card in cards for p in (card, max(0, int(limits.get(card, limit))))]
    for card, key, v1, v2, v3, total in con.execute(sql, [*params, *summed_params, *tops_params]).fetchall():
        rows[card].append(BreakdownRow(_key(card, key), v1, v2, v3))
        totals[card] = int(total)
    return {i: (totals.get(i, 0), rows[i]) for i in ids}
