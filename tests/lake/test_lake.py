"""The lake in one process: several hosts (Kero instances with their own db_path) on one real
PostgreSQL catalog and one shared data folder. What the issue asks of the storage itself:
exactly-once commits, one visitor across hosts, rollups that stay exact under several writers,
an outage that only grows the spool, and clear errors for bad options."""

from __future__ import annotations

import fcntl
import os
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import duckdb
import psycopg
import pytest

from kero_core import Kero, KeroConfigError, goal_queries, queries, rollups
from kero_core.dashboard import model
from kero_core.dashboard.view import parse_view
from kero_core.lake import LakeStore
from kero_core.lake.catalog import SALTS_TABLE, lock_key
from kero_core.lake.connection import EXTENSIONS, catalog_dsn, extension_file, redact
from kero_core.queries import OTHER
from kero_core.rollups import CARD_KEYS
from kero_core.store import StoreUnavailable
from kero_core.synthetic import flood
from tests.conftest import FakeClock, environ
from tests.lake.postgres import PostgresServer

T0 = datetime(2026, 11, 10, 12, 0, tzinfo=timezone.utc)
OTHER_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"


def visit(kero: Kero, path: str = "/", **headers: str) -> None:
    kero.record_request(environ(path, **headers), status=200)


def visitors(kero: Kero, path: str, count: int) -> None:
    """Page views of ``path`` by ``count`` visitors (203.0.113.0, .1, ...)."""
    for n in range(count):
        visit(kero, path, REMOTE_ADDR=f"203.0.113.{n}")


def figures(kero: Kero, period: str = "30d") -> tuple[int, int]:
    """(visitors, page views) of the dashboard's key figures for ``period``."""
    dashboard = model.build(kero, parse_view({"period": [period]}, kero.now()))
    by_key = {figure.id: figure.value for figure in dashboard.figures}
    return int(by_key["visitors"]), int(by_key["views"])


def test_the_extensions_load_from_the_installed_wheels() -> None:
    assert [name for name in EXTENSIONS if extension_file(name) is None] == []


def test_three_hosts_store_every_event_once_and_one_visitor_once(make_host: Callable[..., Kero]) -> None:
    hosts = [make_host(f"host{i}") for i in range(3)]
    for i, kero in enumerate(hosts):
        for page in range(10 + i):
            visit(kero, f"/page{page}")  # one person, whichever host the balancer picks
        visit(kero, "/", REMOTE_ADDR=f"198.51.100.{i + 1}")  # one person per host
    assert all(kero.flush(timeout=60) for kero in hosts)
    # Every host sees everything: 33 + 3 page views by 1 + 3 visitors.
    assert [(kero.count(), kero.count_visitors()) for kero in hosts] == [(36, 4)] * 3
    assert {figures(kero, "24h") for kero in hosts} == {(4, 36)}


def test_a_spool_file_committed_but_not_deleted_is_not_loaded_again(make_host: Callable[..., Kero], tmp_path: Path) -> None:
    kero = make_host()
    for _ in range(5):
        visit(kero)
    kero.pipeline.write()
    [spooled] = kero.store.pending()
    kept = shutil.copy(spooled, tmp_path / "kept.parquet")
    assert kero.flush(timeout=60) and kero.count() == 5
    shutil.copy(kept, spooled)  # as if the process died between the commit and the unlink
    assert kero.flush(timeout=60)
    assert kero.count() == 5 and kero.store.pending() == []


def test_the_daily_salt_is_in_postgresql_and_old_ones_are_destroyed(make_host: Callable[..., Kero], lake: str) -> None:
    clock = FakeClock(T0)
    first, second = make_host("a", clock=clock), make_host("b", clock=clock)
    visit(first)
    visit(second)
    assert first.flush(timeout=60) and second.flush(timeout=60)
    assert first.count_visitors() == 1
    with psycopg.connect(catalog_dsn(lake)) as pg:
        assert pg.execute(f"SELECT day FROM {SALTS_TABLE}").fetchall() == [(T0.date(),)]
        clock.advance(2 * 86_400)  # two days on: the first day's salt is destroyed
        visit(first)
        assert first.flush(timeout=60)
        assert pg.execute(f"SELECT day FROM {SALTS_TABLE} ORDER BY day").fetchall() == [(T0.date() + timedelta(days=2),)]


