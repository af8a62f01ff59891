"""What keeping today's rollups current costs an ingest (kero_core.live_days), by who sends the
batch: 200 events of 200 new visitors, against 200 events of one visitor who already has N events
today (an API client, a monitoring probe, a crawler: the update counts that visitor's day before
and after the batch, from a sample of its events since live_days.SAMPLE). CPU seconds of the
ingesting process (DuckDB runs on the ingest's thread), median of the rounds, each kind in turn;
``--before DIR`` runs the same in a process with the kero packages found in DIR. Response times
are measured (``measure_requests``) unless ``--no-response-times``.

    python benchmarks/live_ingest.py [--events 0 10000 50000] [--rounds 6] [--before DIR]
                                     [--no-response-times] [--smoke]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from variants import run_with

ROOT = Path(__file__).resolve().parent.parent
BATCH = 200
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
# One variant's measures, in its own process (PYTHONPATH: the variant's packages).
MEASURE = """
import json, sys
import kero_core
sys.path.insert(0, sys.argv[1])
from live_ingest import measure
print(json.dumps([measure(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "on"), kero_core.__file__]))
"""


def measure(events: int, rounds: int, response_times: bool = True) -> dict[str, float]:
    """Median CPU seconds of an ingest of BATCH events into a live day where one visitor has
    ``events`` events already: of that visitor ("one visitor"), and of new visitors."""
    from kero_core import Kero
    from kero_core.capture import Hit

    end = float(int(time.time()) // 86_400 * 86_400 + 20 * 3600)  # 20:00 today: a day's events fit before it

    def hit(i: int, address: str) -> Hit:
        return Hit(end - 15 * 3600 + i * 0.5, "http_req", "GET", f"/p{i % 50}", "", "", 200, 3.0, address, "", "",
                   "", USER_AGENT, "", "", "")

    spent: dict[str, list[float]] = {"one visitor": [], "new visitors": []}
    with tempfile.TemporaryDirectory() as folder, Kero(db_path=folder, clock=lambda: end,
                                                                    measure_requests=response_times) as kero:
        kero.ingest([hit(i, "203.0.113.7") for i in range(max(events, 1))])  # today becomes live
        for r in range(rounds):
            batches = {"one visitor": [hit(events + r * BATCH + j, "203.0.113.7") for j in range(BATCH)],
                       "new visitors": [hit(events + r * BATCH + j, f"198.51.{r}.{j}") for j in range(BATCH)]}
            for name in (list(batches) if r % 2 == 0 else list(batches)[::-1]):
                started = time.process_time()
                kero.ingest(batches[name])
                spent[name].append(time.process_time() - started)
        if kero.count() != max(events, 1) + 2 * BATCH * rounds:
            raise SystemExit("not every event was stored")
    return {name: statistics.median(t) for name, t in spent.items()}


def measure_with(kero_from: str | None, events: int, rounds: int, response_times: bool = True) -> dict[str, float]:
    """:func:`measure` in a process of its own, with the kero packages of ``kero_from`` (None:
    this checkout's)."""
    return dict(run_with(MEASURE, [str(ROOT / "benchmarks"), str(events), str(rounds), "on" if response_times else "off"],
                         kero_from))


def run(sizes: list[int], rounds: int, before: str | None, response_times: bool = True) -> None:
    loads = [os.getloadavg()[0]]
    variants = {"this checkout": None, **({"before": before} if before else {})}
    print(f"an ingest of {BATCH} events into a live day, CPU ms (median of {rounds} rounds), response times "
          f"{'measured' if response_times else 'not measured'}")
    measure_with(None, 0, 1)  # unmeasured: a run's first process measured 20-50% more (cold caches)
    for events in sizes:
        for name, kero_from in (list(variants.items()) if events % 2 == 0 else list(variants.items())[::-1]):
            costs = measure_with(kero_from, events, rounds, response_times)
            print(f"  a visitor with {events:>7,} events today, {name:<14}: "
                  + ", ".join(f"{kind} {seconds * 1000:6.0f}" for kind, seconds in sorted(costs.items())), flush=True)
        loads.append(os.getloadavg()[0])
    print(f"  load average {min(loads):.1f} to {max(loads):.1f} ({datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, nargs="+", default=[0, 10_000, 50_000],
                        help="the heavy visitor's events today, one measure per value")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--before", metavar="DIR", help="also measure the kero packages found in DIR")
    parser.add_argument("--no-response-times", action="store_true",
                        help="Kero's default: measure_requests off (the events' response-time tables stay empty)")
    parser.add_argument("--smoke", action="store_true", help="a tiny run that checks the script works")
    args = parser.parse_args(argv)
    if args.smoke:
        run([300], rounds=1, before=str(ROOT), response_times=False)  # this checkout as "before": the plumbing
        return
    run(args.events, args.rounds, args.before, not args.no_response_times)


if __name__ == "__main__":
    main()
