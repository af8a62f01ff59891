"""Seed speed: ``kero seed``'s path (synthetic events through ``Kero.ingest``, GeoIP on, every
past day rolled up before it returns) into a new folder, in a fresh process per run.

``--before DIR`` runs the kero packages found in DIR too (e.g. ``git archive main | tar -x -C
DIR``), alternated with this checkout's round by round, so both see the same moments of this
shared machine. Prints events per wall-clock second and per CPU second of the process (every
thread, DuckDB's included), medians of rounds, and the load average. Every run seeds the same
history (30 days ending at the last midnight UTC), and the script fails unless every run stored the same events and
the same rollups (a content hash; visitor ids, whose daily salts differ per folder, are compared
by who made which events).

    python benchmarks/seed.py [--events 1000000] [--rounds 3] [--before DIR] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TARGET = 100_000  # events/s, issue 15
# One run, in its own process: seeds a new folder and prints what it took as JSON.
RUN = """
import json, sys, time
from datetime import datetime, timezone
from _maxminddb_geolite2 import geolite2_database
from kero_core import Kero
from kero_core.cli.data import seed_database
started, cpu = time.perf_counter(), time.process_time()
kero = Kero(sys.argv[1], geoip_db=geolite2_database(), measure_requests=True, retention=3650)
stored, _ = seed_database(kero, int(sys.argv[2]), 30, 1, datetime.fromtimestamp(float(sys.argv[3]), timezone.utc))
kero.close()
import kero_core
print(json.dumps({"stored": stored, "wall": time.perf_counter() - started, "cpu": time.process_time() - cpu,
                  "package": kero_core.__file__}))
"""
# What a run stored, as one hash: the events in a fixed order with each visitor id replaced by
# the position of that visitor's first event (salts differ per folder, who made what does not),
# and every rollup table, each as the sorted text of its rows.
CONTENT = """
import hashlib, sys
import duckdb
from kero_core.rollups import TABLES
con = duckdb.connect(sys.argv[1] + "/kero.duckdb", read_only=True)
con.execute("SET enable_progress_bar = false")
others = [r[0] for r in con.execute("SELECT column_name FROM duckdb_columns() WHERE table_name = 'events' "
                                     "AND column_name <> 'visitor_id' ORDER BY column_index").fetchall()]
con.execute(f\"\"\"CREATE TEMP TABLE ranked AS SELECT *, min(rn) OVER (PARTITION BY visitor_id) AS visitor
               FROM (SELECT *, row_number() OVER (ORDER BY {', '.join(others)}, visitor_id) AS rn FROM events)\"\"\")
con.execute("CREATE TEMP TABLE ids AS SELECT DISTINCT visitor_id, visitor FROM ranked")
def rows(table):  # a table's rows, its visitor ids (day_visits) replaced as the events' are
    ids = con.execute("SELECT count(*) FROM duckdb_columns() WHERE table_name = ? AND column_name = 'visitor_id'",
                      [table]).fetchone()[0]
    if not ids:
        return f"SELECT * FROM {table}"
    return f"SELECT * EXCLUDE (visitor_id), visitor FROM {table} JOIN ids USING (visitor_id)"
digest = hashlib.sha256()
for query in ("SELECT * EXCLUDE (visitor_id, rn) FROM ranked", *(rows(table) for table in ("rollup_days", *TABLES))):
    text = con.execute(f"SELECT string_agg(r, chr(10) ORDER BY r) FROM (SELECT t::VARCHAR AS r FROM ({query}) AS t)")
    digest.update((text.fetchone()[0] or "").encode())
print(digest.hexdigest())
"""


def one_run(events: int, end: float, kero_from: str | None, folder: Path) -> dict[str, Any]:
    env = dict(os.environ)
    kero_from = kero_from or str(Path(__file__).resolve().parent.parent)  # else this checkout
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [kero_from, env.get("PYTHONPATH")]))
    # Not run from this checkout: ``python -c`` puts the working directory first on sys.path.
    done = subprocess.run([sys.executable, "-c", RUN, str(folder), str(events), str(end)], env=env,
                          capture_output=True, text=True, check=True, timeout=3600, cwd=folder.parent)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    expected = Path(kero_from).resolve() / "kero_core" / "__init__.py"
    if Path(result["package"]).resolve() != expected:
        raise SystemExit(f"the run used {result['package']}, not {expected}")
    if result["stored"] < events * 0.9:  # bots are stored too; only ignore_bots would leave some out
        raise SystemExit(f"seeded {result['stored']:,} of {events:,} events")
    result["content"] = subprocess.run([sys.executable, "-c", CONTENT, str(folder)], capture_output=True, text=True,
                                       check=True, timeout=600).stdout.strip()
    shutil.rmtree(folder)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", metavar="DIR", help="also run the kero packages found in DIR")
    parser.add_argument("--smoke", action="store_true", help="a tiny run that checks the script works")
    args = parser.parse_args()
    if args.smoke:
        args.events, args.rounds = 20_000, 1
    variants = {"this checkout": None}
    if args.before:
        variants["before"] = str(Path(args.before).resolve())
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    loads = [os.getloadavg()[0]]
    # One history for every run (their stored content must be the same), ending at midnight UTC:
    # all of its 30 days are past, so every run rolls all of them up, whenever it runs.
    end = time.time() // 86_400 * 86_400
    with tempfile.TemporaryDirectory() as folder:
        for r in range(args.rounds):
            names = list(variants) if r % 2 == 0 else list(variants)[::-1]
            for name in names:
                results[name].append(one_run(args.events, end, variants[name], Path(folder) / f"{name}-{r}"))
            loads.append(os.getloadavg()[0])
    print(f"seed {args.events:,} events over 30 days, GeoIP on, {args.rounds} rounds, fresh process and folder "
          f"each; load average {min(loads):.1f} to {max(loads):.1f}")
    for name, runs in results.items():
        wall = [run["stored"] / run["wall"] for run in runs]
        cpu = [run["stored"] / run["cpu"] for run in runs]
        print(f"  {name:14s} {statistics.median(wall):9,.0f} events/s (rounds: " + ", ".join(f"{w:,.0f}" for w in wall)
              + f"), {statistics.median(cpu):9,.0f} events per CPU second; target {TARGET:,} events/s")
    contents = {run["content"] for runs in results.values() for run in runs}
    if len(contents) != 1:
        raise SystemExit(f"the runs stored different events or rollups: content hashes {sorted(contents)}")
    print(f"  every run stored the same events and rollups (content hash {contents.pop()[:16]})")
    if args.before:
        ratio = statistics.median(b["wall"] / a["wall"] for a, b in zip(results["this checkout"], results["before"]))
        print(f"  this checkout / before: {ratio:.2f}x the rate (median of per-round ratios)")


if __name__ == "__main__":
    main()
