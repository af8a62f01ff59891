"""Annotations and shared links in the lake: a lake made by an older Kero gets their tables when a newer host opens
it (and the rollups of its custom events' properties), and a release started on several hosts is noted once."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Callable

import pytest

from kero_core import Kero, rollups
from kero_core.lake.store import LAKE_SCHEMA_VERSION
from tests.conftest import FakeClock, environ


@pytest.mark.slow
def test_a_lake_of_schema_1_gets_the_annotations_table_and_keeps_its_events(make_host: Callable[..., Kero]) -> None:
    old = make_host("old")
    old.track("signup")
    assert old.flush(timeout=60)
    with old.read() as con:  # what a lake made by Kero before annotations looks like
        con.execute("DROP TABLE annotations")
        con.execute("DROP TABLE shared_links")
        con.execute("DELETE FROM meta WHERE key = 'schema_version'")
        con.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    old.close()
    new = make_host("new")
    new.annotate("v1.4 deployed")
    assert [a.text for a in new.annotations()] == ["v1.4 deployed"]
    assert new.count("signup") == 1
    share, _ = new.create_share("country=CH")
    assert [s.id for s in new.shares()] == [share.id]
    with new.read() as con:
        assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall() == [(str(LAKE_SCHEMA_VERSION),)]


def test_a_release_started_on_two_hosts_is_noted_once(make_host: Callable[..., Kero]) -> None:
    hosts = [make_host(f"host{i}", release="v2.0") for i in range(2)]
    for host in hosts:
        host.count()
    for host in hosts:
        assert [(a.text, a.release) for a in host.annotations()] == [("Release v2.0", "v2.0")]


@pytest.mark.slow
def test_a_lake_of_schema_2_gets_the_properties_of_its_rolled_up_days(make_host: Callable[..., Kero]) -> None:
    clock = FakeClock(datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc))
    old = make_host("old", clock=clock)
    old.track("signup", {"plan": "pro"})
    assert old.flush(timeout=60)
    clock.advance(86_400)
    with old.read() as con:
        old.store.maintain(con, budget=60)  # yesterday is rolled up
        con.execute("DROP TABLE day_properties")  # what a lake made by Kero before day_properties looks like
        con.execute("DELETE FROM meta WHERE key = 'schema_version'")
        con.execute("INSERT INTO meta VALUES ('schema_version', '2')")
    old.close()
    new = make_host("new", clock=clock)
    with new.read() as con:
        assert con.execute("SELECT day, name, k, events FROM day_properties").fetchall() == [
            (date(2026, 11, 20), "signup", "signup\x1fplan\x1fpro", 1)]
        assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall() == [(str(LAKE_SCHEMA_VERSION),)]


def test_a_lake_of_schema_4_gets_the_goals_rollups_of_its_rolled_up_days(make_host: Callable[..., Kero]) -> None:
    clock = FakeClock(datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc))
    old = make_host("old", clock=clock, goals=["signup"])
    old.record_request(environ("/pricing"), status=200)
    old.track("signup", {"plan": "pro"}, request=environ("/signup"))  # the same visitor
    assert old.flush(timeout=60)
    clock.advance(86_400)
    with old.read() as con:
        old.store.maintain(con, budget=60)  # yesterday is rolled up
        for table in (*rollups.GOAL_TABLES.values(), "day_goal_goals", "day_hours"):  # a lake before schema 5
            con.execute(f"DROP TABLE {table}")
        con.execute("DELETE FROM meta WHERE key = 'schema_version'")
        con.execute("INSERT INTO meta VALUES ('schema_version', '4')")
    old.close()
    new = make_host("new", clock=clock, goals=["signup"])
    with new.read() as con:
        assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall() == [(str(LAKE_SCHEMA_VERSION),)]
        new.store.maintain(con, budget=60)  # the day lost its day_goals rows to the upgrade: rolled up again
        assert con.execute("SELECT day, goal, visitors, conversions FROM day_goals").fetchall() == [
            (date(2026, 11, 20), "signup", 1, 1)]
        assert con.execute("SELECT day, goal, name, k, events FROM day_goal_properties").fetchall() == [
            (date(2026, 11, 20), "signup", "signup", "signup\x1fplan\x1fpro", 1)]
        assert con.execute("SELECT goal, visitors, views FROM day_goal_figures WHERE name = 'http_req'").fetchall() == [
            ("signup", 1, 1)]
        assert con.execute("SELECT day, hour, visitors, views FROM day_hours WHERE name = 'http_req'").fetchall() == [
            (date(2026, 11, 20), 12, 1, 1)]  # (schema 6) the upgrade's hours, once


def test_a_lake_of_schema_6_gets_the_visits_of_its_rolled_up_days(make_host: Callable[..., Kero]) -> None:
    clock = FakeClock(datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc))
    old = make_host("old", clock=clock)
    old.record_request(environ("/pricing"), status=200)
    clock.advance(60)
    old.record_request(environ("/signup"), status=200)  # the same visitor: one visit of a minute
    assert old.flush(timeout=60)
    clock.advance(86_400)
    rows = "SELECT day, name, visitor_id <> 0, stop - start, bounce FROM day_visits"
    with old.read() as con:
        old.store.maintain(con, budget=60)  # yesterday is rolled up
        visits = con.execute(rows).fetchall()
        con.execute("DROP TABLE day_visits")  # a lake before schema 7
        con.execute("DELETE FROM meta WHERE key = 'schema_version'")
        con.execute("INSERT INTO meta VALUES ('schema_version', '6')")
    old.close()
    assert visits == [(date(2026, 11, 20), "http_req", True, timedelta(minutes=1), False)]
    new = make_host("new", clock=clock)
    with new.read() as con:
        version = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
        assert version == str(LAKE_SCHEMA_VERSION)
        assert con.execute(rows).fetchall() == visits
