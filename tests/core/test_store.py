"""The spool-and-ingest store on real DuckDB files: idempotent ingest, quarantine of bad
files, migrations, corrupt databases, retention, and another program holding the file."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator

import duckdb
import pyarrow as pa
import pytest

from kero_core import Kero, rollups
from kero_core.capture import Hit, hit_from_environ
from kero_core.schema import ARROW_SCHEMA, COLUMN_NAMES
from kero_core import store as store_module
from kero_core.store import SCHEMA_VERSION, Store, StoreUnavailable
from tests.conftest import FakeClock, environ


def one_event_table(path: str = "/", ts: datetime | None = None) -> pa.Table:
    ts = ts or datetime(2026, 11, 10, 12, 0)
    row = {name: None for name in COLUMN_NAMES}
    row.update(ts=ts, name="http_req", method="GET", path=path, status=200, visitor_id=1, is_bot=False, value=1.0)
    return pa.Table.from_pylist([row], schema=ARROW_SCHEMA)


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Store:
    return Store(tmp_path, timedelta(days=15), clock)


def stored_paths(store: Store) -> list[str]:
    with store.session() as con:
        return sorted(r[0] for r in con.execute("SELECT path FROM events").fetchall())


def test_spool_then_session_ingests_and_deletes(store: Store) -> None:
    store.spool(one_event_table("/a"))
    store.spool(one_event_table("/b"))
    assert len(store.pending()) == 2
    assert stored_paths(store) == ["/a", "/b"]
    assert store.pending() == []


def test_waited_is_the_age_of_the_oldest_spool_file(store: Store) -> None:
    """What the writers' shared background ingest goes by (file times are real time)."""
    assert store.waited() == 0
    older, newer = store.spool(one_event_table("/a")), store.spool(one_event_table("/b"))
    os.utime(older, (time.time() - 60, time.time() - 60))
    os.utime(newer, (time.time() - 5, time.time() - 5))
    assert 59 < store.waited() < 70
    os.utime(older, (time.time() + 3600, time.time() + 3600))  # the clock was set back an hour since
    assert store.waited() > 3500
    stored_paths(store)
    assert store.waited() == 0


def test_ingest_is_idempotent_when_deletion_did_not_happen(store: Store) -> None:
    spooled = store.spool(one_event_table("/a"))
    kept = spooled.read_bytes()
    assert stored_paths(store) == ["/a"]
    spooled.write_bytes(kept)  # as if the process died after COMMIT, before unlink
    assert stored_paths(store) == ["/a"]
    assert not spooled.exists()


