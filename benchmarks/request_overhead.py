"""Request-thread overhead of Kero, in one process: a bare WSGI app vs the same app wrapped by
KeroMiddleware, and a bare Flask app vs the same app with kero_flask, each called through WSGI
in a tight loop, A and B taking turns every 200 requests, over several rounds. Prints per-request medians (µs) and the
added time, by the wall clock and by the request thread's CPU time (``time.thread_time``: what
Kero costs the thread, without the time this shared machine gave other processes), and how much
of that CPU time the garbage collector took (Kero's allocations, and hits held in its buffer,
trigger collections inside the host app's request, which then scan the host's objects too).

It is the request thread's cost that is measured: a round holds fewer requests than wake the
writer early, and the writer is drained between rounds, outside the timed part (the writer's own
cost is what benchmarks/ingest.py measures). Every tracked request must be stored.

    python benchmarks/request_overhead.py [--requests 4000] [--rounds 15] [--smoke]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable, NamedTuple

from kero_core import Kero
from kero_core.pipeline import WAKE_AT
from kero_core.wsgi import KeroMiddleware

WSGIApp = Callable[..., Iterable[bytes]]
TARGET_US = 20.0  # issue 7
TURN = 200  # requests an app runs before the other takes its turn
CLOCKS = {"wall": "wall clock (median of rounds):", "cpu": "request thread CPU (thread_time):",
          "gc": "  of which garbage collection:"}
ENVIRON = {
    "REQUEST_METHOD": "GET", "PATH_INFO": "/hello/world", "QUERY_STRING": "utm_source=news",
    "SERVER_NAME": "example.com", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": "example.com",
    "REMOTE_ADDR": "81.2.69.142", "HTTP_X_FORWARDED_FOR": "203.0.113.9",
    "HTTP_USER_AGENT": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "HTTP_ACCEPT_LANGUAGE": "en-GB,en;q=0.9", "HTTP_ACCEPT_ENCODING": "gzip, br",
    "HTTP_REFERER": "https://www.google.com/", "wsgi.url_scheme": "http", "SCRIPT_NAME": "",
    # Chrome's low-entropy client hints, sent with every request to a secure page (issue 17).
    "HTTP_SEC_CH_UA": '"Google Chrome";v="131", "Chromium";v="131", "Not_A Brand";v="24"',
    "HTTP_SEC_CH_UA_MOBILE": "?0", "HTTP_SEC_CH_UA_PLATFORM": '"Windows"',
}


def bare_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


def flask_app(folder: Path | None) -> WSGIApp:
    """The Flask hello-world, with kero_flask when ``folder`` (Kero's data) is given."""
    from flask import Flask

    app = Flask(__name__)
    app.add_url_rule("/hello/<name>", "hello", lambda name: f"Hello, {name}!")
    if folder is not None:
        from kero_flask import Kero as FlaskKero

        app.config.update(KERO_DB_PATH=str(folder), KERO_FLUSH_INTERVAL=3600, KERO_MEASURE_REQUESTS=True)
        FlaskKero(app)
    return app


def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
    return None


class Timing(NamedTuple):
    wall: float  # µs per request, wall clock
    cpu: float  # µs per request, CPU time of the request thread (time.thread_time)
    gc: float  # µs per request of that CPU time spent in garbage collections


class CollectorClock:
    """The CPU time of the garbage collector's runs, as a ``gc.callbacks`` entry. A collection
    runs on the thread whose allocation triggers it: during a round only the request thread
    allocates (the writer sleeps until the flush between rounds)."""

    def __init__(self) -> None:
        self.total = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.thread_time()
        else:
            self.total += time.thread_time() - self._started


COLLECTOR = CollectorClock()


def per_request(app: WSGIApp, n: int) -> Timing:
    """µs per request of ``n`` requests through ``app`` (the body read and closed, as servers do)."""
    started, cpu, collecting = time.perf_counter(), time.thread_time(), COLLECTOR.total
    for _ in range(n):
        environ = dict(ENVIRON)  # a server makes a fresh environ per request, and apps write to it
        body = app(environ, start_response)
        for _chunk in body:
            pass
        close = getattr(body, "close", None)
        if close is not None:
            close()
    return Timing((time.perf_counter() - started) / n * 1e6, (time.thread_time() - cpu) / n * 1e6,
                  (COLLECTOR.total - collecting) / n * 1e6)


def one_round(apps: dict[str, WSGIApp], requests: int, first: int) -> dict[str, Timing]:
    """µs per request of each app over ``requests`` requests, the apps taking turns every
    ``TURN`` requests (``first`` says which starts), so that a change in this shared machine's
    load falls on both alike: with whole rounds in turn, runs of the same code gave the Flask
    figure anywhere from 8 to 24 µs as other jobs came and went."""
    labels = list(apps)
    sums = {label: [0.0] * len(Timing._fields) for label in labels}
    for turn, start in enumerate(range(0, requests, TURN)):
        n = min(TURN, requests - start)
        k = (first + turn) % 2
        for label in labels[k:] + labels[:k]:
            for i, value in enumerate(per_request(apps[label], n)):
                sums[label][i] += value * n
    return {label: Timing(*(total / requests for total in sums[label])) for label in labels}


def compare(name: str, bare: WSGIApp, tracked: WSGIApp, kero: Kero, requests: int, rounds: int) -> float:
    """Time bare and tracked in turns; print the medians of rounds; return the added CPU µs per request."""
    times: dict[str, list[Timing]] = {"bare": [], "tracked": []}
    for r in range(rounds):
        for label, timing in one_round({"bare": bare, "tracked": tracked}, requests, r % 2).items():
            times[label].append(timing)
        if not kero.flush():  # outside the timed part: the writer's work is not the request's
            raise SystemExit("flush failed")
    print(f"{name}: {requests} requests x {rounds} rounds, in turns of {TURN}")
    added = {}
    for clock in Timing._fields:
        b = statistics.median(getattr(x, clock) for x in times["bare"])
        t = statistics.median(getattr(x, clock) for x in times["tracked"])
        added[clock] = statistics.median(getattr(y, clock) - getattr(x, clock)
                                         for x, y in zip(times["bare"], times["tracked"]))
        print(f"  {CLOCKS[clock]:34s} bare {b:7.2f}, tracked {t:7.2f}, added {added[clock]:6.2f} µs/request")
    print(f"  added on the request thread: {added['cpu']:.2f} µs/request CPU, {added['wall']:.2f} wall "
          f"(medians of per-round differences; target <= {TARGET_US:g})")
    stored, expected = kero.count(), requests * rounds
    print(f"  events stored: {stored} (expected {expected})")
    if stored != expected:
        raise SystemExit("not every tracked request was stored")
    return added["cpu"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4_000, help=f"per round, below {WAKE_AT}")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--smoke", action="store_true", help="a tiny run that checks the script works")
    args = parser.parse_args()
    if args.smoke:
        args.requests, args.rounds = 200, 2
    if args.requests >= WAKE_AT:
        parser.error(f"--requests must stay below {WAKE_AT}, which wakes the writer mid-round")
    gc.callbacks.append(COLLECTOR)
    with tempfile.TemporaryDirectory() as folder:
        kero = Kero(db_path=Path(folder) / "wsgi", measure_requests=True, flush_interval=3600)
        compare("WSGI: bare app vs KeroMiddleware", bare_app, KeroMiddleware(bare_app, kero), kero,
                args.requests, args.rounds)
        kero.close()
        tracked = flask_app(Path(folder) / "flask")
        compare("Flask: bare vs kero_flask", flask_app(None), tracked, tracked.extensions["kero"].core,
                args.requests, args.rounds)
        tracked.extensions["kero"].core.close()


if __name__ == "__main__":
    main()
