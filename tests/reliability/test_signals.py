"""Signals to gunicorn mid-load. SIGTERM (to one worker, or to the master) is a graceful stop:
0 events lost. SIGKILL to a worker loses what it still held in memory, at most its last flush
interval of events: the test prints the number lost and the bound."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from kero_core import Kero
from tests.reliability.load import HANDOVER_LAG, Load, Tally, wait_until
from tests.reliability.servers import Server, gunicorn, worker_pids

SITE = "tests.reliability.sites:example()"
FLUSH_INTERVAL = 1.0  # the example's (Kero's default)
SECONDS = 6.0


def stored(db_path: Path) -> int:
    with Kero(db_path=db_path) as reader:
        return reader.count()


def report(case: str, tally: Tally, count: int, extra: str = "") -> None:
    print(f"\n[{case}] sent={tally.sent} stored={count} lost={tally.sent - count} "
          f"refused while stopping={dict(tally.failures)} {extra}")


def running_load(server: Server) -> Load:
    return Load(server.url, seconds=SECONDS)


def test_sigterm_to_one_worker_mid_load_loses_nothing(tmp_path: Path) -> None:
    with gunicorn(SITE, tmp_path) as server:
        victim = worker_pids(server.process.pid)[0]
        with running_load(server) as load:
            time.sleep(SECONDS / 2)
            os.kill(victim, signal.SIGTERM)
            tally = load.wait()
        log = server.log()
    count = stored(tmp_path / "kero")
    report("SIGTERM one worker", tally, count, f"victim answered {tally.by_worker()[str(victim)]}")
    assert f"Worker exiting (pid: {victim})" in log
    assert tally.failures == {}, "a worker stopping gracefully must not fail a request"
    assert count == tally.sent


def test_sigterm_to_the_master_mid_load_loses_nothing(tmp_path: Path) -> None:
    with gunicorn(SITE, tmp_path) as server:
        with running_load(server) as load:
            time.sleep(SECONDS / 2)
            server.process.send_signal(signal.SIGTERM)
            server.process.wait(40)
            tally = load.stop()
    count = stored(tmp_path / "kero")
    report("SIGTERM master", tally, count)
    assert set(tally.failures) <= {"ConnectionError"}, "only refusals once the server has stopped listening"
    assert count == tally.sent


def last_spool_of(db_path: Path, pid: int) -> float | None:
    """When ``pid`` last wrote a spool file (unix seconds), from the names the store recorded as
    ingested: ``<time_ns>-<pid>-<n>.parquet``."""
    with Kero(db_path=db_path) as reader, reader.read() as con:
        names = [row[0] for row in con.execute("SELECT name FROM ingested").fetchall()]
    times = [int(name.split("-")[0]) / 1e9 for name in names if name.split("-")[1] == str(pid)]
    return max(times, default=None)


@pytest.mark.slow
def test_sigkill_to_one_worker_loses_at_most_what_it_held_since_its_last_write(tmp_path: Path) -> None:
    with gunicorn(SITE, tmp_path) as server:
        victim = worker_pids(server.process.pid)[0]
        with Load(server.url, seconds=60) as load:
            # Kill it mid-interval once it works steadily (a fresh worker's first write also waits
            # for the parsers to load: seconds, on two busy cores).
            assert wait_until(lambda: last_spool_of(tmp_path / "kero", victim) is not None, timeout=30, step=0.5)
            time.sleep(FLUSH_INTERVAL / 2)
            killed_at, killed_wall = time.monotonic(), time.time()
            os.kill(victim, signal.SIGKILL)
            # The master replaces the worker; the load goes on to its end meanwhile.
            assert wait_until(lambda: len(worker_pids(server.process.pid)) == 4, timeout=30)
            time.sleep(1)
            tally = load.stop()
    count = stored(tmp_path / "kero")
    last_write = last_spool_of(tmp_path / "kero", victim)
    assert last_write is not None
    held_for = killed_wall - last_write
    by_victim = [a for a in tally.answers if a.worker == str(victim)]
    # Anything answered before the victim's last hand-over is in its last spool file (a request is
    # recorded when its response has been sent), named up to HANDOVER_LAG after the hand-over.
    at_risk = sum(1 for a in by_victim if a.at >= killed_at - held_for - HANDOVER_LAG)
    report("SIGKILL one worker", tally, count,
           f"victim answered {len(by_victim)}; its last write was {held_for:.2f} s before the kill "
           f"(flush_interval {FLUSH_INTERVAL} s); {at_risk} answered since")
    assert count <= tally.sent
    assert tally.sent - count <= at_risk
