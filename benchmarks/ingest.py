"""Ingest rate: hits enqueued as the request thread would, then flushed until queryable, with
the synthetic generator's realistic mix (≥ 1,000 User-Agents, ≥ 10,000 IPs) and GeoIP on.
The writer's work (enrichment, Parquet spool, DuckDB ingest) runs on one thread.

Two rates per round: events per wall-clock second (what a user sees, and what a busy shared
machine slows down), and events per CPU second of the whole process (every thread, DuckDB's
included: the cost of ingest on one core, steady when other processes compete for the CPU).

    python benchmarks/ingest.py [--events 200000] [--rounds 3] [--smoke]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from typing import NamedTuple

from kero_core import Kero
from kero_core.capture import Hit
from kero_core.synthetic import generate

TARGET = 50_000  # events/s, issue 7


class Round(NamedTuple):
    wall: float  # events per wall-clock second, enqueue -> queryable
    cpu: float  # events per CPU second of the process, enqueue -> queryable
    writer_cpu: float  # events per CPU second of enqueue + enrichment + spool (the writer's part)
    store_cpu: float  # events per CPU second of the DuckDB ingest (store.py: insert, rollups)


def one_round(hits: list[Hit], geoip_db: str) -> Round:
    """Enqueue ``hits``, write them to the spool, ingest them; check every one was stored."""
    with tempfile.TemporaryDirectory() as folder:
        end = max(h.ts for h in hits) + 1
        kero = Kero(db_path=folder, geoip_db=geoip_db, measure_requests=True, flush_interval=3600,
                    max_buffer=len(hits) + 1, retention=60, clock=lambda: end)
        started, cpu = time.perf_counter(), time.process_time()
        for hit in hits:
            kero.pipeline.record(hit)
        written = kero.pipeline.write()
        spooled_cpu = time.process_time()
        if not (written and kero.flush()):
            raise SystemExit("flush failed")
        elapsed, done_cpu = time.perf_counter() - started, time.process_time()
        stored = kero.count(name=None)
        kero.close()
    if stored != len(hits):
        raise SystemExit(f"stored {stored} of {len(hits)} events")
    n = len(hits)
    return Round(n / elapsed, n / (done_cpu - cpu), n / (spooled_cpu - cpu), n / (done_cpu - spooled_cpu))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="a tiny run that checks the script works")
    args = parser.parse_args()
    if args.smoke:
        args.events, args.rounds = 2_000, 1
    from _maxminddb_geolite2 import geolite2_database

    hits = list(generate(args.events, days=30, seed=1, end=1_790_000_000.0))
    print(f"events: {len(hits)}, distinct User-Agents: {len({h.user_agent for h in hits})}, "
          f"distinct IPs: {len({h.remote_addr for h in hits})}, GeoIP: on")
    rounds = [one_round(hits, geolite2_database()) for _ in range(args.rounds)]
    print("rounds (events/s wall | per CPU second): "
          + ", ".join(f"{r.wall:,.0f} | {r.cpu:,.0f}" for r in rounds))
    median = {field: statistics.median(getattr(r, field) for r in rounds) for field in Round._fields}
    print(f"median ingest rate: {median['wall']:,.0f} events/s wall clock, {median['cpu']:,.0f} events "
          f"per CPU second (enqueue -> queryable, one writer thread; target {TARGET:,})")
    print(f"  of which: enqueue + enrich + spool {median['writer_cpu']:,.0f} events per CPU second, "
          f"DuckDB ingest {median['store_cpu']:,.0f} events per CPU second")

if __name__ == "__main__":
    main()
