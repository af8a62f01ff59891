"""Dashboard render time on synthetic data: the median of several full renders (read session,
queries, template), as a user's request would cost it, in wall time and in CPU time of this
process (all threads; on a busy machine, closer to what an idle one would take). Not a test;
run it by hand:

    .venv/bin/python -m tests.dashboard.bench_render --events 20000 --days 7
    .venv/bin/python -m tests.dashboard.bench_render --events 200000 --days 30 --views "period=30d"
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs

from kero_core import Kero
from kero_core.dashboard import respond
from kero_core.synthetic import generate

VIEWS = ("period=24h", "period=today", "period=7d", "period=7d&country=US", "period=30d")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--views", nargs="*", default=list(VIEWS))
    parser.add_argument("--db", help="reuse this data folder (seeded on first use)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.db or tmp) / f"bench-geo-{args.events}-{args.days}"
        seeded = folder.exists()
        end = time.time()
        from _maxminddb_geolite2 import geolite2_database  # the dev extra's GeoLite2, for locations

        with Kero(db_path=folder, measure_requests=True, retention=args.days + 400, geoip_db=geolite2_database()) as kero:
            if not seeded:
                kero.ingest(generate(args.events, days=args.days, seed=1, end=end))
            print(f"{kero.count(start=0):,} page views over {args.days} days")
            for query in args.views:
                params = parse_qs(query)
                respond(kero, "/", params, request_path="/_kero/")  # warm: templates, parsers
                wall, cpu = [], []
                for _ in range(args.runs):
                    started, started_cpu = time.perf_counter(), time.process_time()
                    answer = respond(kero, "/", params, request_path="/_kero/")
                    wall.append((time.perf_counter() - started) * 1000)
                    cpu.append((time.process_time() - started_cpu) * 1000)
                    assert answer.status == 200
                print(f"{query:24} wall: median {statistics.median(wall):6.1f} ms, min {min(wall):6.1f} ms"
                      f"   CPU: median {statistics.median(cpu):6.1f} ms   ({args.runs} runs)")


if __name__ == "__main__":
    main()
