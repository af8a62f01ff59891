"""Today from counters (issue 15): the Today view's render time, read from today's rollups kept
current at ingest (kero_core.live_days), against the same view read from today's events by the
kero packages of ``--before DIR``, alternated run by run over the same folder; and what keeping
the rows current costs each ingest.

    python benchmarks/today.py FOLDER [--before DIR] [--runs 7]   # a dashboard_scale.py folder
    python benchmarks/today.py --big FOLDER [--before DIR]        # builds a day of 1M page views first
    python benchmarks/today.py FOLDER --before DIR --before-live  # DIR's kero keeps live rows too
    python benchmarks/today.py FOLDER --before DIR --before-live --query period=24h  # another view
    python benchmarks/today.py --smoke                            # tiny, seconds

FOLDER is left as it is: each run works on a copy of it (FOLDER-work, deleted at the end), so
the ingests a run makes do not grow the next run's today. The first ingest of today makes today
live (its rows are computed once; the time is printed, unless FOLDER's today is live already);
with ``--before``, a second copy (FOLDER-work-before) is what the kero before reads. Renders use
a clock stopped at the folder's end (``bench.json``), each variant in a fresh process per round.
The ingest cost is that of 200 of today's events: into the live day and, with ``--before``, into
the copy by a kero that keeps no live day, or with ``--before-live`` by the kero before into its
live copy (rounds alternated, each in a process of its own)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from variants import run_with  # noqa: E402

TARGETS = "target 100 ms at 10M events, 300 ms for a day of 1M page views"
BIG_DAY = 1_200_000  # events of the --big day: about 1M of them page views
TODAY = "period=today"
# One variant's renders, in its own process: median ms of ``runs`` renders after a warm-up.
RENDER = """
import json, sys
import kero_core  # the variant's (PYTHONPATH), before dashboard_scale puts this checkout first
sys.path.insert(0, sys.argv[4])
from dashboard_scale import open_kero, render_ms
from pathlib import Path
with open_kero(Path(sys.argv[1]), float(sys.argv[2])) as kero:
    print(json.dumps([render_ms(kero, sys.argv[3], int(sys.argv[5])), kero_core.__file__]))
