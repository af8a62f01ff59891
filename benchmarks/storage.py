"""Bytes per event on disk, with and without the ``raw_retention`` option (issue 15: 20 bytes per
event at 10M events), and proof that the views the rollups answer stay the same.

Each setting gets a new folder, fed one day at a time as a live site is: the clock is set to the
end of each day, that day's synthetic events (GeoIP on) are ingested, and the hourly retention
pass is run (``Kero.prune``), so the DuckDB file grows and reuses the blocks the deleted events
freed as it would in production. Then the folder's size is divided by the events ingested, and
Past 30 days, unfiltered and for one country, are rendered and compared with the setting that
keeps every event.

    python benchmarks/storage.py [--events 10000000] [--days 30] [--raw 14,7]
    python benchmarks/storage.py --smoke        # tiny, seconds

Sizes do not depend on the machine's load, unlike times; the seconds printed do."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from itertools import groupby
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from kero_core import Kero  # noqa: E402
from kero_core.dashboard import model  # noqa: E402
from kero_core.dashboard.view import parse_view  # noqa: E402
from kero_core.synthetic import generate  # noqa: E402

TARGET = 20.0  # bytes per event at 10M events (issue 15)
DAY = 86400
VIEWS = {"Past 30 days": {"period": ["30d"]}, "one country": {"period": ["30d"], "country": ["US"]}}


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def shown(kero: Kero, now: float) -> list[object]:
    """What the views the rollups answer show: key figures and every card's rows."""
    out: list[object] = []
    for params in VIEWS.values():
        d = model.build(kero, parse_view(params, datetime.fromtimestamp(now, timezone.utc).replace(tzinfo=None)))
        out.append([(f.id, f.value) for f in d.figures])
        out.append([(p.panel.id, p.total, [(r.label, r.values) for r in p.rows]) for c in d.cards for p in c.panels])
    return out


def fill(folder: Path, events: int, days: int, end: float, raw_days: int | None, geoip: str | None) -> dict[str, object]:
    clock = Clock(end - days * DAY)
    started = time.perf_counter()
    with Kero(db_path=folder, clock=clock, geoip_db=geoip, retention=days + 1, raw_retention=raw_days,
              release=False) as kero:
        hits = generate(events, days=days, seed=1, end=end)
        for day, chunk in groupby(hits, key=lambda h: int(h.ts // DAY)):
            clock.now = min(end, (day + 1) * DAY)  # the day is over (the last one: now)
            kero.ingest(list(chunk))
            kero.prune()
        with kero.read() as con:
            kept = con.execute("SELECT count(*) FROM events").fetchone()[0]
        figures = shown(kero, end)
    return {"bytes": folder_bytes(folder), "kept": kept, "seconds": time.perf_counter() - started, "shown": figures}


def run(events: int, days: int, raws: list[int]) -> None:
    try:
        from _maxminddb_geolite2 import geolite2_database
        geoip: str | None = geolite2_database()
    except ImportError:
        geoip = None
    end = float(int(time.time()) // 3600 * 3600)
    print(f"{events:,} events over {days} days, fed a day at a time, retention {days + 1} days; GeoIP "
          f"{'on' if geoip else 'off'}")
    print(f"{'raw_retention':<14} {'MB':>8} {'bytes/event':>12} {'events kept':>12} {'vs all kept':>12} "
          f"{'same 30-day views':>18} {'s':>6}")
    base: dict[str, object] | None = None
    with tempfile.TemporaryDirectory(prefix="kero-storage-") as tmp:
        for raw in [None, *raws]:
            got = fill(Path(tmp) / f"raw-{raw}", events, days, end, raw, geoip)
            base = base or got
            per_event = got["bytes"] / events  # type: ignore[operator]
            label = "none (all)" if raw is None else f"{raw} days"
            print(f"{label:<14} {got['bytes'] / 1e6:>8.1f} {per_event:>12.1f} {got['kept']:>12,} "  # type: ignore[operator]
                  f"{got['bytes'] / base['bytes']:>12.2f} {'yes' if got['shown'] == base['shown'] else 'NO':>18} "  # type: ignore[operator]
                  f"{got['seconds']:>6.0f}", flush=True)
    print(f"(target: {TARGET:g} bytes per event at 10M events; {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--raw", default="14,7", help="raw_retention settings to compare, in days (default 14,7)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks that the script runs")
    args = parser.parse_args(argv)
    if args.smoke:
        args.events, args.days, args.raw = 2000, 6, "3"
    run(args.events, args.days, [int(r) for r in args.raw.split(",") if r])


if __name__ == "__main__":
    main()
