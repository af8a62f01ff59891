"""Reads attach the file to DuckDB instances kept from earlier reads (kero_core.read_pool): the
file is free for other processes between reads, every read sees what they wrote, and a fork, a
read that leaves a transaction open or many readers at once leave nothing behind."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from kero_core import read_pool
from kero_core.store import Store
from tests.conftest import FakeClock
from tests.core.test_pipeline import run_python
from tests.core.test_store import one_event_table, read_paths


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Store:
    made = Store(tmp_path, timedelta(days=15), clock)
    made.spool(one_event_table("/a"))
    assert read_paths(made) == ["/a"]  # created, ingested, read once
    return made


def write_from_another_process(store: Store, path: str) -> subprocess.CompletedProcess[str]:
    """Insert an event with a plain read-write connection of another process (no spool)."""
    code = ("import duckdb, sys; c = duckdb.connect(sys.argv[1]); "
            "c.execute(\"INSERT INTO events (ts, name, path) VALUES (TIMESTAMP '2026-11-10 12:00', 'http_req', ?)\", "
            "[sys.argv[2]]); c.close()")
    return subprocess.run([sys.executable, "-c", code, str(store.db_file), path], capture_output=True, text=True,
                          timeout=60)


def test_reads_share_one_instance_and_leave_the_file_to_other_processes(store: Store) -> None:
    [instance] = store._readers._idle
    assert write_from_another_process(store, "/b").returncode == 0  # the file was free between reads
    assert read_paths(store) == ["/a", "/b"]  # what the other process wrote, not what the instance saw before
    assert store._readers._idle == [instance]
    with store.reading():
        held = write_from_another_process(store, "/c")
    assert held.returncode != 0 and "lock" in held.stderr.lower()  # during a read the file is held, as before
    assert write_from_another_process(store, "/c").returncode == 0
    assert read_paths(store) == ["/a", "/b", "/c"]


def test_a_read_that_leaves_a_transaction_open_closes_its_instance(store: Store) -> None:
    with store.reading() as con:
        con.execute("BEGIN TRANSACTION")
        con.execute("SELECT count(*) FROM events").fetchall()
    assert store._readers._idle == []  # DETACH refused: the instance was closed instead, releasing the file
    assert write_from_another_process(store, "/b").returncode == 0
    assert read_paths(store) == ["/a", "/b"]


def test_readers_at_once_each_get_an_instance_and_a_few_are_kept(store: Store) -> None:
    readers = read_pool.KEEP + 2
    together = threading.Barrier(readers, timeout=30)
    counts: list[int] = []

    def read() -> None:
        with store.reading() as con:
            together.wait()  # all of them attached at once, under the shared lock
            counts.append(con.execute("SELECT count(*) FROM events").fetchone()[0])

    threads = [threading.Thread(target=read) for _ in range(readers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counts == [1] * readers
    assert len(store._readers._idle) == read_pool.KEEP
    store.close()
    assert store._readers._idle == []
    assert read_paths(store) == ["/a"]  # a read after close makes a new one


def test_idle_instances_are_closed_before_a_fork(tmp_path: Path) -> None:
    """A preloading server: the parent reads, then forks workers that read and write."""
    out = run_python(f"""
        import os
        from kero_core import Kero
        kero = Kero(db_path={str(tmp_path)!r}, writer_process=False)

        def count():  # as the dashboard reads
            with kero.read(shared=True) as con:
                return con.execute("SELECT count(*) FROM events").fetchone()[0]

        kero.record_request({{"PATH_INFO": "/parent", "REMOTE_ADDR": "1.2.3.4"}}, status=200)
        assert count() == 1 and len(kero.store._readers._idle) == 1
        pid = os.fork()
        if pid == 0:
            idle = len(kero.store._readers._idle)
            kero.record_request({{"PATH_INFO": "/child", "REMOTE_ADDR": "1.2.3.4"}}, status=200)
            os._exit(0 if idle == 0 and count() == 2 else 3)
        code = os.waitpid(pid, 0)[1]
        print(code, len(kero.store._readers._idle), count(), len(kero.store._readers._idle))
    """)
    assert out.strip() == "0 0 2 1"


def test_idle_instances_are_closed_a_while_after_the_last_read(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The memory a read's instance holds goes back once nobody reads for KEEP_FOR seconds."""
    monkeypatch.setattr(read_pool, "KEEP_FOR", 0.5)
    store._readers.close()
    assert read_paths(store) == ["/a"] and len(store._readers._idle) == 1
    time.sleep(0.3)
    assert read_paths(store) == ["/a"] and len(store._readers._idle) == 1  # the second read put the end off
    time.sleep(0.3)
    assert len(store._readers._idle) == 1
    deadline = time.monotonic() + 10
    while store._readers._idle and time.monotonic() < deadline:
        time.sleep(0.05)
    assert store._readers._idle == []


def test_a_read_spills_beside_the_file_not_into_the_apps_working_directory(store: Store) -> None:
    """What a connection to the file does (DuckDB's default for an in-memory instance is ./.tmp)."""
    with store.reading() as con:
        assert con.execute("SELECT current_setting('temp_directory')").fetchone()[0] == f"{store.db_file}.tmp"
        assert con.execute("SELECT current_setting('memory_limit')").fetchone()[0] == "953.6 MiB"  # READ_MEMORY, 1 GB


def test_a_child_forked_while_another_thread_held_the_pools_lock_can_read(tmp_path: Path) -> None:
    """The pool's before-fork hook takes its lock; another thread may take it again before the
    fork itself. Made certain here by a before-fork hook registered first (so it runs after the
    pool's) that lets another thread take the lock and waits until it holds it."""
    out = run_python(f"""
        import os, signal, threading
        pools, take, held, release = [], threading.Event(), threading.Event(), threading.Event()

        def hold():
            take.wait()
            with pools[0]._lock:
                held.set()
                release.wait()

        def grab():
            if pools:
                take.set()
                held.wait()

        threading.Thread(target=hold, daemon=True).start()
        os.register_at_fork(before=grab)
        from kero_core import Kero
        kero = Kero(db_path={str(tmp_path)!r}, writer_process=False)

        def count():
            with kero.read(shared=True) as con:
                return con.execute("SELECT count(*) FROM events").fetchone()[0]

        kero.record_request({{"PATH_INFO": "/parent", "REMOTE_ADDR": "1.2.3.4"}}, status=200)
        assert count() == 1
        pools.append(kero.store._readers)
        pid = os.fork()
        if pid == 0:
            signal.alarm(20)  # a lock held forever: killed, not waited for
            kero.record_request({{"PATH_INFO": "/child", "REMOTE_ADDR": "1.2.3.4"}}, status=200)
            os._exit(0 if count() == 2 else 3)
        release.set()
        print(os.waitpid(pid, 0)[1], count())
    """)
    assert out.strip() == "0 2"
