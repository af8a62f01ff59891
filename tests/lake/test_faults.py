"""Faults under load on real hosts (gunicorn) of one lake: PostgreSQL restarted or down, a host
SIGKILLed, a host SIGTERMed and its disk wiped. Each test prints sent / stored / lost / doubled."""

from __future__ import annotations

import os
import shutil
import signal
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Callable, Iterator

import pytest

from kero_core import Kero
from kero_core.lake.store import MAINTAIN_EVERY
from tests.lake.hosts import (FLUSH_INTERVAL, Host, Ledger, Traffic, kill_host, lake_host, lake_hosts, spool_times,
                              stats)
from tests.lake.postgres import PostgresServer
from tests.reliability.load import HANDOVER_LAG, wait_until
from tests.reliability.servers import worker_pids


@pytest.fixture
def ledger(tmp_path: Path, lake: str, lake_data: str) -> Iterator[Ledger]:
    ledger = Ledger(tmp_path, lake, lake_data)
    yield ledger
    ledger.close()


def steady(ledger: Ledger, hosts: list[Host], timeout: float = 60.0) -> None:
    """Until every worker of ``hosts`` has had a spool file committed to the lake (so each has
    read the day's salt and works steadily; a fresh worker also waits for its parsers)."""
    def committed() -> bool:
        for host in hosts:
            workers = worker_pids(host.server.process.pid)
            if not set(workers) <= set(spool_times(ledger, (host.db_path / "host-id").read_text().strip())):
                return False
        return True

    assert wait_until(committed, timeout=timeout, step=1.0), "the workers did not start writing"


def test_postgres_restart_mid_load_loses_and_doubles_nothing(tmp_path: Path, lake: str, lake_data: str,
                                                             postgres: PostgresServer, ledger: Ledger) -> None:
    with lake_hosts(2, tmp_path, lake, lake_data) as hosts:
        with Traffic(hosts, per_host=600, seconds=90) as traffic:
            steady(ledger, hosts)  # ingests have committed: the hosts' connections are open
            postgres.restart()
            traffic.wait()
        sent = traffic.sent()
        outcome = ledger.delivered(sent)
    print("\n" + outcome.line("PostgreSQL restarted mid-load"))
    assert traffic.failures() == {}
    assert (outcome.lost, outcome.doubled, outcome.unanswered_stored) == (0, 0, 0)


def outage(seconds: float, tmp_path: Path, lake: str, lake_data: str, postgres: PostgresServer,
           ledger: Ledger) -> None:
    """PostgreSQL down ``seconds`` under load: every request answered, the spools grow, and
    everything arrives once PostgreSQL is back, once."""
    with lake_hosts(2, tmp_path, lake, lake_data) as hosts:
        with Traffic(hosts, per_host=10**6, seconds=seconds + 60) as traffic:
            steady(ledger, hosts)
            postgres.stop("fast")
            down_at = time.monotonic()
            try:
                most_waiting = 0
                while time.monotonic() - down_at < seconds:
                    most_waiting = max(most_waiting, sum(len(list((h.db_path / "spool").glob("*.parquet")))
                                                         for h in hosts))
                    time.sleep(0.5)
                during = sum(1 for a in traffic.answers() if a.at >= down_at)
            finally:
                postgres.start()
            time.sleep(3)  # and a little traffic after it is back
            traffic.stop()
        sent = traffic.sent()
        outcome = ledger.delivered(sent)
    print("\n" + outcome.line(f"PostgreSQL down {seconds:.0f} s") +
          f" answered-while-down={during} most-spool-files-waiting={most_waiting}")
    assert traffic.failures() == {}, "the app must answer every request while the lake is down"
    assert during > 0 and most_waiting > 0, "the outage must have been under load"
    assert (outcome.lost, outcome.doubled, outcome.unanswered_stored) == (0, 0, 0)


@pytest.mark.slow
def test_postgres_down_8_seconds_app_up_spool_delivered_after(tmp_path: Path, lake: str, lake_data: str,
                                                              postgres: PostgresServer, ledger: Ledger) -> None:
    outage(8, tmp_path, lake, lake_data, postgres, ledger)


