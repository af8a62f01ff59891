"""Ingest rate: hits enqueued as the request thread would, then flushed until queryable, with
the synthetic generator's realistic mix (≥ 1,000 User-Agents, ≥ 10,000 IPs) and GeoIP on.
The writer's work (enrichment, Parquet spool, DuckDB ingest) runs on one thread.

    python benchmarks/ingest.py [--events 200000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from kero_core import Kero
from kero_core.synthetic import generate


def one_round(hits: list, geoip_db: str) -> float:
    with tempfile.TemporaryDirectory() as folder:
        end = max(h.ts for h in hits) + 1
        kero = Kero(db_path=folder, geoip_db=geoip_db, measure_requests=True, flush_interval=3600,
                    max_buffer=len(hits) + 1, retention=60, clock=lambda: end)
        started = time.perf_counter()
        for hit in hits:
            kero.pipeline.record(hit)
        assert kero.flush(), "flush failed"
        elapsed = time.perf_counter() - started
        stored = kero.count(name=None)
        kero.close()
    if stored != len(hits):
        raise SystemExit(f"stored {stored} of {len(hits)} events")
    return len(hits) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from _maxminddb_geolite2 import geolite2_database

    hits = list(generate(args.events, days=30, seed=1, end=1_790_000_000.0))
    print(f"events: {len(hits)}, distinct User-Agents: {len({h.user_agent for h in hits})}, "
          f"distinct IPs: {len({h.remote_addr for h in hits})}, GeoIP: on")
    rates = [one_round(hits, geolite2_database()) for _ in range(args.rounds)]
    print("rounds (events/s): " + ", ".join(f"{r:,.0f}" for r in rates))
    print(f"median ingest rate: {statistics.median(rates):,.0f} events/s (enqueue -> queryable, one writer thread)")


if __name__ == "__main__":
    main()
