"""Real "hosts" of one lake for the real-process tests: each a ``gunicorn -w 2`` server with its
own db_path (spool) and the lake's options in its environment, the traffic they are sent, and a
ledger that says what the lake holds of it: stored, lost, doubled.

Every request of the traffic has a path of its own, so a lost or a doubled event is seen as
such (not only as a count that is off)."""

from __future__ import annotations

import os
import signal
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import requests

from kero_core import Kero
from kero_core.store import StoreUnavailable
from tests.reliability.load import Answer, Load, basic, wait_until
from tests.reliability.servers import PASSWORD, USER, Server, gunicorn

SITE = "tests.lake.sites:lake_site()"
FLUSH_INTERVAL = 1.0
DELIVERY_TIMEOUT = 90.0  # seconds for every host's spool to reach the lake (two shared cores)


@dataclass
class Host:
    name: str
    server: Server
    db_path: Path


@contextmanager
def lake_host(name: str, tmp_path: Path, lake: str, data_path: str | None, *, workers: int = 2,
              env: dict[str, str] | None = None) -> Iterator[Host]:
    """One host: ``gunicorn -w <workers>`` serving :func:`tests.lake.sites.lake_site` with its
    own db_path under ``tmp_path/<name>``; stopped (SIGTERM) when the block ends."""
    folder = tmp_path / name
    folder.mkdir(exist_ok=True)
    db_path = folder / "kero"
    environment = {"KERO_LAKE": lake, "KERO_LAKE_DATA_PATH": data_path or "",
                   "KERO_FLUSH_INTERVAL": str(FLUSH_INTERVAL), **(env or {})}
    with gunicorn(SITE, folder, workers=workers, db_path=db_path, env=environment) as server:
        yield Host(name, server, db_path)


@contextmanager
def lake_hosts(count: int, tmp_path: Path, lake: str, data_path: str | None) -> Iterator[list[Host]]:
    """``count`` hosts, started side by side (each start waits until its gunicorn answers);
    every one that started is stopped when the block ends, or when another fails to start."""
    with ExitStack() as stack, ThreadPoolExecutor(count) as pool:
        starting = [pool.submit(stack.enter_context, lake_host(f"host{i}", tmp_path, lake, data_path))
                    for i in range(count)]
        yield [host.result() for host in starting]


