"""Retention and compaction of the lake while hosts write: the maintainer (forced here, at an
injected clock) prunes what is past the retention, merges small files and expires snapshots,
and loses nothing that is inside the retention, whatever the writers commit meanwhile."""

from __future__ import annotations

import pytest

import contextlib
import threading
from datetime import datetime, timedelta, timezone
from typing import Callable

import duckdb

from kero_core import Kero
from kero_core.lake.connection import CATALOG, connect
from kero_core.lake.store import MAINTAINER_LOCK, MERGE_EVERY
from tests.conftest import FakeClock

T0 = datetime(2026, 11, 10, 12, 0, tzinfo=timezone.utc)
BATCH = 150  # above the lake's inlining limit: each batch is a Parquet file to compact
PAUSE = 0.5


def put(kero: Kero, clock: FakeClock, name: str, when: datetime, count: int = BATCH) -> None:
    clock.set(when)
    for _ in range(count):
        kero.track(name)
    assert kero.flush(timeout=60)


def data_files(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute(f"SELECT count(*) FROM ducklake_list_files('{CATALOG}', 'events')").fetchone()[0]


class Writers:
    """Two hosts' writers, each tracking a batch and flushing it until stopped; a flush that
    reports failure is counted and retried (the events stay in the spool)."""

    def __init__(self, hosts: dict[str, Kero], pause: float = 0.0) -> None:
        self.pause = pause
        self.sent = dict.fromkeys(hosts, 0)
        self.failed_flushes: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._write, args=item, name=f"writer-{item[0]}")
                         for item in hosts.items()]

    def __enter__(self) -> "Writers":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(180)

    def _write(self, name: str, kero: Kero) -> None:
        while not self._stop.is_set():
            for _ in range(BATCH):
                kero.track("live")
            self.sent[name] += BATCH
            for _ in range(5):
                if kero.flush(timeout=60):
                    break
                self.failed_flushes.append(name)
            self._stop.wait(self.pause)


def hosts_with_history(make_host: Callable[..., Kero], clock: FakeClock) -> tuple[Kero, Kero, Kero]:
    """Hosts a and b (retention 30 days) that wrote events 40 and 31 days ago (past the retention
    by now, T0) and 10, 5 and 1 days ago; and a third host to maintain and read the lake."""
    a, b = (make_host(name, clock=clock, retention=30, flush_interval=0.2) for name in ("a", "b"))
    put(a, clock, "old", T0 - timedelta(days=40))
    put(b, clock, "old", T0 - timedelta(days=31))
    for days in (10, 5, 1):
        put(a, clock, "kept", T0 - timedelta(days=days))
        put(b, clock, "kept", T0 - timedelta(days=days))
    clock.set(T0)
    return a, b, make_host("maintainer", clock=clock, retention=30)


def maintain(maintainer: Kero, con: duckdb.DuckDBPyConnection, rounds: int = 3) -> list[str]:
    """The elected host's work, forced (holding the maintainer's lock, as the elected host does:
    the hosts' own sessions keep trying to maintain): rollups, retention, compaction; the errors
    it gave up on (after its own retries), which the next round would redo."""
    errors = []
    for _ in range(rounds):
        with maintainer.store.catalog.waiting_lock(MAINTAINER_LOCK):
            for work in (maintainer.store.maintain, maintainer.store.prune, maintainer.store.compact):
                try:
                    work(con)
                except duckdb.Error as exc:
                    errors.append(f"{work.__name__}: {str(exc).splitlines()[-1][:120]}")
                    with contextlib.suppress(duckdb.Error):  # a transaction it left open
                        con.execute("ROLLBACK")
    return errors


def test_retention_and_compaction_while_writers_run_keep_everything_inside_retention(
        make_host: Callable[..., Kero]) -> None:
    clock = FakeClock(T0)
    a, b, maintainer = hosts_with_history(make_host, clock)
    # Each host commits a batch about every PAUSE seconds (Kero's own pace is one per 5 s).
    with connect(maintainer.config.lake, maintainer.config.lake_data_path) as con, \
            Writers({"a": a, "b": b}, pause=PAUSE) as writers:
        before = data_files(con)
        errors = maintain(maintainer, con)
        after = data_files(con)
    for kero in (a, b):
        assert kero.flush(timeout=60)

    sent_live = sum(writers.sent.values())
    stored_live = maintainer.count("live")
    kept = {days: maintainer.count("kept", start=T0 - timedelta(days=days, hours=1),
                                   end=T0 - timedelta(days=days) + timedelta(hours=1)) for days in (10, 5, 1)}
    with maintainer.read() as con:
        old = con.execute("SELECT count(*) FROM events WHERE name = 'old'").fetchone()[0]
        doubled = con.execute("SELECT count(*) - count(DISTINCT name) FROM ingested").fetchone()[0]
        rolled = con.execute("SELECT count(*) FROM rollup_days WHERE rolled").fetchone()[0]
    print(f"\n[retention + compaction while writing] live sent={sent_live} stored={stored_live} "
          f"lost={sent_live - stored_live}; inside retention sent={6 * BATCH} stored={sum(kept.values())}; "
          f"past retention left={old}; spool files ingested twice={doubled}; data files {before} -> {after}; "
          f"days rolled up={rolled}; flushes that reported failure={len(writers.failed_flushes)}; "
          f"maintenance given up={errors}")
    assert sent_live > 0 and stored_live == sent_live
    assert errors == []
    assert kept == {10: 2 * BATCH, 5: 2 * BATCH, 1: 2 * BATCH}
    assert maintainer.count("kept") == 6 * BATCH
    assert old == 0 and doubled == 0
    assert rolled >= 3


@pytest.mark.slow
def test_a_flush_concurrent_with_the_maintainer_succeeds(make_host: Callable[..., Kero]) -> None:
    """flush() promises everything stored within its timeout: an ingest that conflicts with the
    maintainer's deletes (retention, bookkeeping) must be retried, not reported as a failure
    (a dashboard read ingests too, and fails the same way). Hosts committing back to back (a
    busy lake of many hosts) make the conflicts frequent."""
    clock = FakeClock(T0)
    a, b, maintainer = hosts_with_history(make_host, clock)
    with connect(maintainer.config.lake, maintainer.config.lake_data_path) as con, \
            Writers({"a": a, "b": b}, pause=0.0) as writers:
        errors = maintain(maintainer, con, rounds=2)
    print(f"\n[flush during maintenance] flushes={sum(writers.sent.values()) // BATCH} "
          f"reported failure={len(writers.failed_flushes)}; maintenance given up={errors}")
    assert writers.failed_flushes == []


def test_small_files_are_merged_every_few_minutes_between_compactions(make_host: Callable[..., Kero]) -> None:
    """Each ingest writes a small file and reads pay for every file they scan: the maintainer
    merges the small ones every MERGE_EVERY seconds, not only at the hourly compaction."""
    clock = FakeClock(T0)
    kero = make_host("host", clock=clock)
    with kero.read() as con:
        kero.store.maintain(con)  # the hourly pass, done: the next one is an hour away
    for n in range(6):  # well inside MERGE_EVERY: no session merges them meanwhile
        put(kero, clock, "live", T0 + timedelta(seconds=30 * n))
    with kero.read() as con:
        before = data_files(con)
        clock.set(T0 + timedelta(seconds=MERGE_EVERY - 30))
        kero.store.maintain(con)
        not_yet = data_files(con)
        clock.set(T0 + timedelta(seconds=MERGE_EVERY + 1))
        kero.store.maintain(con)
        after = data_files(con)
    assert before == not_yet >= 6 and after == 1
    assert kero.count("live") == 6 * BATCH