"""


def end_of(folder: Path) -> float:
    return float(json.loads((folder / "bench.json").read_text())["end"])


def render(folder: Path, runs: int, kero_from: str | None, query: str = TODAY) -> float:
    return float(run_with(RENDER, [str(folder), str(end_of(folder)), query, str(ROOT / "benchmarks"), str(runs)],
                          kero_from))


def set_back_to_schema_12(db_file: Path) -> None:
    """Schema 13 only adds day_visits (the visits of the last days, which the kero before it
    does not read): without it and set back to 12, the kero before reads the database."""
    import duckdb

    with duckdb.connect(str(db_file)) as con:
        if con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == "13":
            con.execute("DROP TABLE day_visits")
            con.execute("UPDATE meta SET value = '12' WHERE key = 'schema_version'")


def set_back_to_schema_10(db_file: Path) -> None:
    """Schemas 11 to 13 are refused by a kero before them: set back to 10, without the tables
    12 and 13 added (hourly rows, the last days' visits: a kero of 10 does not read them) and
    with no live day (schema 11 added no table; its rows are then left unread), the database
    holds the same events and the rollups a kero of 10 reads. (Folded rows keep schema 12's key.)"""
    import duckdb

    from kero_core import rollups

    set_back_to_schema_12(db_file)
    with duckdb.connect(str(db_file)) as con:
        if con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == "12":
            con.execute("DROP TABLE day_hours")
            con.execute("DROP TABLE day_goal_hours")
            con.execute("UPDATE meta SET value = '11' WHERE key = 'schema_version'")
        rollups.save_live_days(con, {})
        con.execute("UPDATE meta SET value = '10' WHERE key = 'schema_version' AND value = '11'")


def make_live(folder: Path) -> tuple[float | None, int]:
    """Ingest a few of today's events: today becomes live, its rows computed once. Returns the
    seconds that took (None: today was live already, e.g. after ``--big``'s ingest) and how many
    events today holds."""
    from dashboard_scale import open_kero

    from kero_core import rollups
    from kero_core.synthetic import generate

    end = end_of(folder)
    today = datetime.fromtimestamp(end, timezone.utc).date()
    with open_kero(folder, end) as kero:
        with kero.read() as con:
            was_live = today in rollups.live_days(con)
        started = time.perf_counter()
        kero.ingest(generate(10, days=1 / 24, seed=98, end=end))
        took = None if was_live else time.perf_counter() - started
        with kero.read() as con:
            live = rollups.live_days(con)
            if today not in live:
                raise SystemExit(f"today ({today}) did not become live: {live}")
            events = con.execute("SELECT count(*) FROM events WHERE ts >= ?",
                                 [datetime.combine(today, datetime.min.time())]).fetchone()[0]
    return took, events


def events_in(folder: Path) -> int:
    from dashboard_scale import open_kero

    with open_kero(folder, end_of(folder)) as kero:
        return kero.count(name=None, start=0)


def ingest_cost_with(folder: Path, kero_from: str | None) -> float:
    """The live median of :func:`ingest_costs` over ``folder``, run by the kero packages of
    ``kero_from`` (None: this checkout's) in a process of their own."""
    code = ("import json, sys, kero_core; sys.path.insert(0, sys.argv[2]); from today import ingest_costs; "  # kero_core
            "print(json.dumps([ingest_costs(__import__('pathlib').Path(sys.argv[1]), None)['live'], kero_core.__file__]))")
    return float(run_with(code, [str(folder), str(ROOT / "benchmarks")], kero_from))


def ingest_costs(folder: Path, plain: Path | None) -> dict[str, float]:
    """Median seconds of an ingest of 200 of today's events (``Kero.ingest``, a busy second's
    traffic), 10 times, into ``folder`` (its live rows kept current) and, alternated, into
    ``plain`` (the same events, no live day: a kero that keeps none)."""
    from dashboard_scale import open_kero

    from kero_core.synthetic import generate

    end = end_of(folder)
    hits = list(generate(2000, days=1 / 24, seed=99, end=end))
    times: dict[str, list[float]] = {"live": [], "plain": []}
    with contextlib.ExitStack() as stack:
        keros = {"live": stack.enter_context(open_kero(folder, end))}
        if plain is not None:
            keros["plain"] = stack.enter_context(open_kero(plain, end))
            keros["plain"].store.keeps_live_days = False
        for i in range(0, 2000, 200):
            for name, kero in keros.items():
                started = time.perf_counter()
                kero.ingest(hits[i:i + 200])
                times[name].append(time.perf_counter() - started)
    return {name: statistics.median(t) for name, t in times.items() if t}


def big_day(folder: Path) -> None:
    """A folder whose today holds BIG_DAY events (about 1M page views), ending at 23:00."""
    from dashboard_scale import open_kero

    from kero_core.synthetic import generate

    folder.mkdir(parents=True, exist_ok=True)
    end = float(int(time.time()) // 86_400 * 86_400 - 3600)  # 23:00 yesterday: a whole day of events but one hour
    (folder / "bench.json").write_text(json.dumps({"end": end}))
    with open_kero(folder, end) as kero:
        kero.ingest(generate(BIG_DAY, days=23 / 24, seed=3, end=end))


def make_live_with(folder: Path, kero_from: str) -> None:
    """:func:`make_live` run by the kero packages of ``kero_from`` (in a process of their own)."""
    code = ("import json, sys, kero_core; sys.path.insert(0, sys.argv[2]); from today import make_live; "  # kero_core first:
            "make_live(__import__('pathlib').Path(sys.argv[1])); print(json.dumps([None, kero_core.__file__]))")  # today.py adds this checkout
    run_with(code, [str(folder), str(ROOT / "benchmarks")], kero_from)


def run(original: Path, label: str, runs: int, rounds: int, before: str | None, before_live: bool = False,
        query: str = TODAY) -> None:
    loads = [os.getloadavg()[0]]
    folder = original.with_name(original.name + "-work")  # what this checkout reads and ingests into
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(original, folder)
    try:
        measure(folder, label, runs, rounds, before, before_live, query, loads)
    finally:
        shutil.rmtree(folder)


def measure(folder: Path, label: str, runs: int, rounds: int, before: str | None, before_live: bool,
            query: str, loads: list[float]) -> None:
    copy = folder.with_name(folder.name + "-before")  # the same events, for the kero before
    if before:
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(folder, copy)
        if before_live:  # it keeps live rows too (schema 11 or later): made live by its own code
            set_back_to_schema_12(copy / "kero.duckdb")
            make_live_with(copy, before)
        else:  # it reads the events
            set_back_to_schema_10(copy / "kero.duckdb")
    took, events = make_live(folder)
    print(f"{label} ({events:,} events today): " + ("today was live already" if took is None
                                                    else f"today made live in {took:.2f} s (once)"))
    before_name = "before (live rows)" if before_live else "before (events)"
    variants = {"this checkout (live rows)": None, **({before_name: before} if before else {})}
    got: dict[str, list[float]] = {name: [] for name in variants}
    for r in range(rounds):
        for name in (list(variants) if r % 2 == 0 else list(variants)[::-1]):
            got[name].append(render(copy if variants[name] else folder, runs, variants[name], query))
        loads.append(os.getloadavg()[0])
    for name, medians in got.items():
        print(f"  {name:28s} {'Today' if query == TODAY else query} {statistics.median(medians):7.0f} ms (rounds: "
              + ", ".join(f"{m:.0f}" for m in medians) + ")")
    if before:
        ratio = statistics.median(b / a for a, b in zip(got["this checkout (live rows)"], got[before_name]))
        print(f"  before / this checkout: {ratio:.1f}x (median of per-round ratios)")
    if before and before_live:  # both keep live rows: what each one's update costs, alternated
        spent: dict[str, list[float]] = {"this checkout": [], "before": []}
        for r in range(rounds):
            for name in (list(spent) if r % 2 == 0 else list(spent)[::-1]):
                spent[name].append(ingest_cost_with(copy if name == "before" else folder, before if name == "before" else None))
        print("  an ingest of 200 of today's events into the live day (Kero.ingest, median of 10 per round): "
              + ", ".join(f"{name} {statistics.median(t) * 1000:.0f} ms (rounds: "
                          + ", ".join(f"{x * 1000:.0f}" for x in t) + ")" for name, t in spent.items()))
    else:
        costs = ingest_costs(folder, copy if before else None)
        print("  an ingest of 200 of today's events (Kero.ingest, median of 10, alternated): "
              + ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, seconds in costs.items())
              + ("  (plain: a kero that keeps no live day, over the copy)" if before else ""))
    if before:
        shutil.rmtree(copy)
    print(f"  ({TARGETS}); load average {min(loads):.1f} to {max(loads):.1f} ({datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, nargs="?")
    parser.add_argument("--before", metavar="DIR", help="also render with the kero packages found in DIR")
    parser.add_argument("--before-live", action="store_true",
                        help="the kero of --before keeps live rows too (schema 11 or later): it reads them, not the events")
    parser.add_argument("--runs", type=int, default=7, help="renders per round (median)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--big", action="store_true", help="build FOLDER as a day of 1M page views first")
    parser.add_argument("--query", default=TODAY, help=f"the view rendered (default {TODAY}; e.g. period=24h)")
    parser.add_argument("--smoke", action="store_true", help="a tiny run that checks the script works")
    args = parser.parse_args(argv)
    if args.smoke:
        from dashboard_scale import seed

        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "smoke"
            seed(folder, 3000, 1)
            held = events_in(folder)
            run(folder, "smoke", runs=1, rounds=1, before=str(ROOT))  # this checkout as "before": the plumbing
            run(folder, "smoke", runs=1, rounds=1, before=str(ROOT), before_live=True)
            if events_in(folder) != held:
                raise SystemExit(f"the runs changed {folder}: {held:,} events before, {events_in(folder):,} after")
            print(f"{folder.name} kept its {held:,} events")
        return
    if args.folder is None:
        parser.error("FOLDER is needed (or --smoke)")
    if args.big:
        big_day(args.folder)
    run(args.folder, str(args.folder), args.runs, args.rounds, args.before, args.before_live, args.query)


if __name__ == "__main__":
    main()