class UniquePaths:
    """``/hello/<prefix>-0``, ``/hello/<prefix>-1``, ...: as many as a Load will ask for."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def __len__(self) -> int:
        return 10**9

    def __getitem__(self, i: int) -> str:
        return f"/hello/{self.prefix}-{i}"


class Traffic:
    """Bounded load on several hosts at once: ``clients`` threads per host, each sending
    requests of unique paths, until each host has ``per_host`` answers (or ``seconds`` pass).
    Each host's clients come from an address of their own (X-Forwarded-For)."""

    def __init__(self, hosts: list[Host], *, per_host: int, clients: int = 3, seconds: float = 120.0,
                 tag: str = "t") -> None:
        self.per_host = per_host
        self.loads: dict[str, list[Load]] = {
            host.name: [Load(host.server.url, clients=1, seconds=seconds,
                             paths=UniquePaths(f"{tag}-{host.name}-{k}"),  # type: ignore[arg-type]
                             headers={"X-Forwarded-For": f"203.0.113.{10 + i}"})
                        for k in range(clients)]
            for i, host in enumerate(hosts)
        }

    def __enter__(self) -> "Traffic":
        for loads in self.loads.values():
            for load in loads:
                load.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait(self) -> None:
        """Until every host has its answers (or the time limit), then stop."""
        for loads in self.loads.values():
            for load in loads:
                load.until(self.per_host // len(loads))

    def stop(self) -> None:
        for loads in self.loads.values():
            for load in loads:
                load.stop()

    def answers(self, host: str | None = None) -> list[Answer]:
        return [a for name, loads in self.loads.items() if host in (None, name)
                for load in loads for a in load.tally.answers]

    def failures(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for loads in self.loads.values():
            for load in loads:
                total.update(load.tally.failures)
        return total

    def sent(self) -> set[str]:
        return {a.path for a in self.answers()}


@dataclass
class Outcome:
    sent: int
    stored: int
    lost: int
    doubled: int
    unanswered_stored: int  # stored although their answer never came back (cut by a stop)

    def line(self, case: str) -> str:
        return (f"[{case}] sent={self.sent} stored={self.stored} lost={self.lost} doubled={self.doubled} "
                f"stored-but-unanswered={self.unanswered_stored}")


class Ledger:
    """Reads the lake the way a fourth host would (its own db_path), to count what it holds."""

    def __init__(self, tmp_path: Path, lake: str, data_path: str | None) -> None:
        self.kero = Kero(tmp_path / "ledger", lake=lake, lake_data_path=data_path)

    def close(self) -> None:
        self.kero.close()

    def stored(self, like: str = "/hello/%") -> Counter[str]:
        """How many times each tracked path is in the lake."""
        try:
            return self._stored(like)
        except StoreUnavailable:
            # The first read after a PostgreSQL restart fails (a known bug, its own test:
            # test_the_first_read_after_a_postgres_restart_succeeds); these tests count, so retry.
            return self._stored(like)

    def _stored(self, like: str) -> Counter[str]:
        with self.kero.read() as con:
            rows = con.execute("SELECT path, count(*) FROM events WHERE name = 'http_req' AND path LIKE ? "
                               "GROUP BY path", [like]).fetchall()
        return Counter(dict(rows))

    def outcome(self, sent: set[str], like: str = "/hello/%") -> Outcome:
        stored = self.stored(like)
        return Outcome(sent=len(sent), stored=sum(stored.values()), lost=len(sent - set(stored)),
                       doubled=sum(n - 1 for n in stored.values()),
                       unanswered_stored=len(set(stored) - sent))

    def delivered(self, sent: set[str], timeout: float = DELIVERY_TIMEOUT, like: str = "/hello/%") -> Outcome:
        """Wait until every sent path is in the lake (or ``timeout``), then the outcome."""
        wait_until(lambda: sent <= set(self.stored(like)), timeout=timeout, step=1.0)
        return self.outcome(sent, like)


def stats(host: Host | Server, query: str = "period=today&limit=1000") -> dict:
    """A host's (or a ``kero serve`` server's) dashboard JSON (``/_kero/api/stats``), without its
    moving parts (the period's and the comparison's bounds follow the request's time)."""
    url = host.server.url if isinstance(host, Host) else host.url
    response = requests.get(f"{url}/_kero/api/stats?{query}", timeout=60,
                            headers={"Authorization": basic(USER, PASSWORD)})
    assert response.status_code == 200, response.text[:500]
    data = response.json()
    for moving in ("period", "comparison"):  # their bounds are the request's time
        data.pop(moving, None)
    return data


def kill_host(host: Host) -> None:
    """SIGKILL the host's master and workers at once (a machine or container gone)."""
    os.killpg(host.server.process.pid, signal.SIGKILL)
    host.server.process.wait(30)


def spool_times(ledger: Ledger, host_id: str) -> dict[int, float]:
    """For each pid of the host ``host_id``: when it last wrote a spool file (unix seconds), from
    the names the lake recorded as ingested, ``<host id>/<time_ns>-<pid>-<n>.parquet``."""
    with ledger.kero.read() as con:
        names = [row[0] for row in con.execute("SELECT name FROM ingested WHERE name LIKE ?",
                                               [f"{host_id}/%"]).fetchall()]
    last: dict[int, float] = {}
    for name in names:
        stamp, pid = name.split("/", 1)[1].split("-")[:2]
        last[int(pid)] = max(last.get(int(pid), 0.0), int(stamp) / 1e9)
    return last

