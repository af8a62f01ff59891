"""``kero lake push``: a single-file history moves into the lake, every day exactly once, however
often the push is run or wherever it was stopped; today's visitors stay one visitor across the
move; every bad input gets one clear line."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import duckdb
import pytest

from kero_core import Kero
from kero_core.batch import EventBuilder
from kero_core.capture import hit_from_environ
from kero_core.config import make_config
from kero_core.enrich import SaltStore
from kero_core.store import Store
from kero_core.lake.catalog import Catalog
from kero_core.lake.store import LakeStore, host_id
from kero_core.synthetic import generate
from tests.cli.conftest import invoke
from tests.conftest import environ

EVENTS = 3_000
DAYS = 4


def per_day(kero: Kero) -> dict[str, int]:
    with kero.read() as con:
        rows = con.execute("SELECT ts::DATE::VARCHAR, count(*) FROM events GROUP BY 1").fetchall()
    return dict(rows)


def file_per_day(folder: Path) -> dict[str, int]:
    with duckdb.connect(str(folder / "kero.duckdb"), read_only=True) as con:
        return dict(con.execute("SELECT ts::DATE::VARCHAR, count(*) FROM events GROUP BY 1").fetchall())


@pytest.fixture
def history(tmp_path: Path) -> Path:
    """A single-file database with EVENTS events over DAYS days ending now."""
    folder = tmp_path / "app"
    with Kero(folder, retention=30) as kero:
        assert kero.ingest(generate(EVENTS, days=DAYS, seed=3, end=time.time())) == EVENTS
    return folder


@pytest.fixture
def spooled(history: Path) -> Path:
    """``history`` with a page view left in its spool (an app stopped before its last ingest)."""
    config = make_config(db_path=history)
    hit = hit_from_environ(environ("/left-in-the-spool"), time.time(), status=200)
    Store(history, config.retention).spool(EventBuilder(config, [], SaltStore(history / "salts")).build([hit]))
    return history


def push(folder: Path, lake: str, lake_data: str) -> object:
    return invoke("lake", "push", "--db", folder, "--lake", lake, "--lake-data-path", lake_data)


def test_push_copies_every_day_and_the_lake_rolls_them_up(spooled: Path, lake: str, lake_data: str,
                                                          make_host: Callable[..., Kero]) -> None:
    history = spooled
    expected = file_per_day(history)
    result = push(history, lake, lake_data)
    assert result.exit_code == 0, result.output
    total = sum(expected.values())
    assert f"Pushed {total:,} events of {len(expected)} days" in result.output
    assert "1 spool files in" in result.output and "the app delivers them" in result.output
    host = make_host("new-host")
    assert per_day(host) == expected
    assert host.count(name=None, start=0) == total
    assert host.count(filters={"path": "/left-in-the-spool"}, start=0) == 0
    # The app, started on the lake with its own db_path, delivers what its spool still held.
    with Kero(history, lake=lake, lake_data_path=lake_data) as app:
        assert app.count(filters={"path": "/left-in-the-spool"}, start=0) == 1
        assert app.count(name=None, start=0) == total + 1
    with host.read() as con:
        assert con.execute("SELECT count(*) FROM rollup_days WHERE NOT rolled").fetchone()[0] <= 1  # today stays open
        past = con.execute("SELECT count(*) FROM rollup_days WHERE rolled").fetchone()[0]
    assert past >= DAYS - 1


@pytest.mark.slow
def test_a_second_push_copies_nothing(history: Path, lake: str, lake_data: str, make_host: Callable[..., Kero]) -> None:
    assert push(history, lake, lake_data).exit_code == 0
    again = push(history, lake, lake_data)
    assert again.exit_code == 0, again.output
    assert "Pushed 0 events of 0 days" in again.output and "days pushed before" in again.output
    assert per_day(make_host("reader")) == file_per_day(history)


def test_a_push_stopped_midway_then_run_again_stores_each_day_once(
        history: Path, lake: str, lake_data: str, make_host: Callable[..., Kero], monkeypatch: pytest.MonkeyPatch) -> None:
    appended = []
    real_append = LakeStore.append

    def failing_append(self: LakeStore, con: duckdb.DuckDBPyConnection, transaction: Callable[[], None]) -> None:
        if len(appended) == 2:  # the connection dies in the third day's transaction
            raise duckdb.IOException("injected: connection lost")
        real_append(self, con, transaction)
        appended.append(1)

    monkeypatch.setattr(LakeStore, "append", failing_append)
    with pytest.raises(duckdb.IOException):
        push(history, lake, lake_data)
    monkeypatch.setattr(LakeStore, "append", real_append)
    assert sum(per_day(make_host("reader")).values()) > 0  # two days arrived
    result = push(history, lake, lake_data)
    assert result.exit_code == 0, result.output
    assert "Skipped 2 days pushed before" in result.output
    assert per_day(make_host("reader2")) == file_per_day(history)


@pytest.mark.slow
def test_events_added_to_the_file_after_the_push_are_reported_not_copied(
        history: Path, lake: str, lake_data: str, make_host: Callable[..., Kero]) -> None:
    assert push(history, lake, lake_data).exit_code == 0
    with Kero(history) as app:
        for n in range(3):
            app.record_request(environ(f"/late{n}"), status=200)
    result = push(history, lake, lake_data)
    assert result.exit_code == 1
    assert "Not pushed: 3 events the file gained after their day was pushed" in result.output
    assert make_host("reader").count(filters={"path": "/late0"}, start=0) == 0


@pytest.mark.slow
def test_todays_salt_moves_so_a_visitor_before_and_after_the_move_counts_once(
        history: Path, lake: str, lake_data: str, make_host: Callable[..., Kero]) -> None:
    visitor = environ("/before", REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0")
    with Kero(history) as app:
        app.record_request(visitor, status=200)
    result = push(history, lake, lake_data)
    assert result.exit_code == 0, result.output
    assert "uses this folder's visitor salt of" in result.output
    host = make_host("after-the-move")
    host.record_request({**visitor, "PATH_INFO": "/after"}, status=200)
    assert host.flush(timeout=60)
    with host.read() as con:
        ids = {row[0] for row in con.execute(
            "SELECT visitor_id FROM events WHERE path IN ('/before', '/after')").fetchall()}
    assert len(ids) == 1


@pytest.mark.slow
def test_a_lake_with_its_own_salt_keeps_it_and_says_what_that_means(
        history: Path, lake: str, lake_data: str, make_host: Callable[..., Kero]) -> None:
    host = make_host("started-first")
    host.record_request(environ("/lake-first"), status=200)
    assert host.flush(timeout=60)
    with Kero(history) as app:
        app.record_request(environ("/file"), status=200)
    result = push(history, lake, lake_data)
    assert result.exit_code == 0, result.output
    assert "had its own visitor salt" in result.output and "counts twice" in result.output


def test_a_second_push_of_the_same_folder_at_once_is_refused(history: Path, lake: str, lake_data: str) -> None:
    catalog = Catalog(lake)
    try:
        with catalog.elected(f"push:{host_id(history)}") as won:
            assert won
            result = push(history, lake, lake_data)
    finally:
        catalog.close()
    assert result.exit_code == 1
    assert "another 'kero lake push' of" in result.output and "Traceback" not in result.output


def test_push_needs_a_single_file_database(tmp_path: Path, lake: str, lake_data: str) -> None:
    result = push(tmp_path / "nothing-here", lake, lake_data)
    assert result.exit_code == 2 and "holds no Kero database" in result.output


def test_push_needs_a_lake(history: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KERO_LAKE", raising=False)
    result = invoke("lake", "push", "--db", history)
    assert result.exit_code == 2 and "Missing option '--lake'" in result.output


def test_push_refuses_a_lake_that_is_not_postgresql(history: Path) -> None:
    result = invoke("lake", "push", "--db", history, "--lake", "mysql://db/kero")
    assert result.exit_code == 2 and "lake must be a PostgreSQL catalog" in result.output


def test_push_to_an_unreachable_lake_is_one_line_without_the_password(history: Path, lake_data: str) -> None:
    from tests.conftest import free_port

    dead = f"postgres:dbname=kero host=127.0.0.1 port={free_port()} user=kero password=hunter2"
    result = invoke("lake", "push", "--db", history, "--lake", dead, "--lake-data-path", lake_data)
    assert result.exit_code == 1, result.output
    assert "hunter2" not in result.output and "Traceback" not in result.output
    assert result.output.startswith("Error: ") and len(result.output.strip().splitlines()) == 1


def test_spool_files_the_file_holds_already_are_deleted_not_delivered_twice(
        spooled: Path, lake: str, lake_data: str) -> None:
    history = spooled
    store = Store(history, make_config(db_path=history).retention)
    [waiting] = store.pending()
    copy = waiting.read_bytes()
    with store.session():  # stored in the file; then the cleanup "did not happen" (a crash)
        pass
    waiting.write_bytes(copy)
    result = push(history, lake, lake_data)
    assert result.exit_code == 0, result.output
    assert "Deleted 1 spool files the file held already" in result.output
    assert not store.pending()
    with Kero(history, lake=lake, lake_data_path=lake_data) as app:
        assert app.count(filters={"path": "/left-in-the-spool"}, start=0) == 1
