"""Where the host app's slow requests wait: a Flask hello-world served on the main thread, one
request after another with a short sleep between them (the GIL released, as a sync worker does
in ``accept``), bare and with kero_flask (GeoIP on, writer live, flush every 1 s), alternated by
rounds in one process.

For each request it records the latency from the end of the sleep to the end of the response,
and how much of that the thread spent blocked: neither running (its CPU time) nor waiting for a
core (its run-queue time, from /proc). On a hello-world without I/O that is waiting for the GIL,
held by Kero's writer; unlike the latency, it does not grow with the load other processes put on
this shared machine.
Kero's writer must be the only difference between the variants, so each Kero round ends with a
flush outside the timed part. Prints p50 / p99 / p99.9 per variant (medians of rounds) and what
Kero adds, the machine's load average, and the writer's CPU time per event.

    python benchmarks/gil_wait.py [--think 0.0002] [--seconds 6] [--rounds 6] [--smoke]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from _maxminddb_geolite2 import geolite2_database
from flask import Flask

WSGIApp = Callable[..., Iterable[bytes]]
AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
]
PATHS = [f"/hello/{name}" for name in ("world", "docs", "pricing", "blog", "about", "a" * 40)]


def environ(i: int) -> dict[str, Any]:
    """A browser's request; 2,000 visitors from 2,000 addresses (so GeoIP and hashing work)."""
    visitor = i % 2_000
    return {
        "REQUEST_METHOD": "GET", "PATH_INFO": PATHS[i % len(PATHS)], "QUERY_STRING": "",
        "SERVER_NAME": "example.com", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "example.com", "REMOTE_ADDR": f"81.{2 + visitor // 250}.{visitor % 250}.{1 + i % 3}",
        "HTTP_USER_AGENT": AGENTS[visitor % len(AGENTS)], "HTTP_ACCEPT_LANGUAGE": "en-GB,en;q=0.9",
        "HTTP_ACCEPT_ENCODING": "gzip, br", "HTTP_REFERER": "https://www.google.com/",
        "wsgi.url_scheme": "http", "SCRIPT_NAME": "",
    }


def flask_app(folder: Path | None) -> Flask:
    app = Flask(__name__)
    app.add_url_rule("/hello/<name>", "hello", lambda name: f"Hello, {name}!")
    if folder is not None:
        from kero_flask import Kero as FlaskKero

        app.config.update(KERO_DB_PATH=str(folder), KERO_GEOIP_DB=geolite2_database(), KERO_MEASURE_REQUESTS=True)
        FlaskKero(app)
    return app


def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
    return None


def serve(app: WSGIApp, think: float, seconds: float, first: int) -> tuple[list[float], list[float]]:
    """Requests for ``seconds``, each after a ``think``-second sleep (the GIL is free meanwhile,
    as in a sync worker's ``accept``): the latency of each, from the end of its sleep to the end
    of its response, and the part of it the thread spent blocked, in ms. Blocked is the latency
    less the thread's CPU time and less its time waiting for a core (ready to run, from
    /proc/thread-self/schedstat): on a hello-world without I/O, waiting for the GIL."""
    latencies, blocked = [], []
    schedstat = os.open("/proc/thread-self/schedstat", os.O_RDONLY)
    end = time.perf_counter() + seconds
    k = first
    while time.perf_counter() < end:
        queued = _runqueue_ns(schedstat)
        arrival = time.perf_counter() + think
        time.sleep(think)
        cpu = time.thread_time()
        body = app(environ(k), start_response)
        for _chunk in body:
            pass
        getattr(body, "close", lambda: None)()
        latency = time.perf_counter() - arrival
        cpu = time.thread_time() - cpu
        latencies.append(latency * 1e3)
        blocked.append((latency - cpu - (_runqueue_ns(schedstat) - queued) / 1e9) * 1e3)
        k += 1
    os.close(schedstat)
    return latencies, blocked


def _runqueue_ns(fd: int) -> int:
    """Nanoseconds this thread has waited for a core (ready to run, not running) so far."""
    return int(os.pread(fd, 100, 0).split()[1])


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


QUANTILES = (("p50", 0.5), ("p99", 0.99), ("p99.9", 0.999))


def writer_cpu() -> float:
    """CPU seconds of this process's kero-writer threads so far."""
    total = 0.0
    for thread in threading.enumerate():
        if thread.name != "kero-writer" or thread.native_id is None:
            continue
        try:
            fields = Path(f"/proc/self/task/{thread.native_id}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--think", type=float, default=0.0002, help="seconds between two requests")
    parser.add_argument("--seconds", type=float, default=6, help="per round and variant")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--smoke", action="store_true", help="a tiny run that checks the script works")
    args = parser.parse_args()
    if args.smoke:
        args.seconds, args.rounds = 1.5, 1
    with tempfile.TemporaryDirectory() as folder:
        apps = {"bare": flask_app(None), "kero": flask_app(Path(folder))}
        kero = apps["kero"].extensions["kero"].core
        sent = len(serve(apps["kero"], args.think, 1.0, 0)[0])  # warm-up: parsers, GeoIP, the first DuckDB session
        kero.flush()
        results: dict[str, dict[str, list[float]]] = {v: {} for v in apps}
        warm_up, writer_cpu_used, kero_events = sent, 0.0, 0
        loads = [os.getloadavg()[0]]
        for r in range(args.rounds):
            for variant in (list(apps) if r % 2 == 0 else list(apps)[::-1]):
                before = writer_cpu()
                latencies, waits = serve(apps[variant], args.think, args.seconds, sent)
                sent += len(latencies)
                if variant == "kero":
                    kero.flush()  # outside the timed part; then the bare round runs with a quiet writer
                    writer_cpu_used += writer_cpu() - before
                    kero_events += len(latencies)
                for name, q in QUANTILES:
                    results[variant].setdefault(f"latency {name}", []).append(quantile(latencies, q))
                    results[variant].setdefault(f"blocked {name}", []).append(quantile(waits, q))
                results[variant].setdefault("requests/s", []).append(len(latencies) / args.seconds)
            loads.append(os.getloadavg()[0])
        stored = kero.count()
        kero.close()
    print(f"Flask hello-world on one thread, a request every {args.think * 1e3:g} ms, {args.seconds:g} s x {args.rounds} "
          f"rounds per variant, alternated; load average {min(loads):.1f} to {max(loads):.1f}")
    for metric in results["bare"]:
        bare = statistics.median(results["bare"][metric])
        tracked = statistics.median(results["kero"][metric])
        added = statistics.median(k - b for b, k in zip(results["bare"][metric], results["kero"][metric]))
        print(f"  {metric:14s} bare {bare:9.3f}   Kero {tracked:9.3f}   added {added:+8.3f} "
              f"(median of per-round differences)")
    print(f"  writer thread CPU: {writer_cpu_used / max(kero_events, 1) * 1e6:.1f} µs per event")
    if stored != kero_events + warm_up:
        raise SystemExit(f"Kero stored {stored:,} events of {kero_events + warm_up:,} tracked")
    print(f"  every tracked request stored ({stored:,})")


if __name__ == "__main__":
    main()