@pytest.mark.slow
def test_postgres_down_30_seconds_app_up_spool_delivered_after(tmp_path: Path, lake: str, lake_data: str,
                                                               postgres: PostgresServer, ledger: Ledger) -> None:
    outage(30, tmp_path, lake, lake_data, postgres, ledger)


@pytest.mark.slow
def test_sigkilled_host_loses_at_most_its_last_flush_interval(tmp_path: Path, lake: str, lake_data: str,
                                                             ledger: Ledger) -> None:
    with lake_host("survivor", tmp_path, lake, lake_data) as survivor, ExitStack() as stack:
        victim = stack.enter_context(lake_host("victim", tmp_path, lake, lake_data))
        workers = worker_pids(victim.server.process.pid)
        with Traffic([survivor, victim], per_host=10**6, seconds=90) as traffic:
            # Kill once the victim's workers work steadily, mid-interval.
            steady(ledger, [victim])
            time.sleep(FLUSH_INTERVAL / 2)
            killed_at, killed_wall = time.monotonic(), time.time()
            kill_host(victim)
            time.sleep(2)
        stack.close()
        sent = traffic.sent()
        # The machine comes back with its disk: the spool it left is delivered (a dashboard
        # read ingests it), the memory of its workers is gone.
        with lake_host("victim", tmp_path, lake, lake_data) as back:
            stats(back)  # its read ingests the spool first
            ledger.delivered({path for path in sent if "-survivor-" in path})
            outcome = ledger.outcome(sent)
    last_write = spool_times(ledger, (victim.db_path / "host-id").read_text().strip())
    at_risk = 0
    held = {}
    for pid in workers:
        held[pid] = killed_wall - last_write.get(pid, 0.0)
        at_risk += sum(1 for a in traffic.answers("victim")
                       if a.worker == str(pid) and a.at >= killed_at - held[pid] - HANDOVER_LAG)
    print("\n" + outcome.line("one host SIGKILLed") +
          f" victim-answered={len(traffic.answers('victim'))} at-risk(answered since each worker's last write)={at_risk}"
          f" last-write-before-kill-s={ {p: round(h, 2) for p, h in held.items()} } flush_interval={FLUSH_INTERVAL}")
    lost_paths = sent - set(ledger.stored())
    assert all("-victim-" in path for path in lost_paths), "only the killed host may lose events"
    assert outcome.doubled == 0
    assert outcome.lost <= at_risk
    assert max(held.values()) < FLUSH_INTERVAL + 5, "a worker's last write must be recent (about one interval)"


@pytest.mark.slow
def test_sigtermed_host_whose_disk_is_wiped_loses_nothing(tmp_path: Path, lake: str, lake_data: str,
                                                        ledger: Ledger) -> None:
    with lake_host("survivor", tmp_path, lake, lake_data) as survivor, ExitStack() as stack:
        victim = stack.enter_context(lake_host("victim", tmp_path, lake, lake_data))
        with Traffic([survivor, victim], per_host=10**6, seconds=90) as traffic:
            steady(ledger, [survivor, victim])
            victim.server.process.send_signal(signal.SIGTERM)
            victim.server.process.wait(40)
            shutil.rmtree(victim.db_path)  # an ephemeral disk: gone with the container
            time.sleep(2)
        stack.close()
        sent = traffic.sent()
        outcome = ledger.delivered(sent)
    print("\n" + outcome.line("host SIGTERMed, db_path deleted") +
          f" victim-answered={len(traffic.answers('victim'))} refused-after-stop={dict(traffic.failures())}")
    assert set(traffic.failures()) <= {"ConnectionError"}, "only refusals once the host has stopped listening"
    assert not os.path.exists(victim.db_path)
    assert (outcome.lost, outcome.doubled, outcome.unanswered_stored) == (0, 0, 0)


def test_the_first_read_after_a_postgres_restart_succeeds(make_host: Callable[..., Kero],
                                                          postgres: PostgresServer) -> None:
    """A restart ends every PostgreSQL session: the host's kept sessions must be remade, not
    fail the dashboard's next read."""
    kero = make_host("reader")
    kero.track("signup")
    assert kero.flush(timeout=60)
    assert kero.count("signup") == 1
    postgres.restart()
    time.sleep(MAINTAIN_EVERY + 0.5)  # the next session also tries to be the maintainer
    assert kero.count("signup") == 1