def test_a_folder_moved_to_the_lake_in_place_keeps_its_salt_and_its_old_salts_are_destroyed(
        tmp_path: Path, lake: str, lake_data: str) -> None:
    clock = FakeClock(T0)
    with Kero(tmp_path / "app", clock=clock) as single:  # the app before it moved to the lake
        visit(single, "/before")
    before = (tmp_path / "app" / "salts" / T0.date().isoformat()).read_bytes()
    with Kero(tmp_path / "app", lake=lake, lake_data_path=lake_data, clock=clock) as moved:
        visit(moved, "/after")
        assert moved.flush(timeout=60)
        with psycopg.connect(catalog_dsn(lake)) as pg:
            assert bytes(pg.execute(f"SELECT salt FROM {SALTS_TABLE}").fetchone()[0]) == before
        clock.advance(2 * 86_400)  # the folder's own old salts go too, not only the lake's copies
        visit(moved, "/later")
        assert moved.flush(timeout=60)
    assert not (tmp_path / "app" / "salts" / T0.date().isoformat()).exists()


def test_rollups_of_several_hosts_match_the_events(make_host: Callable[..., Kero]) -> None:
    clock = FakeClock(T0)
    hosts = [make_host(f"host{i}", clock=clock) for i in range(2)]
    for day in range(3):
        clock.set(T0 + timedelta(days=day))
        for i, kero in enumerate(hosts):
            for n in range(4 + day):
                visit(kero, f"/d{day}", REMOTE_ADDR=f"203.0.113.{n + 10 * i}")
            kero.track("signup", {"plan": f"p{day % 2}"})
        assert all(kero.flush(timeout=60) for kero in hosts)
    clock.set(T0 + timedelta(days=3))
    reader = hosts[1]
    expected = (2 * (4 + 5 + 6), 2 * (4 + 5 + 6))
    assert figures(reader, "7d") == expected
    scope = parse_view({"period": ["7d"]}, (T0 + timedelta(days=3)).replace(tzinfo=None)).scope()
    with reader.read() as con:
        reader.store.maintain(con, budget=60)  # whichever host is elected: the days are rolled up
        rolled = con.execute("SELECT day FROM rollup_days WHERE rolled ORDER BY day").fetchall()
        properties = rollups.properties(con, scope, 10)
        assert properties == goal_queries.properties(con, scope, 10)
        assert con.execute("SELECT sum(events) FROM day_properties").fetchone()[0] == 6  # read from the rollups
    assert [(row.key, row.value) for row in properties[1]] == [(("p0", "signup", "plan"), 4), (("p1", "signup", "plan"), 2)]
    assert rolled == [((T0 + timedelta(days=d)).date(),) for d in range(3)]
    assert figures(reader, "7d") == expected == figures(hosts[0], "7d")


