"""Sustained HTTP load and a dashboard poller, both bounded in time, both keeping exact tallies.

A request counts as *sent* only when its full 200 response came back: that is what the app
acknowledged, and so what Kero must have recorded. Everything else (a refused connection while a
server stops, a 5xx) is tallied apart, by kind, so a test can print it and assert on it."""

from __future__ import annotations

import base64
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

import requests

from tests.conftest import CHROME_UA

PATHS = tuple(f"/hello/{name}" for name in ("ada", "alan", "grace", "linus", "guido", "barbara"))
# A worker's spool files are named when its writer process writes them, which runs when a core is
# idle (SCHED_IDLE), so a little after the worker handed their hits over: the requests a killed
# worker still held are those answered since its last hand-over, up to this long before the name.
HANDOVER_LAG = 0.5


def basic(user: str, password: str) -> str:
    """An ``Authorization`` header value for HTTP Basic auth (UTF-8 credentials)."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass
class Answer:
    """One 200 response: when it arrived (monotonic seconds), which path, which worker."""

    at: float
    path: str
    worker: str


@dataclass
class Tally:
    answers: list[Answer] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)

    @property
    def sent(self) -> int:
        return len(self.answers)

    def by_path(self) -> Counter[str]:
        return Counter(a.path for a in self.answers)

    def by_worker(self) -> Counter[str]:
        return Counter(a.worker for a in self.answers)


class Load:
    """``clients`` threads GETting ``PATHS`` in turn from ``base_url`` until :meth:`stop` or
    ``seconds`` have passed, whichever comes first."""

    def __init__(self, base_url: str, *, clients: int = 6, seconds: float = 10.0,
                 paths: tuple[str, ...] = PATHS, headers: dict[str, str] | None = None) -> None:
        self.base_url = base_url
        self.paths = paths
        self.headers = {"User-Agent": CHROME_UA, **(headers or {})}
        self.tally = Tally()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._deadline = time.monotonic() + seconds
        self._threads = [threading.Thread(target=self._run, args=(i,), name=f"load-{i}") for i in range(clients)]

    def __enter__(self) -> "Load":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> Tally:
        """Stop every client (each finishes the request it is in) and return the tally."""
        self._stop.set()
        for thread in self._threads:
            thread.join(30)
        return self.tally

    def until(self, requests_done: int) -> Tally:
        """Run until ``requests_done`` requests got an answer (or a failure), or the time limit."""
        while len(self.tally.answers) + sum(self.tally.failures.values()) < requests_done:
            if self._stop.wait(0.05) or time.monotonic() >= self._deadline:
                break
        return self.stop()

    def wait(self) -> Tally:
        """Let the load run to its time limit, then return the tally."""
        self._stop.wait(max(0.0, self._deadline - time.monotonic()))
        return self.stop()

    def _run(self, offset: int) -> None:
        i = offset
        with requests.Session() as session:
            while not self._stop.is_set() and time.monotonic() < self._deadline:
                path = self.paths[i % len(self.paths)]
                i += 1
                outcome = _get(session, self.base_url + path, self.headers)
                with self._lock:
                    if isinstance(outcome, Answer):
                        outcome.path = path
                        self.tally.answers.append(outcome)
                    else:
                        self.tally.failures[outcome] += 1
                if not isinstance(outcome, Answer):
                    time.sleep(0.01)  # a stopped server refuses at once: do not spin


def _get(session: requests.Session, url: str, headers: dict[str, str]) -> Answer | str:
    try:
        response = session.get(url, headers=headers, timeout=30, allow_redirects=False)
    except requests.RequestException as exc:
        return type(exc).__name__
    if response.status_code != 200:
        return f"HTTP {response.status_code}"
    return Answer(time.monotonic(), "", response.headers.get("X-Worker", ""))


@dataclass
class Polls:
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int | str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)  # the start of each non-200 answer

    def p95(self) -> float:
        """The 95th percentile latency in ms (the maximum below 20 polls)."""
        data = sorted(self.latencies_ms)
        if len(data) < 20:
            return data[-1] if data else float("nan")
        return statistics.quantiles(data, n=20)[-1]


class DashboardPoller:
    """GETs the dashboard once a second (with credentials) while the load runs."""

    def __init__(self, url: str, authorization: str, every: float = 1.0) -> None:
        self.url = url
        self.headers = {"Authorization": authorization, "User-Agent": CHROME_UA}
        self.every = every
        self.polls = Polls()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dashboard-poller")

    def __enter__(self) -> "DashboardPoller":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(60)

    def _run(self) -> None:
        next_poll = time.monotonic() + self.every
        with requests.Session() as session:
            # On a fixed schedule (not a pause after each answer), as a user refreshing would.
            while not self._stop.wait(max(0.0, next_poll - time.monotonic())):
                next_poll += self.every
                started = time.perf_counter()
                try:
                    response = session.get(self.url, headers=self.headers, timeout=30)
                    status: int | str = response.status_code
                    if status != 200:
                        self.polls.errors.append(response.text[:500])
                except requests.RequestException as exc:
                    status = type(exc).__name__
                self.polls.latencies_ms.append((time.perf_counter() - started) * 1000)
                self.polls.statuses[status] += 1


def wait_until(condition: Callable[[], bool], timeout: float, step: float = 0.1) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` seconds have passed; its last value."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return condition()
        time.sleep(step)
    return True
