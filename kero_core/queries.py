"""Every read query of Kero's public API. All SQL of the read side lives here.

Filters are a dict of dimension -> value (a key ending in ``!=`` negates). Dimensions are checked
against :data:`DIMENSIONS` and values are always bound parameters, never spliced into SQL."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Mapping

import duckdb

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


def bucket_unit(start: datetime, end: datetime) -> str:
    """Kero's bucket size: up to 3 days hours, up to 31 days days, up to 93 weeks, else months."""
    span = end - start
    if span <= timedelta(days=3):
        return "hour"
    if span <= timedelta(days=31):
        return "day"
    if span <= timedelta(days=93):
        return "week"
    return "month"


def _truncate(moment: datetime, unit: str) -> datetime:
    if unit == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "day":
        return day
    if unit == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def _next(moment: datetime, unit: str) -> datetime:
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