def test_unreadable_spool_file_is_quarantined_and_others_kept(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    store.spool(one_event_table("/good"))
    (store.spool_dir / "00000000000000000000-1-0.parquet").write_bytes(b"garbage, not parquet")
    with caplog.at_level(logging.ERROR, logger="kero"):
        assert stored_paths(store) == ["/good"]
    assert [p.name for p in store.spool_dir.glob("*.bad")] == ["00000000000000000000-1-0.parquet.bad"]
    assert "unreadable" in caplog.text


def test_temporary_spool_files_are_not_ingested(store: Store) -> None:
    (store.spool_dir / ".half-written.tmp").write_bytes(b"partial")
    assert stored_paths(store) == []


def test_schema_version_is_recorded(store: Store) -> None:
    with store.session() as con:
        assert con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == str(SCHEMA_VERSION)


def test_sessions_draw_no_progress_bar_on_the_host_apps_output(store: Store) -> None:
    with store.session() as con:
        assert con.execute("SELECT current_setting('enable_progress_bar')").fetchone()[0] is False


def test_database_of_a_newer_kero_is_refused(store: Store) -> None:
    with store.session() as con:
        con.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    with pytest.raises(StoreUnavailable, match="newer Kero"):
        with store.session():
            pass


def test_a_failed_upgrade_leaves_the_database_in_place(store: Store) -> None:
    store.spool(one_event_table("/a"))
    assert stored_paths(store) == ["/a"]
    with store.session() as con:  # schema 7, with a table in the way of schema 8's
        con.execute("UPDATE meta SET value = '7' WHERE key = 'schema_version'")
        con.execute("DELETE FROM day_properties")
        con.execute("DROP TABLE day_goals")  # schema 9's
        con.execute("DROP TABLE day_funnels")
        for table in (*rollups.GOAL_TABLES.values(), "day_goal_goals", "day_hours", "day_visits"):  # 10's, 12's, 13's
            con.execute(f"DROP TABLE {table}")
    store.spool(one_event_table("/b"))
    with pytest.raises(StoreUnavailable, match="cannot be upgraded to schema 8 .*events wait in the spool"):
        with store.session():
            pass
    assert not list(store.folder.glob("kero.duckdb.corrupt-*"))
    assert len(store.pending()) == 1  # /b waits
    with duckdb.connect(str(store.db_file)) as con:  # what a fixed Kero's migration would do
        con.execute("DROP TABLE day_properties")
    assert stored_paths(store) == ["/a", "/b"]


def test_corrupt_database_is_moved_aside(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    store.db_file.write_bytes(b"\x00garbage" * 4096)
    with caplog.at_level(logging.ERROR, logger="kero"):
        assert stored_paths(store) == []
    aside = list(store.folder.glob("kero.duckdb.corrupt-*"))
    assert len(aside) == 1 and "corrupt" in caplog.text


def test_truncated_database_is_moved_aside(store: Store) -> None:
    store.spool(one_event_table("/a"))
    assert stored_paths(store) == ["/a"]
    data = store.db_file.read_bytes()
    store.db_file.write_bytes(data[: len(data) // 3])
    store.spool(one_event_table("/b"))
    assert stored_paths(store) == ["/b"]
    assert list(store.folder.glob("kero.duckdb.corrupt-*"))


def test_garbage_wal_does_not_stop_the_store(store: Store) -> None:
    store.spool(one_event_table("/a"))
    assert stored_paths(store) == ["/a"]
    (store.folder / "kero.duckdb.wal").write_bytes(b"\xff" * 5000)
    store.spool(one_event_table("/b"))
    assert stored_paths(store) == ["/a", "/b"]


def test_retention_prunes_old_events(make_kero: Callable[..., Kero], clock: FakeClock) -> None:
    kero = make_kero(clock=clock, retention=timedelta(days=2))
    kero.record_request(environ("/old"), status=200)
    kero.flush()
    clock.advance(3 * 86400)
    kero.record_request(environ("/new"), status=200)
    assert [e.path for e in kero.query()] == ["/new"]


def test_database_held_by_another_program(tmp_path: Path, make_kero: Callable[..., Kero]) -> None:
    kero = make_kero(db_path=tmp_path / "kero")
    kero.record_request(environ("/first"), status=200)
    kero.flush()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); time.sleep(30)",
         str(tmp_path / "kero" / "kero.duckdb")],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        kero.record_request(environ("/while-held"), status=200)
        assert kero.flush(timeout=2) is False  # cannot store now, must not raise
        assert len(kero.store.pending()) == 1  # safe in the spool
        with pytest.raises(StoreUnavailable, match="held open by another program"):
            kero.count()
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    assert sorted(e.path for e in kero.query()) == ["/first", "/while-held"]


def test_concurrent_sessions_in_one_process_do_not_fail(store: Store) -> None:
    import threading

    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for j in range(5):
                store.spool(one_event_table(f"/{i}-{j}"))
                with store.session():
                    pass
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(stored_paths(store)) == 20


def test_session_lock_times_out(store: Store) -> None:
    with store.session():
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            with store.session(wait=0.2):
                pass
        assert time.monotonic() - start < 2


def test_database_file_is_not_held_open_between_sessions(store: Store) -> None:
    store.spool(one_event_table("/a"))
    with store.session():
        pass
    con = duckdb.connect(str(store.db_file))  # another program can open it now
    try:
        assert con.execute("SELECT count(*) FROM events").fetchone()[0] == 1
    finally:
        con.close()


def test_events_timestamps_are_utc(make_kero: Callable[..., Kero], clock: FakeClock) -> None:
    kero = make_kero(clock=clock)
    kero.record_request(environ("/"), status=200)
    [event] = kero.query()
    assert event.ts == datetime(2026, 11, 10, 12, 0, tzinfo=timezone.utc)


def test_the_spool_refuses_batches_past_its_bound_until_an_ingest_empties_it(store: Store) -> None:
    store.max_spool_bytes = 1
    store.spool(one_event_table("/first"))
    with pytest.raises(OSError, match="the spool holds .* bytes waiting to be stored, its limit"):
        store.spool(one_event_table("/second"))
    assert len(store.pending()) == 1
    assert stored_paths(store) == ["/first"]  # an ingest empties it: room again
    store.spool(one_event_table("/third"))
    assert stored_paths(store) == ["/first", "/third"]


def test_the_background_ingest_leaves_a_core_to_the_app(store: Store) -> None:
    """The writer's ingest runs beside the host app's requests: DuckDB on one thread there (its
    default, every core, made the request thread wait for one); sessions of readers keep it."""
    with store.session(wait=0, background=True) as con:
        assert con.execute("SELECT current_setting('threads')").fetchone()[0] == 1
    with store.session(wait=0) as con:
        default = con.execute("SELECT current_setting('threads')").fetchone()[0]
    with duckdb.connect() as fresh:
        assert default == fresh.execute("SELECT current_setting('threads')").fetchone()[0]


def test_a_bulk_write_rolls_up_the_days_it_filled_but_the_newest(store: Store, tmp_path: Path) -> None:
    """Beside a bulk write (which comes in time order), the ingest thread rolls up each day the
    files filled, except the newest one waiting (its events may still be coming), so little is
    left for complete_rollups when the write ends; complete_rollups rolls that one up."""
    days = [datetime(2026, 11, d, 12, 0) for d in (6, 7, 8)]  # the clock's today is 2026-11-10
    with store.ingesting_alongside() as file_ready:
        for ts in days:
            store.spool(one_event_table(f"/{ts.day}", ts))
        file_ready()
        deadline = time.monotonic() + 60
        while store.pending() and time.monotonic() < deadline:
            time.sleep(0.01)
    # Read without a session that writes (its own maintenance would roll up every past day).
    with Store(tmp_path, timedelta(days=15), store.clock, read_only=True).session() as con:
        rolled = dict(con.execute("SELECT day, rolled FROM rollup_days").fetchall())
    assert rolled[days[2].date()] is False
    assert rolled[days[1].date()] is True  # newest first: the day before the filling one comes first
    store.complete_rollups()
    with store.session() as con:
        assert con.execute("SELECT bool_and(rolled), count(*) FROM rollup_days").fetchone() == (True, 3)


def test_a_bulk_write_is_ingested_while_it_goes_on(make_kero: Callable[..., Kero]) -> None:
    """Kero.ingest spools a file per batch, and a thread ingests them as they come (DuckDB beside
    the enrichment), rather than all of them once every batch is built."""
    kero = make_kero()
    ingested_meanwhile = []

    def hits() -> Iterator[Hit]:
        for i in range(400):
            if i == 300:  # three batches spooled; the fourth still being made
                deadline = time.monotonic() + 30
                while kero.store.pending() and time.monotonic() < deadline:
                    time.sleep(0.01)
                ingested_meanwhile.append(not kero.store.pending() and kero.store.db_file.exists())
            yield hit_from_environ(environ(f"/p{i}"), time.time(), status=200)

    assert kero.ingest(hits(), batch_size=100) == 400
    assert ingested_meanwhile == [True]
    assert kero.count() == 400


class CountOpens:
    """Counts the store's writing sessions (each opens the file to write: Store._open)."""

    def __init__(self, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        opened = store._open

        def counted() -> duckdb.DuckDBPyConnection:
            self.count += 1
            return opened()

        monkeypatch.setattr(store, "_open", counted)


def read_paths(store: Store) -> list[str]:
    with store.reading() as con:
        return sorted(r[0] for r in con.execute("SELECT path FROM events").fetchall())


def test_a_read_with_nothing_to_write_opens_no_writing_session(store: Store, clock: FakeClock,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Dashboard renders in a row: the first read ingests and maintains, the next ones (nothing
    pending, within IDLE_FOR) only read; a spool file, another process's too, brings the
    session back at once (read-your-writes), and so does the end of IDLE_FOR."""
    opens = CountOpens(store, monkeypatch)
    store.spool(one_event_table("/a"))
    assert read_paths(store) == ["/a"] and opens.count == 1
    assert read_paths(store) == ["/a"] and opens.count == 1
    clock.advance(30)
    assert read_paths(store) == ["/a"] and opens.count == 1
    other = Store(store.folder, timedelta(days=15), clock)  # another process's writer, same folder
    other.spool(one_event_table("/b"))
    assert read_paths(store) == ["/a", "/b"] and opens.count == 2
    clock.advance(store_module.IDLE_FOR)
    assert read_paths(store) == ["/a", "/b"] and opens.count == 3
    store.note_release("v2", datetime(2026, 11, 10, 12, 0))
    assert read_paths(store) == ["/a", "/b"] and opens.count == 4


def test_a_read_after_midnight_rolls_the_day_up(make_kero: Callable[..., Kero], clock: FakeClock) -> None:
    """A read just after midnight does not skip the session that rolls up the day just ended,
    even within IDLE_FOR of the last one."""
    clock.set(datetime(2026, 11, 10, 23, 59, 50, tzinfo=timezone.utc))
    kero = make_kero(clock=clock)
    kero.record_request(environ("/a"), status=200)
    with kero.read(shared=True) as con:
        assert con.execute("SELECT rolled FROM rollup_days").fetchall() == [(False,)]
    clock.advance(20)
    with kero.read(shared=True) as con:
        assert con.execute("SELECT day, rolled FROM rollup_days").fetchall() == [(datetime(2026, 11, 10).date(), True)]