@pytest.mark.slow
def test_a_late_event_into_a_rolled_up_day_is_counted_at_once(make_host: Callable[..., Kero], lake: str) -> None:
    clock = FakeClock(T0)
    writer, late = make_host("writer", clock=clock), make_host("late", clock=clock)
    visitors(writer, "/", 5)
    assert writer.flush(timeout=60)
    clock.set(T0 + timedelta(days=1))
    with writer.read() as con:
        writer.store.maintain(con, budget=60)
        assert con.execute("SELECT rolled FROM rollup_days WHERE day = ?", [T0.date()]).fetchall() == [(True,)]
    clock.set(T0 + timedelta(hours=1))  # a host whose backlog of yesterday arrives late
    visit(late, "/", REMOTE_ADDR="203.0.113.99")
    late.pipeline.write()
    clock.set(T0 + timedelta(days=1))
    with psycopg.connect(catalog_dsn(lake), autocommit=True) as pg:  # no host can be elected meanwhile
        pg.execute("SELECT pg_advisory_lock(%s)", [lock_key("maintainer")])
        assert late.flush(timeout=60)
        with late.read() as con:
            assert con.execute("SELECT rolled FROM rollup_days WHERE day = ?", [T0.date()]).fetchall() == [(False,)]
        assert figures(late, "7d") == (6, 6)  # read from the day's events until it is redone
    with late.read() as con:
        late.store.maintain(con, budget=60)
        assert con.execute("SELECT rolled FROM rollup_days WHERE day = ?", [T0.date()]).fetchall() == [(True,)]
    assert figures(writer, "7d") == (6, 6)


def test_an_outage_grows_the_spool_and_delivers_it_once_when_postgresql_returns(
    postgres: PostgresServer, make_host: Callable[..., Kero]
) -> None:
    kero = make_host()
    visit(kero, "/before")
    assert kero.flush(timeout=60)
    postgres.stop()
    try:
        for _ in range(20):
            visit(kero, "/during")  # the request path never notices
        assert kero.flush(timeout=2) is False
        assert len(kero.store.pending()) >= 1 and kero.dropped == 0
        with pytest.raises(StoreUnavailable, match="lake"):
            kero.count()
    finally:
        postgres.start()
    assert kero.flush(timeout=60)
    assert kero.count() == 21 and kero.count(filters={"path": "/during"}) == 20
    assert kero.store.pending() == []


def test_without_a_salt_the_writer_holds_the_events_until_postgresql_returns(
    postgres: PostgresServer, make_host: Callable[..., Kero]
) -> None:
    kero = make_host()  # a new process: it has no salt in memory yet
    postgres.stop()
    try:
        for _ in range(7):
            visit(kero)
        assert kero.pipeline.write() is False
        assert kero.pipeline.buffered == 7 and kero.dropped == 0
    finally:
        postgres.start()
    assert kero.flush(timeout=60)
    assert (kero.count(), kero.count_visitors(), kero.dropped) == (7, 1, 0)


def test_a_lake_written_by_a_newer_kero_is_refused(make_host: Callable[..., Kero]) -> None:
    kero = make_host()
    visit(kero)
    assert kero.flush(timeout=60)
    with kero.read() as con:
        con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    newer = make_host("other")
    with pytest.raises(StoreUnavailable, match="newer Kero"):
        newer.count()


def test_the_store_is_the_lake_only_when_asked(make_host: Callable[..., Kero], make_kero: Callable[..., Kero]) -> None:
    assert isinstance(make_host().store, LakeStore)
    assert not isinstance(make_kero().store, LakeStore)


@pytest.mark.parametrize(("options", "message"), [
    ({"lake": "dbname=kero host=db"}, "lake must be a PostgreSQL catalog"),
    ({"lake": 42}, "lake must be a PostgreSQL catalog"),
    ({"lake_data_path": "/shared/lake"}, "lake_data_path is set but lake is not"),
    ({"lake": "postgres:dbname=kero", "lake_data_path": "ftp://host/lake"}, "lake_data_path 'ftp://host/lake' has an unknown scheme"),
    ({"lake": "postgres:dbname=kero", "lake_data_path": 3.5}, "lake_data_path must be a folder path"),
])
def test_bad_lake_options_are_refused_with_one_sentence(tmp_path: Path, options: dict[str, object], message: str) -> None:
    with pytest.raises(KeroConfigError, match=message):
        Kero(tmp_path / "kero", **options)


