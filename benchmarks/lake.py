"""Lake mode against the embedded file, side by side in one run: ingest across several hosts
(separate processes, each its own db_path, one lake), bytes per event on disk, and dashboard
renders (Past 30 days, the same for one country, Today) over the same synthetic events.

    python benchmarks/lake.py [--events 1000000] [--ingest-events 100000] [--hosts 3] [--runs 5]
    python benchmarks/lake.py --smoke        # tiny sizes, seconds (the test suite runs this)
    python benchmarks/lake.py --events 10000000 --keep /tmp/lake10m    # seed once, keep the stores
    python benchmarks/lake.py --events 10000000 --keep /tmp/lake10m --skip-ingest   # renders again

The lake is a DuckLake with its catalog in a PostgreSQL started for the run (``initdb`` in a
temporary folder, as the tests do; or ``--lake 'postgres:...'`` for one of yours, whose catalog
database must be empty) and its data in a local folder (``--lake-data-path`` to choose it).

Ingest: each host process enqueues its hits as the request thread would, then writes and commits
them to the lake (enrichment, Parquet spool, DuckLake commit), started together; the rate is all
the events over the wall time from the first start to the last commit, and every event is
counted in the lake afterwards. The embedded figure is one process doing the same into its file."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from kero_core import Kero, rollups  # noqa: E402
from kero_core.config import MAX_RETENTION_DAYS  # noqa: E402
from kero_core.synthetic import generate  # noqa: E402

from benchmarks.dashboard_scale import VIEWS, _geoip, render_ms  # noqa: E402

INGEST_TARGET = 50_000  # events/s in total, issue 12
RENDER_TARGETS_MS = {"30d": 1500, "30d, one country": 1000}  # at 10M events, issue 12


def open_kero(folder: Path, end: float, lake: str | None = None, data_path: str | None = None,
              **options: Any) -> Kero:
    lake_options = {"lake": lake, "lake_data_path": data_path} if lake else {}
    return Kero(db_path=folder, measure_requests=True, retention=MAX_RETENTION_DAYS, geoip_db=_geoip(),
                clock=lambda: end, **lake_options, **options)


# -- ingest -------------------------------------------------------------------------------------
def host_process(args: argparse.Namespace) -> None:
    """One host (run as a child process): generate, wait for "go", record, write, commit."""
    hits = list(generate(args.events, days=1, seed=args.seed, end=args.end))
    kero = open_kero(Path(args.folder), args.end + 1, args.lake or None, args.lake_data_path or None,
                     flush_interval=3600, max_buffer=len(hits) + 1)
    with kero:
        with kero.read():  # connected, schema ready: opening is not what is measured
            pass
        print("ready", flush=True)
        sys.stdin.readline()
        started, cpu = time.time(), time.process_time()
        for hit in hits:
            kero.pipeline.record(hit)
        if not (kero.pipeline.write() and kero.flush()):
            raise SystemExit("flush failed")
        print(json.dumps({"start": started, "end": time.time(), "cpu": time.process_time() - cpu}), flush=True)


def ingest(hosts: int, events: int, end: float, work: Path, lake: str | None, data_path: str | None) -> float:
    """Events per second in total for ``hosts`` processes recording ``events`` each."""
    children = []
    for i in range(hosts):
        command = [sys.executable, __file__, "_host", "--folder", str(work / f"ingest-{'lake' if lake else 'file'}-{i}"),
                   "--events", str(events), "--seed", str(100 + i), "--end", str(end),
                   "--lake", lake or "", "--lake-data-path", data_path or ""]
        children.append(subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
    for child in children:
        if child.stdout.readline().strip() != "ready":  # type: ignore[union-attr]
            raise SystemExit("a host did not start")
    for child in children:
        child.stdin.write("go\n")  # type: ignore[union-attr]
        child.stdin.flush()  # type: ignore[union-attr]
    results = []
    for child in children:
        out, _ = child.communicate(timeout=1800)
        if child.returncode != 0:
            raise SystemExit(f"a host failed ({child.returncode})")
        results.append(json.loads(out.strip().splitlines()[-1]))
    wall = max(r["end"] for r in results) - min(r["start"] for r in results)
    return hosts * events / wall


def counted(folder: Path, end: float, lake: str | None, data_path: str | None) -> int:
    with open_kero(folder, end + 1, lake, data_path) as kero:
        return kero.count(name=None, start=0)


# -- size and renders ---------------------------------------------------------------------------
def seed(kero: Kero, events: int, end: float) -> float:
    """Store ``events`` synthetic events over 30 days, roll up every past day; seconds taken."""
    started = time.perf_counter()
    kero.ingest(generate(events, days=30, seed=1, end=end))
    with kero.read() as con:
        if kero.config.lake:
            kero.store.maintain(con, budget=3600)  # what the elected host does, done now
            kero.store.compact(con)
        else:
            rollups.refresh(con, kero.now().date(), 3600)
    return time.perf_counter() - started


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def catalog_bytes(kero: Kero) -> int:
    with kero.store.catalog.cursor() as cursor:
        cursor.execute("SELECT pg_database_size(current_database())")
        return int(cursor.fetchone()[0])


def renders(kero: Kero, runs: int) -> dict[str, float]:
    return {label: render_ms(kero, query, runs) for label, query in VIEWS.items()}


# -- the run ------------------------------------------------------------------------------------
def start_postgres(folder: Path) -> Any:
    """A PostgreSQL server whose cluster is in ``folder`` (made there unless it exists)."""
    from tests.lake.postgres import PostgresServer

    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o711)  # the server runs as the unprivileged postgres user when we are root
    server = PostgresServer(folder / "cluster")
    if not server.data.exists():
        server.init()
    server.start()
    return server


def run(args: argparse.Namespace) -> None:
    with contextlib.ExitStack() as stack:
        if args.keep:  # the stores, the cluster and the clock's end survive the run
            work = args.keep.resolve()
            work.mkdir(parents=True, exist_ok=True)
            end_file = work / "end"
            end = float(end_file.read_text()) if end_file.exists() else float(int(time.time()) // 3600 * 3600)
            end_file.write_text(repr(end))
        else:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kero-bench-lake-")))
            end = float(int(time.time()) // 3600 * 3600)
        work.chmod(0o755)
        if args.lake:
            lake, make_lake = args.lake, None
        else:
            pg_folder = work / "postgres" if args.keep else Path(tempfile.mkdtemp(prefix="kero-bench-postgres-"))
            server = start_postgres(pg_folder)
            if not args.keep:
                stack.callback(shutil.rmtree, pg_folder, True)
            stack.callback(server.stop, "fast" if args.keep else "immediate")

            def make_lake(name: str) -> str:
                try:
                    return server.create_database(name)
                except subprocess.CalledProcessError:  # kept from an earlier run
                    return server.dsn(name)
        data_root = Path(args.lake_data_path) if args.lake_data_path else work / "lake-data"

        def new_lake(name: str) -> tuple[str, str]:
            data = data_root / name
            data.mkdir(parents=True, exist_ok=True)
            return (make_lake(name) if make_lake else lake), str(data)

        report(args, end, work, new_lake)


def report(args: argparse.Namespace, end: float, work: Path, new_lake: Any) -> None:
    print(f"Lake (DuckLake, PostgreSQL catalog, local data folder) vs embedded file; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}", flush=True)

    if not args.skip_ingest:
        ingest_report(args, end, work, new_lake)
    dashboard_report(args, end, work, new_lake)
    print(f"({datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC)")


def ingest_report(args: argparse.Namespace, end: float, work: Path, new_lake: Any) -> None:
    # The lake with N hosts, then one embedded process. The lake is created first: hosts opening
    # a new lake at once fail (DuckLake's catalog tables; tests/lake/test_new_lake.py).
    lake, data = new_lake("ingest")
    counted(work / "ingest-reader", end, lake, data)
    lake_rate = ingest(args.hosts, args.ingest_events, end, work, lake, data)
    stored = counted(work / "ingest-reader", end, lake, data)
    expected = args.hosts * args.ingest_events
    file_rate = ingest(1, args.ingest_events, end, work, None, None)
    file_stored = counted(work / "ingest-file-0", end, None, None)
    print(f"ingest, {args.hosts} hosts into the lake: {lake_rate:,.0f} events/s in total "
          f"(stored {stored:,} of {expected:,}); target >= {INGEST_TARGET:,}: "
          f"{'met' if lake_rate >= INGEST_TARGET else 'NOT met'}")
    print(f"ingest, 1 process into the embedded file: {file_rate:,.0f} events/s "
          f"(stored {file_stored:,} of {args.ingest_events:,}); lake total / embedded: {lake_rate / file_rate:.2f}",
          flush=True)
    if stored != expected or file_stored != args.ingest_events:
        raise SystemExit("events were lost or doubled")



def dashboard_report(args: argparse.Namespace, end: float, work: Path, new_lake: Any) -> None:
    """The same events in both stores: size and renders (stores kept by --keep are reused)."""
    lake, data = new_lake("dashboard")
    with open_kero(work / "dash-file", end) as embedded, open_kero(work / "dash-lake", end, lake, data) as lakehost:
        if embedded.count(name=None, start=0) == 0:
            file_seed = seed(embedded, args.events, end)
            lake_seed = seed(lakehost, args.events, end)
            seeded = f"bulk import: embedded {args.events / file_seed:,.0f}/s, lake {args.events / lake_seed:,.0f}/s, rollups included"
        else:
            seeded = f"kept from an earlier run in {work}"
        n_file, n_lake = embedded.count(name=None, start=0), lakehost.count(name=None, start=0)
        if not n_file == n_lake == args.events:
            raise SystemExit(f"the stores hold {n_file} and {n_lake} events, not {args.events}")
        file_size = folder_bytes(work / "dash-file")
        data_size, cat_size = folder_bytes(Path(data)), catalog_bytes(lakehost)
        print(f"stored {n_file:,} events over 30 days in each ({seeded})")
        print(f"bytes per event: embedded file {file_size / n_file:.1f}; lake data files {data_size / n_lake:.1f} "
              f"(+ catalog database {cat_size / n_lake:.1f}, {cat_size / 1e6:.1f} MB); "
              f"lake data / embedded: {data_size / file_size:.2f}")
        print(f"{'view':>18} {'embedded ms':>12} {'lake ms':>9} {'lake/embedded':>14}   "
              f"(median of {args.runs} renders, {n_file:,} events)")
        # Alternated, so a busy moment of the shared machine hits both.
        file_ms: dict[str, list[float]] = {label: [] for label in VIEWS}
        lake_ms: dict[str, list[float]] = {label: [] for label in VIEWS}
        for _ in range(2):
            for label, value in renders(embedded, args.runs).items():
                file_ms[label].append(value)
            for label, value in renders(lakehost, args.runs).items():
                lake_ms[label].append(value)
        for label in VIEWS:
            f, lk = statistics.median(file_ms[label]), statistics.median(lake_ms[label])
            target = RENDER_TARGETS_MS.get(label)
            note = f"   (target at 10M: <= {target} ms)" if target else ""
            print(f"{label:>18} {f:>12.1f} {lk:>9.1f} {lk / f:>14.2f}{note}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the dashboard's stores")
    parser.add_argument("--ingest-events", type=int, default=100_000, help="events each host ingests")
    parser.add_argument("--hosts", type=int, default=3)
    parser.add_argument("--runs", type=int, default=5, help="renders per view and round (2 rounds)")
    parser.add_argument("--lake", default="", help="an empty catalog database (default: a temporary PostgreSQL)")
    parser.add_argument("--lake-data-path", default="")
    parser.add_argument("--keep", type=Path, default=None, metavar="DIR",
                        help="keep the stores and the PostgreSQL cluster in DIR: a later run with the same DIR and "
                             "--events renders them again without seeding")
    parser.add_argument("--skip-ingest", action="store_true", help="skip the ingest part (renders and size only)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the script works")
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "_host":
        child = argparse.ArgumentParser()
        for name in ("--folder", "--lake", "--lake-data-path"):
            child.add_argument(name, default="")
        child.add_argument("--events", type=int)
        child.add_argument("--seed", type=int)
        child.add_argument("--end", type=float)
        host_process(child.parse_args(sys.argv[2:]))
        return
    args = parser.parse_args(argv)
    if args.smoke:
        args.events, args.ingest_events, args.runs = 6_000, 3_000, 1
    if args.lake and args.hosts and args.lake_data_path == "":
        parser.error("--lake needs --lake-data-path")
    run(args)


if __name__ == "__main__":
    main()
