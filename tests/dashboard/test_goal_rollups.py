"""A view filtered by a goal (``?goal=``) is answered from the goal's rollups (its converting
visitors' events rolled up per day: schema 10) exactly as from the events: key figures, chart,
every card, the Properties card and the Goals card; response times within their documented 1%.
Like every rollup, they count a visitor id per day, which a visit across midnight breaks (see
tests/dashboard/test_rollups.py): the data here keeps clear of midnight."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable

import duckdb
import pytest
from _maxminddb_geolite2 import geolite2_database

from kero_core import Kero, goal_queries, queries, rollups
from kero_core.dashboard import model
from kero_core.dashboard.cards import PANELS
from kero_core.dashboard.view import View, parse_view
from kero_core.goals import parse_goals
from kero_core.store import SCHEMA_VERSION
from kero_core.synthetic import generate
from tests.conftest import FakeClock
from tests.dashboard.conftest import open_copy, seed_once
from tests.dashboard.test_rollups import NOW, close, drop_schema_10, exact, far_from_midnight

GOALS = ["signup", "/docs/*", "/pricing"]
TODAY = datetime.combine(NOW.date(), datetime.min.time())


def options() -> dict[str, Any]:
    return {"clock": FakeClock(NOW), "geoip_db": geolite2_database(), "measure_requests": True, "retention": 60,
            "goals": GOALS}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 days of traffic (away from midnight)."""
    return seed_once(tmp_path_factory, options(),
                     [h for h in generate(6000, days=12, seed=5, end=NOW.timestamp()) if far_from_midnight(h)])


@pytest.fixture
def kero(make_kero: Callable[..., Kero], seeded: Path, tmp_path: Path) -> Kero:
    return open_copy(make_kero, seeded, tmp_path, options())


def view_of(kero: Kero, **params: str) -> View:
    return parse_view({k: [v] for k, v in params.items()}, NOW.replace(tzinfo=None), goals=kero.config.goals)


def answers(con: duckdb.DuckDBPyConnection, view: View, read: str) -> dict[str, object]:
    """What a view shows, from the rollups (``read="rollups"``) or from the events only."""
    scope, since, goals = view.scope(), view.previous_start, parse_goals(GOALS)
    ids = [i for i in PANELS if i in queries.BREAKDOWNS and i != "slowest_routes"]
    if read == "rollups":
        return {"figures": rollups.figures(con, scope, since), "series": rollups.series(con, scope, since),
                "cards": rollups.breakdowns(con, scope, ids, 50), "properties": rollups.properties(con, scope, 50),
                "goals": rollups.goals(con, scope, goals, since),
                "routes": rollups.breakdowns(con, scope, ["slowest_routes"], 10_000)["slowest_routes"]}
    return {"figures": queries.figures(con, scope, since), "series": queries.series(con, scope, since),
            "cards": queries.breakdowns(con, scope, ids, 50), "properties": goal_queries.properties(con, scope, 50),
            "goals": goal_queries.goals(con, scope, goals, since),
            "routes": queries.breakdowns(con, scope, ["slowest_routes"], 10_000)["slowest_routes"]}


def assert_same(rolled: dict[str, object], raw: dict[str, object]) -> None:
    assert [exact(f) for f in rolled["figures"]] == [exact(f) for f in raw["figures"]]  # type: ignore[attr-defined]
    for approximate, right in zip(rolled["figures"], raw["figures"]):  # type: ignore[call-overload]
        assert close(approximate.p50_ms, right.p50_ms) and close(approximate.p95_ms, right.p95_ms)
    for part in ("series", "cards", "properties", "goals"):
        assert rolled[part] == raw[part], part
    (total, rows), (raw_total, raw_rows) = rolled["routes"], raw["routes"]  # type: ignore[misc]
    right = {row.key: row for row in raw_rows}
    assert total == raw_total and {row.key for row in rows} == set(right)
    for row in rows:  # p95 and mean from the histograms, the count exact
        assert close(row.value, right[row.key].value) and close(row.value2, right[row.key].value2), row
        assert row.value3 == right[row.key].value3


def forget_past_events(con: duckdb.DuckDBPyConnection) -> None:
    """Delete the events of the rolled-up days: what still answers the same comes from rollups."""
    con.execute("DELETE FROM events WHERE ts < ?", [TODAY])


def of_the_period(found: dict[str, object]) -> dict[str, object]:
    """The answers about the view's own period (whole days and today); the period before it
    starts at the view's hour, so its first, cut day is read from the events."""
    unit, buckets = found["series"]  # type: ignore[misc]
    return {**found, "figures": found["figures"][0], "goals": [now for now, _ in found["goals"]],  # type: ignore[index]
            "series": [(b.start, b.visitors, b.views) for b in buckets]}