def test_an_unreachable_catalog_is_a_clear_error_without_its_password(tmp_path: Path) -> None:
    from tests.conftest import free_port

    lake = f"postgres:dbname=kero host=127.0.0.1 port={free_port()} user=kero password=hunter2 connect_timeout=2"
    with Kero(tmp_path / "kero", lake=lake, lake_data_path=str(tmp_path / "data")) as kero:
        with pytest.raises(StoreUnavailable) as raised:
            kero.count()
    assert "hunter2" not in str(raised.value) and "***" in str(raised.value)


def test_data_paths_are_made_absolute_and_urls_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    kero = Kero(tmp_path / "kero", lake="postgres:dbname=kero", lake_data_path="shared")
    assert kero.config.lake_data_path == f"{tmp_path}/shared/"
    assert Kero(tmp_path / "k2", lake="postgres:dbname=kero", lake_data_path="s3://bucket/kero").config.lake_data_path == "s3://bucket/kero/"


@pytest.mark.parametrize(("text", "shown"), [
    ("postgres:dbname=kero host=db user=kero password=s3cret", "postgres:dbname=kero host=db user=kero password=***"),
    ("postgres:password='a b' dbname=kero", "postgres:password=*** dbname=kero"),
    ("postgresql://kero:s3cret@db:5432/kero", "postgresql://kero:***@db:5432/kero"),
    ("postgres:dbname=kero host=db", "postgres:dbname=kero host=db"),
])
def test_passwords_never_reach_a_message(text: str, shown: str) -> None:
    assert redact(text) == shown


def test_the_lake_reads_what_duckdb_reads(make_host: Callable[..., Kero]) -> None:
    """The lake's tables are plain DuckLake tables: another DuckDB client sees the events."""
    kero = make_host()
    visit(kero, "/hello")
    assert kero.flush(timeout=60)
    with kero.read() as con:
        assert con.execute("SELECT path FROM events").fetchall() == [("/hello",)]
        with pytest.raises(duckdb.Error):
            con.execute("SELECT * FROM no_such_table")
    assert kero.count() == 1  # a failed statement costs the connection, not the store


def test_a_long_outage_fills_the_spool_to_its_bound_then_memory_then_counts_drops(
    postgres: PostgresServer, make_host: Callable[..., Kero], caplog: pytest.LogCaptureFixture
) -> None:
    # writer_process=False: the spool's bound is lowered in this process's store, where the batches are built.
    kero = make_host(max_buffer=50, writer_process=False)
    visit(kero)
    assert kero.flush(timeout=60)  # today's salt is in memory from here on
    kero.store.max_spool_bytes = 1  # full after one batch
    postgres.stop()
    try:
        for batch in range(4):
            for _ in range(30):
                visit(kero, f"/batch{batch}")
            kero.pipeline.write()
        spooled = len(kero.store.pending())
        assert spooled == 1  # the bound: no second file
        assert kero.pipeline.buffered == 50 and kero.dropped == 120 - 30 - 50
        assert sum("cannot write to the spool" in r.getMessage() for r in caplog.records) == 1  # once per interval
    finally:
        postgres.start()
    kero.store.max_spool_bytes = 1 << 30
    assert kero.flush(timeout=60)
    assert kero.count() == 1 + 30 + 50  # the first batch spooled, the rest held in memory


def test_a_bulk_ingest_into_the_lake_returns_with_every_past_day_rolled_up(make_host: Callable[..., Kero]) -> None:
    from kero_core.synthetic import generate

    clock = FakeClock(T0)
    kero = make_host(clock=clock)
    assert kero.ingest(generate(3000, days=5, seed=3, end=T0.timestamp())) > 0
    with kero.read() as con:
        days = con.execute("SELECT day, rolled FROM rollup_days ORDER BY day").fetchall()
    assert len(days) == 6 and [day for day, rolled in days if not rolled] == [T0.date()]


