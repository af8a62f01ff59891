"""Throughput over HTTP: a hello-world under gunicorn on 127.0.0.1, driven by wrk, bare vs Kero vs
the peer a Python user would pick instead (Flask-MonitoringDashboard for Flask, django-request for
Django), with 1 sync worker and with 4.

The three servers of a suite run side by side and are driven in turn, the order rotated every
round, so a busy moment of this shared machine hits every variant alike; figures are medians of
the rounds, ratios medians of the per-round ratios. The CPU time the workers used per request
(every thread, Kero's writer and DuckDB's included, from /proc) is printed too: it moves much
less than throughput when other processes compete for the machine. After the suite each server is stopped
gracefully and its database is counted: every tracker must have stored every request wrk
completed (plus the readiness probes, and a few requests that were sent but whose answers wrk no
longer counted when it stopped). Kero failing that stops the run; a peer's loss is reported.

    python benchmarks/http_overhead.py [--seconds 3] [--rounds 9] [--workers 1 4] [--smoke]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
from pathlib import Path

from servers import Load, Server, wrk

from kero_core import Kero

VARIANTS = ("bare", "kero", "peer")
PEERS = {"flask": "Flask-MonitoringDashboard", "django": "django-request"}


def stored(server: Server) -> int | None:
    """Requests the variant's tracker stored (None for the bare app, which stores nothing)."""
    if server.variant == "kero":
        kero = Kero(db_path=server.data / "kero")
        try:
            return kero.count()
        finally:
            kero.close()
    if server.variant == "peer":
        db, table = (("flask_monitoringdashboard.db", "request") if server.framework == "flask"
                     else ("django.sqlite3", "request_request"))
        with sqlite3.connect(server.data / db) as con:
            return int(con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    return None


def run_suite(framework: str, workers: int, seconds: float, rounds: int, folder: Path) -> dict[str, list[Load]]:
    connections = 4 * workers  # enough to keep every sync worker busy; wrk itself needs a core
    servers = [Server(framework, v, workers, folder / f"{framework}-{workers}-{v}") for v in VARIANTS]
    loads: dict[str, list[Load]] = {v: [] for v in VARIANTS}
    sent = {v: 0 for v in VARIANTS}
    try:
        for server in servers:
            server.start()
        for server in servers:
            server.wait_ready()
        for server in servers:  # warm-up: imports, first database writes, parsers
            sent[server.variant] += wrk(server.url, 1, connections).requests
        for r in range(rounds):
            for server in servers[r % 3:] + servers[:r % 3]:
                cpu = server.cpu_seconds()
                load = wrk(server.url, seconds, connections, threads=1 if workers == 1 else 2)
                load.cpu_us = (server.cpu_seconds() - cpu) / load.requests * 1e6
                if load.errors:
                    raise SystemExit(f"{server}: {load.errors}")
                loads[server.variant].append(load)
                sent[server.variant] += load.requests
    finally:
        for server in servers:
            server.stop()
    for server in servers:
        check_stored(server, sent[server.variant] + server.probes, slack=2 * connections * (rounds + 1))
    return loads


def check_stored(server: Server, expected: int, slack: int) -> None:
    """Print what ``server``'s tracker stored; Kero must store every request, a peer that loses
    some is reported with its loss (it is a finding, not a broken benchmark)."""
    count = stored(server)
    if count is None:
        return
    verdict = "all stored" if expected <= count <= expected + slack else f"LOST {expected - count:,} ({1 - count / expected:.0%})"
    print(f"  {server}: stored {count:,} requests, wrk completed {expected:,}: {verdict}")
    if server.variant == "kero" and verdict != "all stored":
        raise SystemExit(f"{server}: Kero did not store every request")


def report(framework: str, workers: int, loads: dict[str, list[Load]]) -> None:
    names = {"bare": "bare", "kero": "Kero", "peer": PEERS[framework]}
    for variant in VARIANTS:
        rates = [load.rate for load in loads[variant]]
        latency = statistics.median(load.latency_ms for load in loads[variant])
        cpu = statistics.median(load.cpu_us for load in loads[variant])
        print(f"  {names[variant]:26s} {statistics.median(rates):9,.0f} req/s (rounds: "
              + ", ".join(f"{r:,.0f}" for r in rates) + f"), median latency {latency:.2f} ms, "
              f"worker CPU {cpu:,.0f} µs/request")
    for a, b in (("kero", "bare"), ("kero", "peer"), ("peer", "bare")):
        ratio = statistics.median(x.rate / y.rate for x, y in zip(loads[a], loads[b]))
        print(f"  {names[a]} / {names[b]}: {ratio:.1%} of the throughput (median of per-round ratios)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--frameworks", nargs="+", default=["flask", "django"], choices=["flask", "django"])
    parser.add_argument("--smoke", action="store_true", help="a tiny run that checks the script works")
    args = parser.parse_args()
    if args.smoke:
        args.seconds, args.rounds, args.workers = 1, 1, [1]
    with tempfile.TemporaryDirectory() as folder:
        for framework in args.frameworks:
            for workers in args.workers:
                print(f"{framework}, gunicorn sync workers: {workers}, wrk -d {args.seconds:g}s x {args.rounds} "
                      "rounds per variant, alternated")
                loads = run_suite(framework, workers, args.seconds, args.rounds, Path(folder))
                report(framework, workers, loads)


if __name__ == "__main__":
    main()
