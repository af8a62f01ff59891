"""The read queries of goals and funnels (a sibling of :mod:`kero_core.queries`; all their SQL
lives here). Goal paths and event names are always bound parameters.

- A goal's *conversions* are its events (page views of a matching path, or custom events of its
  name) in the period; its *converting visitors* are the distinct visitor ids among them.
- With filters, only the visitors of the view count: those with a page view matching the
  filters (Kero cannot tell who sent a custom event recorded without ``request=``).
- ``?goal=`` keeps the page views of visitors who completed the goal. A visitor id lasts one UTC
  day, so that is their activity of the days they converted on.
- A funnel's steps are done in order within one visit: the visitor's page views and step events
  with gaps under 30 minutes (the dashboard's visit rule)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Sequence

import duckdb

from kero_core.goals import Funnel, Step
from kero_core.queries import METRICS, REQUEST_SQL, VISIT_GAP, BreakdownRow, Scope, Where, ranked, where


def step_sql(step: Step) -> Where:
    """The condition an event meets when it is ``step``."""
    if step.kind == "event":
        return Where("name = ?", [step.text])
    like = step.like
    if like is None:
        return Where("(name = 'http_req' AND path = ?)", [step.text])
    return Where("(name = 'http_req' AND path LIKE ? ESCAPE '\\')", [like])


def _any(steps: Sequence[Step]) -> Where:
    conditions = [step_sql(s) for s in steps]
    return Where("(" + " OR ".join(c.sql for c in conditions) + ")", [p for c in conditions for p in c.params])


def goal_where(goal: Step, start: datetime | None, end: datetime | None, humans_only: bool = True) -> Where:
    """Events of visitors who completed ``goal`` in ``[start, end)`` (the ``?goal=`` filter)."""
    cond = step_sql(goal)
    clauses, params = [cond.sql, "visitor_id <> 0"], list(cond.params)
    if humans_only:
        clauses.append("NOT is_bot")
    if start is not None:
        clauses.append("ts >= ?")
        params.append(start)
    if end is not None:
        clauses.append("ts < ?")
        params.append(end)
    return Where(f"visitor_id IN (SELECT visitor_id FROM events WHERE {' AND '.join(clauses)})", params)


def narrowed(scope: Scope) -> bool:
    """Whether the view keeps only some visitors (a filter, an event name, a goal)."""
    return bool(scope.filters) or scope.name != "http_req" or scope.goal is not None


@dataclass(frozen=True)
class GoalCounts:
    visitors: int = 0  # distinct converting visitors
    conversions: int = 0  # goal events


def goals(
    con: duckdb.DuckDBPyConnection, scope: Scope, goal_list: Sequence[Step], previous_start: datetime,
    within: Where | None = None, seen: Where | None = None,
) -> list[tuple[GoalCounts, GoalCounts]]:
    """For each goal, its counts in the scope's period and in ``[previous_start, scope.start)``
    (only of the events in ``within`` when given: the parts of both periods the rollups lack;
    with filters, of the view's visitors among its page views in ``seen``, when given: the
    rollups' callers need only those of the days around ``within``)."""
    if not goal_list:
        return []
    humans = "AND NOT is_bot" if scope.humans_only else ""
    if within is None:
        within = Where("ts >= ? AND ts < ?", [previous_start, scope.end])
    wanted = _any(goal_list)
    conditions = [step_sql(g) for g in goal_list]
    flags = ", ".join(f"{c.sql} AS g{i}" for i, c in enumerate(conditions))
    # Each goal's condition is evaluated once per event, as a flag the counts below read.

    def g(visitors: str = "") -> str:
        return f"""g AS MATERIALIZED (SELECT ts >= ? AS cur, visitor_id, {flags} FROM events
                   WHERE ({within.sql}) {humans} AND {wanted.sql} {visitors})"""

    g_params: list[Any] = [scope.start, *(p for c in conditions for p in c.params), *within.params, *wanted.params]
    if narrowed(scope):
        w = scope.where(previous_start)
        # The view's visitors first: only their goal events are read (a semi-join on the scan),
        # not every visitor's, most of whom the view leaves out.
        seen = seen or Where("TRUE", [])
        ctes = [f"""v AS MATERIALIZED (SELECT DISTINCT ts >= ? AS cur, visitor_id FROM events
                                       WHERE {w.sql} AND ({seen.sql}) AND visitor_id <> 0)""",
                g("AND visitor_id IN (SELECT visitor_id FROM v)")]
        params = [scope.start, *w.params, *seen.params, *g_params]
        ctes.append("h AS (SELECT g.*, v.visitor_id IS NOT NULL AS seen FROM g LEFT JOIN v USING (cur, visitor_id))")
        counted = "seen"
    else:
        ctes, params = [g()], g_params
        ctes.append("h AS (SELECT *, visitor_id <> 0 AS seen FROM g)")
        counted = "TRUE"
    parts = [f"""SELECT {i} AS goal, cur, count(DISTINCT visitor_id) FILTER (WHERE seen),
                        count(*) FILTER (WHERE {counted}) FROM h WHERE g{i} GROUP BY cur""" for i in range(len(goal_list))]
    sql = f"WITH {', '.join(ctes)} {' UNION ALL '.join(parts)}"
    found = {(g, cur): GoalCounts(int(v), int(n)) for g, cur, v, n in con.execute(sql, params).fetchall()}
    return [(found.get((i, True), GoalCounts()), found.get((i, False), GoalCounts())) for i in range(len(goal_list))]


@dataclass(frozen=True)
class FunnelStep:
    visitors: int  # distinct visitors who reached this step (in order, within one visit)


def funnel(con: duckdb.DuckDBPyConnection, scope: Scope, definition: Funnel) -> list[FunnelStep]:
    """Visitors reaching each step of ``definition`` in the scope's period.

    Step 1 is every visitor with a step-1 event (it is in some visit). Later steps need visits:
    only visitors with both a step-1 and a step-2 event are read further, their page views and
    step events cut into visits (one sort, of their rows only), then in each visit each step is
    the first matching event after the previous step's (positions: events of the same instant
    keep page views first)."""
    steps = definition.steps
    gap = int(VISIT_GAP.total_seconds())
    humans = "AND NOT is_bot" if scope.humans_only else ""
    events_of_steps = [s.text for s in steps if s.kind == "event"]
    flags = [step_sql(s) for s in steps]
    base = f"ts >= ? AND ts < ? AND visitor_id <> 0 {humans}"
    base_params: list[Any] = [scope.start, scope.end]
    narrowing, narrowing_params = "", []
    if narrowed(scope):
        view = scope.where()
        narrowing, narrowing_params = f"AND visitor_id IN (SELECT visitor_id FROM events WHERE {view.sql})", view.params
    flag_columns = ", ".join(f"{f.sql} AS s{i}" for i, f in enumerate(flags))
    flag_params = [p for f in flags for p in f.params]
    steps_list = ", ".join(f"s{i}" for i in range(len(steps)))
    any_step = " OR ".join(f"s{i}" for i in range(len(steps)))
    event_names = "OR list_contains(?::VARCHAR[], name)" if events_of_steps else ""
    first_two = [p for f in flags[:2] for p in f.params]
    ctes = [
        f"""firsts AS MATERIALIZED (SELECT visitor_id, bool_or({flags[0].sql}) AS a, bool_or({flags[1].sql}) AS b FROM events
               WHERE {base} AND ({flags[0].sql} OR {flags[1].sql}) {narrowing} GROUP BY visitor_id)""",
        f"""base AS (SELECT visitor_id, ts, {flag_columns}, name <> 'http_req' AS is_event FROM events
               WHERE {base} AND (name = 'http_req' {event_names})
                 AND visitor_id IN (SELECT visitor_id FROM firsts WHERE a AND b))""",
        # One sort of the candidates' narrow rows marks visit starts; only the starts and the
        # step rows go on to number the visits (a second sort, of fewer rows).
        f"""gaps AS (SELECT visitor_id, ts, is_event, {steps_list},
                       coalesce(lag(visitor_id) OVER w <> visitor_id OR ts - lag(ts) OVER w >= INTERVAL {gap} SECOND, true) AS new
                FROM base WINDOW w AS (ORDER BY visitor_id, ts, is_event))""",
        f"""r AS MATERIALIZED (SELECT visitor_id, {steps_list},
                    row_number() OVER w AS seq, sum(new::INTEGER) OVER (w ROWS UNBOUNDED PRECEDING) AS visit
             FROM gaps WHERE new OR {any_step} WINDOW w AS (ORDER BY visitor_id, ts, is_event))""",
        "p0 AS (SELECT visit, any_value(visitor_id) AS visitor_id, min(seq) AS at FROM r WHERE s0 GROUP BY visit)",
    ]
    params: list[Any] = [*first_two, *base_params, *first_two, *narrowing_params,
                         *flag_params, *base_params, *([list(events_of_steps)] if events_of_steps else [])]
    for i in range(1, len(steps)):
        ctes.append(f"""p{i} AS (SELECT visit, any_value(r.visitor_id) AS visitor_id, min(r.seq) AS at
                         FROM r JOIN p{i - 1} AS prev USING (visit) WHERE r.s{i} AND r.seq > prev.at GROUP BY visit)""")
    counts = " UNION ALL ".join(
        ["SELECT 0, count(*) FILTER (WHERE a) FROM firsts"]
        + [f"SELECT {i}, count(DISTINCT visitor_id) FROM p{i}" for i in range(1, len(steps))])
    sql = f"WITH {', '.join(ctes)} {counts}"
    found = {i: int(v) for i, v in con.execute(sql, params).fetchall()}
    return [FunnelStep(found.get(i, 0)) for i in range(len(steps))]


def property_sql(source: str) -> tuple[list[str], str]:
    """The CTEs and the ranked() part of the Properties card over ``source``, a relation of
    custom events with a ``labels`` column (and ``name``, ``visitor_id``): one row per
    (event name, label key, value), its events and visitors. Label keys with a quote are left
    out: they cannot be named in a JSON path. Shared by the card's raw read and the rollups."""
    ctes = [f"""kv AS (SELECT * EXCLUDE (labels), json_extract_string(labels, '$."' || k || '"') AS v
                       FROM (SELECT *, unnest(json_keys(labels)) AS k FROM {source}
                             WHERE name NOT IN ({REQUEST_SQL}) AND labels <> '')
                       WHERE NOT contains(k, '"'))"""]
    return ctes, f"SELECT 'properties', {PROPERTY_KEY}, count(*), {METRICS['visitors']}, NULL FROM kv GROUP BY ALL"


PROPERTY_KEY = "concat_ws(chr(31), name, k, coalesce(v, ''))"  # a Properties card row's key


def properties(con: duckdb.DuckDBPyConnection, scope: Scope, limit: int) -> tuple[int, list[BreakdownRow]]:
    """The Properties card from the events: (event name, label key, value) of the scope's
    custom events (of its event name when it has one, else of all), by events then visitors."""
    name = None if scope.name == "http_req" else scope.name
    filters = {**scope.filters, "is_bot": False} if scope.humans_only else scope.filters
    base = scope.with_goal(where(name, filters, scope.start, scope.end))
    ctes, part = property_sql(f"(SELECT name, visitor_id, labels FROM events WHERE {base.sql})")
    return property_rows(ranked(con, ctes, [part], base.params, ["properties"], limit)["properties"])


def property_rows(found: tuple[int, list[BreakdownRow]]) -> tuple[int, list[BreakdownRow]]:
    """The Properties card's ranked rows with their keys split into (value, event, label key)."""
    total, rows = found
    out = []
    for row in rows:
        event, key, value = row.key[0].split("\x1f", 2)
        out.append(BreakdownRow((value, event, key), row.value, row.value2, row.value3))
    return total, out
