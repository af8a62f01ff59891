"""Seed speed: ``kero seed``'s path (synthetic events through ``Kero.ingest``, GeoIP on, every
past day rolled up before it returns) into a new folder, in a fresh process per run.

``--before DIR`` runs the kero packages found in DIR too (e.g. ``git archive main | tar -x -C
DIR``), alternated with this checkout's round by round, so both see the same moments of this
shared machine. Prints events per wall-clock second and per CPU second of the process (every
thread, DuckDB's included), medians of rounds, and the load average.

    python benchmarks/seed.py [--events 1000000] [--rounds 3] [--before DIR] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

TARGET = 100_000  # events/s, issue 15
# One run, in its own process: seeds a new folder and prints what it took as JSON.
RUN = """
import json, sys, time
from _maxminddb_geolite2 import geolite2_database
from kero_core import Kero
from kero_core.cli.data import seed_database
started, cpu = time.perf_counter(), time.process_time()
kero = Kero(sys.argv[1], geoip_db=geolite2_database(), measure_requests=True, retention=3650)
stored, _ = seed_database(kero, int(sys.argv[2]), 30, 1)
kero.close()
print(json.dumps({"stored": stored, "wall": time.perf_counter() - started, "cpu": time.process_time() - cpu}))
"""


def one_run(events: int, kero_from: str | None, folder: Path) -> dict[str, float]:
    env = dict(os.environ)
    if kero_from:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [kero_from, env.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-c", RUN, str(folder), str(events)], env=env, capture_output=True,
                          text=True, check=True, timeout=3600)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["stored"] < events * 0.9:  # bots are stored too; only ignore_bots would leave some out
        raise SystemExit(f"seeded {result['stored']:,} of {events:,} events")
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
    results: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as folder:
        for r in range(args.rounds):
            names = list(variants) if r % 2 == 0 else list(variants)[::-1]
            for name in names:
                results[name].append(one_run(args.events, variants[name], Path(folder) / f"{name}-{r}"))
            loads.append(os.getloadavg()[0])
    print(f"seed {args.events:,} events over 30 days, GeoIP on, {args.rounds} rounds, fresh process and folder "
          f"each; load average {min(loads):.1f} to {max(loads):.1f}")
    for name, runs in results.items():
        wall = [run["stored"] / run["wall"] for run in runs]
        cpu = [run["stored"] / run["cpu"] for run in runs]
        print(f"  {name:14s} {statistics.median(wall):9,.0f} events/s (rounds: " + ", ".join(f"{w:,.0f}" for w in wall)
              + f"), {statistics.median(cpu):9,.0f} events per CPU second; target {TARGET:,} events/s")
    if args.before:
        ratio = statistics.median(b["wall"] / a["wall"] for a, b in zip(results["this checkout"], results["before"]))
        print(f"  this checkout / before: {ratio:.2f}x the rate (median of per-round ratios)")


if __name__ == "__main__":
    main()
