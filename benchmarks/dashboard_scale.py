"""Dashboard render time at scale: full renders (read session, queries, template) of the Past 30
days, the same filtered by one country, and Today, over synthetic databases of millions of events;
then, with goals and a funnel defined, the Past 30 days filtered by a goal and a 4-step funnel.

Databases take minutes to build, so they are built once, in chunks (each a run of its own with
its own seed, appending), and reused:

    python benchmarks/dashboard_scale.py seed /tmp/kero-bench/10m --events 2000000 --seed 1
    python benchmarks/dashboard_scale.py seed /tmp/kero-bench/10m --events 2000000 --seed 2   # ...
    python benchmarks/dashboard_scale.py run /tmp/kero-bench/1m /tmp/kero-bench/10m [--runs 7]
    python benchmarks/dashboard_scale.py smoke          # tiny database in a temporary folder, seconds

Every chunk of a folder ends at the same moment (kept in ``bench.json`` next to the database),
and renders use a clock stopped there, so figures do not drift with the time of day."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qs

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from kero_core import Kero  # noqa: E402
from kero_core.config import MAX_RETENTION_DAYS  # noqa: E402
from kero_core.dashboard import respond  # noqa: E402
from kero_core.synthetic import generate  # noqa: E402

DAYS = 30
VIEWS = {"30d": "period=30d", "30d, one country": "period=30d&country=US", "today": "period=today"}
# Rendered by a Kero with goals and funnels (issue 16): the goal filter and a 4-step funnel.
CONVERSION_VIEWS = {"30d, goal=signup": "period=30d&goal=signup", "30d, 4-step funnel": "period=30d&funnel=Checkout"}
GOALS = ["signup", "/pricing", "/docs/*"]
FUNNELS = {"Checkout": ["/", "/pricing", "/signup", "signup"]}
TARGETS_MS = {"30d": 1000, "30d, one country": 1000, "today": 150,
              "30d, goal=signup": 1000, "30d, 4-step funnel": 1000}  # at 10M events
META = "bench.json"


def _geoip() -> str:
    from _maxminddb_geolite2 import geolite2_database  # the dev extra's GeoLite2: 100+ countries

    return geolite2_database()


def _end_of(folder: Path) -> float:
    """The moment every chunk of ``folder`` ends at: fixed by its first chunk."""
    meta = folder / META
    if meta.exists():
        return float(json.loads(meta.read_text())["end"])
    end = float(int(time.time()) // 3600 * 3600)  # a whole hour: Today has data, yet not a full day
    folder.mkdir(parents=True, exist_ok=True)
    meta.write_text(json.dumps({"end": end}))
    return end


def open_kero(folder: Path, end: float, **options: object) -> Kero:
    return Kero(db_path=folder, measure_requests=True, retention=MAX_RETENTION_DAYS, geoip_db=_geoip(),
                clock=lambda: end, **options)


def seed(folder: Path, events: int, seed_value: int) -> None:
    end = _end_of(folder)
    started = time.perf_counter()
    with open_kero(folder, end) as kero:
        stored = kero.ingest(generate(events, days=DAYS, seed=seed_value, end=end))
    took = time.perf_counter() - started
    print(f"{folder}: stored {stored:,} events (seed {seed_value}) in {took:.0f} s ({stored / took:,.0f}/s)")


def render_ms(kero: Kero, query: str, runs: int) -> float:
    """Median wall time of ``runs`` full renders of the page, after one warm-up render."""
    params = parse_qs(query)
    respond(kero, "/", params, request_path="/_kero/")
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        answer = respond(kero, "/", params, request_path="/_kero/")
        times.append((time.perf_counter() - started) * 1000)
        if answer.status != 200:
            raise SystemExit(f"{query}: HTTP {answer.status}")
    return statistics.median(times)


def measure(folder: Path, runs: int) -> dict[str, float]:
    with open_kero(folder, _end_of(folder)) as kero:
        stored = kero.count(name=None, start=0)
        figures = {"events": float(stored)}
        figures.update({label: render_ms(kero, query, runs) for label, query in VIEWS.items()})
    with open_kero(folder, _end_of(folder), goals=GOALS, funnels=FUNNELS) as kero:
        kero.store.complete_rollups()  # the goals' and the funnel's days (new goals: every day)
        figures.update({label: render_ms(kero, query, runs) for label, query in CONVERSION_VIEWS.items()})
    return figures


def report(folders: list[Path], runs: int) -> list[dict[str, float]]:
    views = {**VIEWS, **CONVERSION_VIEWS}
    print(f"{'events':>12} " + " ".join(f"{label:>18}" for label in views) + f"   (median ms of {runs} renders)")
    rows = []
    for folder in folders:
        row = measure(folder, runs)
        rows.append(row)
        print(f"{int(row['events']):>12,} " + " ".join(f"{row[label]:>15.1f} ms" for label in views), flush=True)
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        growth = last["events"] / first["events"]
        print(f"growth for {growth:.0f}x the events: "
              + ", ".join(f"{label} x{last[label] / first[label]:.1f}" for label in views))
    return rows


def smoke() -> None:
    """A tiny database, end to end: seeding in two chunks, then every view renders."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "smoke"
        seed(folder, 3000, 1)
        seed(folder, 3000, 2)
        report([folder], runs=1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    seeding = commands.add_parser("seed", help="append one chunk of synthetic events to a folder")
    seeding.add_argument("folder", type=Path)
    seeding.add_argument("--events", type=int, default=1_000_000)
    seeding.add_argument("--seed", type=int, default=1)
    running = commands.add_parser("run", help="render the views over each folder, smallest first")
    running.add_argument("folders", type=Path, nargs="+")
    running.add_argument("--runs", type=int, default=7)
    commands.add_parser("smoke", help="a tiny database in a temporary folder (seconds)")
    args = parser.parse_args(argv)
    if args.command == "seed":
        seed(args.folder, args.events, args.seed)
    elif args.command == "run":
        report(args.folders, args.runs)
    else:
        smoke()
    print(f"({datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC)")


if __name__ == "__main__":
    main()
