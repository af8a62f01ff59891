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

Latency is wrk's median and 99th percentile per round (medians of rounds; "added" is the median
of per-round differences with bare). ``--before DIR`` adds a fourth server running the kero
packages found in DIR (e.g. ``git archive main | tar -x -C DIR``), alternated with the others:
before and after measured side by side. ``--no-peer`` leaves the peer out.

``--pin`` runs wrk on CPU 0 alone and every server (its workers and their writer processes) on
CPU 1 alone: on a 2-core machine wrk otherwise shares its cores with the server's background
work, and the latency it measures includes its own waits for a core. Pinned, Kero's background
work competes with the workers for their one core, as on a one-core server.

    python benchmarks/http_overhead.py [--seconds 3] [--rounds 9] [--workers 1 4] [--before DIR] [--no-peer]
                                       [--pin] [--smoke]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import tempfile
from pathlib import Path

from servers import Load, Server, wrk

from kero_core import Kero

PEERS = {"flask": "Flask-MonitoringDashboard", "django": "django-request"}
WRK_CPU, SERVER_CPU = 0, 1  # with --pin


def stored(server: Server) -> int | None:
    """Requests the variant's tracker stored (None for the bare app, which stores nothing)."""
    if server.variant in ("kero", "before"):
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


def run_suite(framework: str, workers: int, seconds: float, rounds: int, folder: Path,
              variants: list[str], before: str | None, pin: bool = False) -> dict[str, list[Load]]:
    connections = 4 * workers  # enough to keep every sync worker busy; wrk itself needs a core
    servers = [Server(framework, v, workers, folder / f"{framework}-{workers}-{v}",
                      kero_from=before if v == "before" else None) for v in variants]
    loads: dict[str, list[Load]] = {v: [] for v in variants}
    sent = {v: 0 for v in variants}
    try:
        for server in servers:
            server.start()
        for server in servers:
            server.wait_ready()
        for server in servers:  # warm-up: imports, first database writes, parsers
            sent[server.variant] += wrk(server.url, 1, connections).requests
            if pin:  # once the writer processes have started
                server.pin(SERVER_CPU)
        for r in range(rounds):
            for server in servers[r % len(servers):] + servers[:r % len(servers)]:
                cpu = server.cpu_seconds()
                load = wrk(server.url, seconds, connections, threads=1 if workers == 1 else 2,
                           cpu=WRK_CPU if pin else None)
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
    if server.variant in ("kero", "before") and verdict != "all stored":
        raise SystemExit(f"{server}: Kero did not store every request")


def report(framework: str, workers: int, loads: dict[str, list[Load]]) -> None:
    names = {"bare": "bare", "kero": "Kero", "before": "Kero (before)", "peer": PEERS[framework]}
    for variant, runs in loads.items():
        rates = [load.rate for load in runs]
        latency = statistics.median(load.latency_ms for load in runs)
        p99 = statistics.median(load.p99_ms for load in runs)
        cpu = statistics.median(load.cpu_us for load in runs)
        print(f"  {names[variant]:26s} {statistics.median(rates):9,.0f} req/s (rounds: "
              + ", ".join(f"{r:,.0f}" for r in rates) + f"), latency p50 {latency:.2f} ms, p99 {p99:.2f} ms, "
              f"worker CPU {cpu:,.0f} µs/request")
    for variant in loads:
        if variant != "bare":
            added_p50 = statistics.median(x.latency_ms - y.latency_ms for x, y in zip(loads[variant], loads["bare"]))
            added_p99 = statistics.median(x.p99_ms - y.p99_ms for x, y in zip(loads[variant], loads["bare"]))
            print(f"  {names[variant]}: latency added to bare p50 {added_p50:+.2f} ms, p99 {added_p99:+.2f} ms "
                  "(medians of per-round differences)")
    for a, b in (("kero", "bare"), ("before", "bare"), ("kero", "peer"), ("peer", "bare")):
        if a in loads and b in loads:
            ratio = statistics.median(x.rate / y.rate for x, y in zip(loads[a], loads[b]))
            print(f"  {names[a]} / {names[b]}: {ratio:.1%} of the throughput (median of per-round ratios)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--frameworks", nargs="+", default=["flask", "django"], choices=["flask", "django"])
    parser.add_argument("--before", metavar="DIR", help="also serve the kero packages found in DIR")
    parser.add_argument("--no-peer", action="store_true", help="leave the peer tracker out")
    parser.add_argument("--pin", action="store_true", help=f"wrk on CPU {WRK_CPU}, the servers on CPU {SERVER_CPU}")
    parser.add_argument("--smoke", action="store_true", help="a tiny run that checks the script works")
    args = parser.parse_args()
    if args.pin and not {WRK_CPU, SERVER_CPU} <= os.sched_getaffinity(0):
        allowed = sorted(os.sched_getaffinity(0))
        parser.error(f"--pin needs CPUs {WRK_CPU} and {SERVER_CPU}; this process may use {allowed}")
    variants = ["bare", "kero"] + (["before"] if args.before else []) + ([] if args.no_peer else ["peer"])
    if args.smoke:
        args.seconds, args.rounds, args.workers = 1, 1, [1]
    with tempfile.TemporaryDirectory() as folder:
        for framework in args.frameworks:
            for workers in args.workers:
                load_before = os.getloadavg()[0]
                print(f"{framework}, gunicorn sync workers: {workers}, wrk -d {args.seconds:g}s x {args.rounds} "
                      "rounds per variant, alternated" + (f", wrk on CPU {WRK_CPU}, servers on CPU {SERVER_CPU}"
                                                           if args.pin else ""))
                loads = run_suite(framework, workers, args.seconds, args.rounds, Path(folder), variants,
                                  args.before and str(Path(args.before).resolve()), args.pin)
                report(framework, workers, loads)
                print(f"  load average {load_before:.1f} before the suite, {os.getloadavg()[0]:.1f} after")


if __name__ == "__main__":
    main()