@pytest.mark.parametrize("params", [
    {"period": "7d", "goal": "signup"},
    {"period": "30d", "goal": "signup", "country": "US"},
    {"period": "7d", "goal": "/docs/*"},  # a path wildcard
    {"from": "2026-11-12", "to": "2026-11-19", "goal": "/pricing"},  # no today: rollups alone, previous period too
])
def test_a_goal_view_from_rollups_equals_the_raw_queries(kero: Kero, params: dict[str, str]) -> None:
    view = view_of(kero, **params)
    with kero.read() as con:
        assert rollups.rolled_days(con, view.goal) == rollups.rolled_days(con) != frozenset()
        rolled, raw = answers(con, view, "rollups"), answers(con, view, "events")
        assert_same(rolled, raw)
        now, _ = rolled["figures"]  # type: ignore[misc]
        assert now.visitors >= 3 and rolled["cards"]["pages"][0] >= 3  # type: ignore[index]
        assert rolled["goals"][GOALS.index(params["goal"])][0].visitors == now.visitors  # type: ignore[index]
        forget_past_events(con)
        assert of_the_period(answers(con, view, "rollups")) == of_the_period(rolled)
        assert of_the_period(answers(con, view, "events"))["figures"] != of_the_period(raw)["figures"]


def test_a_goal_view_counts_only_the_goals_converters(kero: Kero) -> None:
    """The twins are not the view tables: the goal's converters are some of the visitors."""
    with kero.read() as con:
        everyone = rollups.figures(con, view_of(kero, period="7d").scope(), view_of(kero, period="7d").previous_start)
        signup = view_of(kero, period="7d", goal="signup")
        converters = rollups.figures(con, signup.scope(), signup.previous_start)
    assert 0 < converters[0].visitors < everyone[0].visitors and 0 < converters[1].visitors < everyone[1].visitors


def test_the_dashboard_of_a_goal_view_reads_its_rollups(kero: Kero) -> None:
    view = view_of(kero, period="30d", goal="/docs/*")
    before = model.build(kero, view)
    with kero.read() as con:
        forget_past_events(con)
    after = model.build(kero, view)
    assert (after.figures, after.buckets, after.cards, after.goals) == (
        before.figures, before.buckets, before.cards, before.goals)
    assert before.figures[0].value > 0


def test_a_goal_scope_with_bots_reads_the_events(kero: Kero) -> None:
    """The twins count the converters of human goal events; a scope with bots keeps bots' too."""
    view = view_of(kero, period="7d", goal="/pricing")
    humans = view.scope()
    with_bots = replace(humans, humans_only=False)
    with kero.read() as con:
        assert rollups.figures(con, with_bots, view.previous_start) == queries.figures(con, with_bots, view.previous_start)
        assert rollups.figures(con, with_bots, view.previous_start) != rollups.figures(con, humans, view.previous_start)


def test_schema_9_upgrade_fills_the_goals_of_the_days_already_rolled_up(kero: Kero) -> None:
    view = view_of(kero, period="7d", goal="signup")
    with kero.read() as con:
        before = answers(con, view, "rollups")
        drop_schema_10(con)  # back to schema 9: day_goals rows, no twins
        con.execute("UPDATE meta SET value = '9' WHERE key = 'schema_version'")
    with kero.read() as con:
        assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == str(SCHEMA_VERSION)
        # The days lack the goal (but those this session's maintenance rolled up within its
        # second): read from the events meanwhile.
        assert len(rollups.rolled_days(con, view.goal)) < len(rollups.rolled_days(con))
        assert_same(answers(con, view, "rollups"), answers(con, view, "events"))
        while rollups.refresh(con, NOW.date(), budget=math.inf, conversions=kero.store.conversions):
            pass
        days = rollups.rolled_days(con, view.goal)
        assert len(days) >= 10 and date(2026, 11, 19) in days
        assert con.execute("SELECT count(DISTINCT day) FROM day_goal_figures WHERE goal = 'signup'").fetchone()[0] >= 10
        assert answers(con, view, "rollups") == before


@pytest.mark.parametrize("params", [{"period": "24h", "goal": "signup"}, {"from": "2026-11-18", "to": "2026-11-18", "goal": "/pricing"}])
def test_an_hourly_goal_chart_reads_the_goals_hours(kero: Kero, params: dict[str, str]) -> None:
    """A goal's hourly chart reads its converters' rolled-up hours (day_goal_hours) and the
    rest from the events, like the events alone."""
    view = view_of(kero, **params)
    scope = view.scope()
    with kero.read() as con:
        unit, buckets = rollups.series(con, scope, view.previous_start)
        assert unit == "hour" and (unit, buckets) == queries.series(con, scope, view.previous_start)
        assert sum(b.views for b in buckets) > 0
        assert con.execute("SELECT count(*) FROM day_goal_hours WHERE goal = ?", [params["goal"]]).fetchone()[0] > 0