def test_a_worker_started_during_an_outage_uses_the_hosts_copy_of_the_salt(
    postgres: PostgresServer, make_host: Callable[..., Kero], tmp_path: Path
) -> None:
    first = make_host("host")
    visit(first)
    assert first.flush(timeout=60)
    assert [p.name for p in (tmp_path / "host" / "lake-salts").iterdir()] == [datetime.now(timezone.utc).date().isoformat()]
    postgres.stop()
    try:
        second = make_host("host")  # another worker of the same host, started now
        visit(second)
        assert second.pipeline.write() is True  # spooled, not held in memory
        assert second.pipeline.buffered == 0
    finally:
        postgres.start()
    assert second.flush(timeout=60)
    assert (second.count(), second.count_visitors()) == (2, 1)


def test_the_lake_writes_zstd_parquet(make_host: Callable[..., Kero], lake_data: str) -> None:
    import pyarrow.parquet as pq

    kero = make_host()
    for n in range(150):  # above the inlining limit: a Parquet file
        visit(kero, f"/{n}")
    assert kero.flush(timeout=60)
    files = list(Path(lake_data).rglob("*.parquet"))
    assert files and {pq.ParquetFile(f).metadata.row_group(0).column(0).compression for f in files} == {"ZSTD"}


@pytest.mark.parametrize(("lake", "dsn"), [
    ("postgres:dbname=kero host=db", "dbname=kero host=db connect_timeout=5"),
    ("postgres:dbname=kero connect_timeout=1", "dbname=kero connect_timeout=1"),
    ("postgresql://kero@db/kero", "postgresql://kero@db/kero?connect_timeout=5"),
    ("postgresql://kero@db/kero?sslmode=require", "postgresql://kero@db/kero?sslmode=require&connect_timeout=5"),
])
def test_the_catalog_is_never_waited_for_forever(lake: str, dsn: str) -> None:
    assert catalog_dsn(lake) == dsn


@pytest.mark.slow
def test_two_rows_for_one_rolled_day_neither_double_it_nor_stop_the_prune(make_host: Callable[..., Kero]) -> None:
    """Two maintainers at once (the election's lock lost in a PostgreSQL restart) may both record
    a day as rolled up: views and the retention must take that in their stride."""
    clock = FakeClock(T0)
    kero = make_host(clock=clock)
    visitors(kero, "/", 3)
    assert kero.flush(timeout=60)
    clock.set(T0 + timedelta(days=1))
    with kero.read() as con:
        kero.store.maintain(con, budget=60)
        con.execute("INSERT INTO rolled_days SELECT * FROM rolled_days")
        assert con.execute("SELECT count(*) FROM rollup_days WHERE day = ?", [T0.date()]).fetchone()[0] == 1
        kero.store.prune(con)
    assert figures(kero, "7d") == (3, 3)


def test_a_dashboard_read_does_not_wait_for_the_ingest_lock(make_host: Callable[..., Kero], tmp_path: Path) -> None:
    """Lake reads see a snapshot, whoever ingests meanwhile: with this host's ingest lock held
    (here by the test, as another process's ingest would), the dashboard reads what the lake
    holds (before, it waited for the lock up to 30 s)."""
    kero = make_host(clock=FakeClock(T0))
    visit(kero, "/")
    assert kero.flush(timeout=60)
    fd = os.open(tmp_path / "host" / "ingest.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert figures(kero, "today") == (1, 1)
    finally:
        os.close(fd)


def test_a_flooded_day_is_rolled_up_into_the_lake_with_its_tail_folded(make_host: Callable[..., Kero]) -> None:
    clock = FakeClock(T0)
    kero = make_host(clock=clock)
    kero.ingest(flood(3 * CARD_KEYS, end=(T0 - timedelta(hours=13)).timestamp(), hours=2))
    with kero.read() as con:
        widest, other = con.execute(
            """SELECT max(n), sum(o) FROM (SELECT count(DISTINCT k) AS n, count(*) FILTER (WHERE k = ?) AS o
               FROM day_cards_all WHERE card = 'pages' GROUP BY day, name, is_bot)""", [OTHER]).fetchone()
        humans = con.execute("SELECT count(*) FROM events WHERE NOT is_bot").fetchone()[0]
    assert (widest, other) == (CARD_KEYS + 1, 2)  # humans and bots: each its kept pages and one OTHER
    assert figures(kero, "7d")[1] == humans


def test_goal_and_funnel_rollups_follow_the_maintainers_options(make_host: Callable[..., Kero]) -> None:
    """The maintainer rolls up the goals and funnels of its own options; a host defining others
    gets the days rolled up again for its own, and reads the right figures meanwhile."""
    clock = FakeClock(T0)
    writer = make_host("writer", clock=clock, goals=["/thanks"], funnels={"F": ["/", "/thanks"]})
    visitors(writer, "/", 5)
    clock.advance(60)
    visitors(writer, "/thanks", 3)
    assert writer.flush(timeout=60)
    clock.set(T0 + timedelta(days=1))
    with writer.read() as con:
        writer.store.maintain(con, budget=60)
        assert con.execute("SELECT day, goal, visitors, conversions FROM day_goals").fetchall() == [
            (T0.date(), "/thanks", 3, 3)]
        assert con.execute("SELECT step, visitors FROM day_funnels WHERE funnel = '/\x1f/thanks' ORDER BY step"
                           ).fetchall() == [(0, 5), (1, 3)]
    view = parse_view({"period": ["7d"], "funnel": ["F"]}, writer.now(), funnels=writer.config.funnels)
    dashboard = model.build(writer, view)
    assert [(g.goal.text, g.visitors, g.conversions) for g in dashboard.goals] == [("/thanks", 3, 3)]
    assert dashboard.funnel is not None and [s.visitors for s in dashboard.funnel.steps] == [5, 3]
    other = make_host("other", clock=clock, goals=["/", "/thanks"])
    dashboard = model.build(other, parse_view({"period": ["7d"]}, other.now()))
    assert [(g.goal.text, g.visitors) for g in dashboard.goals] == [("/", 5), ("/thanks", 3)]
    with other.read() as con:
        other.store.maintain(con, budget=60)  # the day lacked the goal "/": rolled up again
        assert con.execute("SELECT goal, visitors FROM day_goals ORDER BY goal").fetchall() == [("/", 5), ("/thanks", 3)]
        assert con.execute("SELECT count(*) FROM day_funnels").fetchone()[0] == 0  # other defines no funnel


def test_a_goal_view_reads_the_goals_rollups_of_the_lake(make_host: Callable[..., Kero]) -> None:
    """The maintainer rolls up the goal's converters' days (the twins of schema 10); a view
    filtered by the goal reads them, and today's events of today's converters."""
    clock = FakeClock(T0)
    host = make_host("host", clock=clock, goals=["/thanks"])
    visitors(host, "/", 5)
    clock.advance(60)
    visitors(host, "/thanks", 3)
    assert host.flush(timeout=60)
    clock.set(T0 + timedelta(days=1))
    visitors(host, "/", 2)
    clock.advance(60)
    visitors(host, "/thanks", 1)
    assert host.flush(timeout=60)
    view = parse_view({"period": ["7d"], "goal": ["/thanks"]}, host.now(), goals=host.config.goals)
    with host.read() as con:
        host.store.maintain(con, budget=60)
        assert con.execute("SELECT day, goal, visitors, views FROM day_goal_figures").fetchall() == [
            (T0.date(), "/thanks", 3, 6)]
        assert rollups.figures(con, view.scope(), view.previous_start) == queries.figures(con, view.scope(), view.previous_start)
        con.execute("DELETE FROM events WHERE ts < ?", [(T0 + timedelta(days=1)).replace(hour=0, tzinfo=None)])
    dashboard = model.build(host, view)  # from the rollups: the events of the day before are gone
    by_key = {figure.id: figure.value for figure in dashboard.figures}
    assert (by_key["visitors"], by_key["views"]) == (3 + 1, 6 + 2)
    assert [(g.goal.text, g.visitors) for g in dashboard.goals] == [("/thanks", 4)]
