"""The cardinality flood (issue 14, finding 1): what one anonymous client sending events with
unique paths, referrers, UTM values and User-Agents (half of them unique bot names) does to
the dashboard, measured side by side with the same site before the flood.

Three folders are seeded in one run: a normal site (synthetic traffic over 30 days), the same
site plus the flood (spread over the last two days, so it lands both in rolled-up days and in
today's raw events), and, to tell what the number of values costs from what the number of events
costs, the same site plus as many events taking 100 values only ("busy"). Then, for each folder:
- in process: median ms of full renders of the default view (24 h), ``?period=30d`` and
  ``?show=pages``, and the peak RSS of the process that rendered them (each view in a fresh
  process, so peaks do not carry over);
- over HTTP: ten concurrent loads of the dashboard from ``kero serve`` (gunicorn, 4 workers,
  127.0.0.1): every status, the slowest latency, and the workers' RSS growth.

    python benchmarks/flood.py [--normal 300000] [--flood 500000] [--runs 5] [--hour H]
    python benchmarks/flood.py smoke        # tiny sizes, seconds

The measured moment is the start of the current UTC hour, or of hour ``H`` (0-23) of today with
``--hour``: Past 24 hours reads its part of yesterday from its events (or, when that part is most
of the day, the day's rollups less the hours left out), so the hour decides how many hours of the
flood a view reads: the most at ``--hour 12`` and 13, half a day. The concurrent loads over HTTP
run on the real clock (``kero serve`` has no other).

Bounded: every render, server start and request has a timeout."""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qs

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from dashboard_scale import open_kero, render_ms  # noqa: E402
from servers import free_port  # noqa: E402

from kero_core.dashboard import respond  # noqa: E402
from kero_core.synthetic import flood, generate  # noqa: E402

VIEWS = {"default (24h)": "", "30d": "period=30d", "show=pages": "show=pages"}
TARGET_MS = 500  # per view, flooded (issue 14)
TARGET_RSS_MB = 100  # a worker's growth over the concurrent loads
CONCURRENT = 10
HTTP_TIMEOUT = 60.0
RENDER_TIMEOUT = 600.0
WORKERS = 4
PASSWORD = "flood-bench-password"


FOLDERS = {"normal": None, "busy": 100, "flooded": 0}  # name -> distinct values of the added events (None: none added)


def seed(folder: Path, normal: int, added: int, distinct: int | None, end: float) -> float:
    """Seconds taken to store ``normal`` synthetic events then ``added`` flood events taking
    ``distinct`` values (0: each unique; None: no flood)."""
    started = time.perf_counter()
    with open_kero(folder, end) as kero:
        kero.ingest(generate(normal, days=30, seed=1, end=end))
        if distinct is not None:
            kero.ingest(flood(added, end=end, hours=48, distinct=distinct or None))
    return time.perf_counter() - started


def render_child(folder: Path, end: float, query: str, runs: int) -> None:
    """(In a fresh process) print the median render ms and the process's RSS before and at peak."""
    with open_kero(folder, end) as kero:
        respond(kero, "/", parse_qs(query), request_path="/_kero/")  # opens, warms the caches
        before = _rss_mb(os.getpid())
        median = render_ms(kero, query, runs)
    print(json.dumps({"ms": median, "rss_mb": before, "peak_mb": _rss_mb(os.getpid(), "VmHWM:")}))


def render(folder: Path, end: float, query: str, runs: int) -> dict[str, float]:
    done = subprocess.run([sys.executable, __file__, "render", str(folder), str(end), query, str(runs)],
                          capture_output=True, text=True, timeout=RENDER_TIMEOUT, check=False)
    if done.returncode:
        raise SystemExit(f"render of {query!r} failed:\n{done.stderr}")
    return json.loads(done.stdout.splitlines()[-1])


def _rss_mb(pid: int, field: str = "VmRSS:") -> float:
    """A process's resident memory now (VmRSS), or at its peak (VmHWM: since its exec, unlike
    ru_maxrss, which keeps the parent's peak)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except FileNotFoundError:  # it exited (killed) meanwhile
        return 0.0
    for line in lines:
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return 0.0


def concurrent_loads(folder: Path) -> dict[str, object]:
    """Ten simultaneous dashboard loads from ``kero serve``: statuses, slowest ms, RSS growth."""
    port = free_port()
    env = {**os.environ, "KERO_PASSWORD": PASSWORD}
    log = open(folder.parent / f"{folder.name}-serve.log", "wb")
    server = subprocess.Popen([sys.executable, "-m", "kero_core", "serve", "--db", str(folder), "--port", str(port),
                               "--workers", str(WORKERS)], env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    log.close()
    url = f"http://127.0.0.1:{port}/_kero/"
    auth = "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    try:
        _get(url, auth, ready=True)
        workers = [int(p) for p in Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()]
        for _ in range(WORKERS * 2):  # every worker opens the store and renders once
            _get(url, auth)
        rss_before = {pid: _rss_mb(pid) for pid in workers}
        results: list[tuple[int, float]] = []
        barrier = threading.Barrier(CONCURRENT)

        def load() -> None:
            barrier.wait()
            started = time.perf_counter()
            try:
                status = _get(url, auth)
            except OSError:  # no answer within HTTP_TIMEOUT
                status = 0
            results.append((status, (time.perf_counter() - started) * 1000))

        threads = [threading.Thread(target=load) for _ in range(CONCURRENT)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(HTTP_TIMEOUT + 5)
        alive = [pid for pid in workers if Path(f"/proc/{pid}").exists()]  # gunicorn kills a worker past its 30 s timeout
        return {"statuses": sorted(s for s, _ in results), "max_ms": max(ms for _, ms in results),
                "median_ms": statistics.median(ms for _, ms in results), "killed": len(workers) - len(alive),
                "rss_growth_mb": max((_rss_mb(pid) - rss_before[pid] for pid in alive), default=0.0),
                "rss_mb": max((_rss_mb(pid) for pid in alive), default=0.0)}
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
            server.wait(5)


def _get(url: str, auth: str, ready: bool = False) -> int:
    deadline = time.monotonic() + HTTP_TIMEOUT
    while True:
        try:
            request = urllib.request.Request(url, headers={"Authorization": auth})
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as answer:
                answer.read()
                return answer.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            if not ready or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def measured_moment(hour: int | None) -> float:
    """The start of the current UTC hour, or of ``hour`` today (a whole hour, as dashboard_scale's)."""
    now = int(time.time())
    return float(now // 3600 * 3600 if hour is None else now // 86400 * 86400 + hour * 3600)


def run(normal: int, flooded: int, runs: int, hour: int | None = None) -> None:
    end = measured_moment(hour)
    print(f"measured at {datetime.fromtimestamp(end, timezone.utc):%Y-%m-%d %H:%M} UTC", flush=True)
    with tempfile.TemporaryDirectory(prefix="kero-flood-") as tmp:
        folders = {name: Path(tmp) / name for name in FOLDERS}
        for name, folder in folders.items():
            took = seed(folder, normal, flooded, FOLDERS[name], end)
            size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e6
            added = "" if FOLDERS[name] is None else f" + {flooded:,} events of {FOLDERS[name] or 'unique'} values"
            print(f"seeded {name}: {normal:,} events{added} in {took:.0f} s ({size:.0f} MB)", flush=True)
        print(f"{'in process':<14} {'normal ms':>10} {'busy ms':>8} {'flooded ms':>11} {'flooded/busy':>13} "
              f"{'flooded/normal':>15}   {'peak MB (normal, busy, flooded)':>32}   "
              f"(median of {runs} renders; target flooded <= {TARGET_MS} ms)")
        for label, query in VIEWS.items():
            got = {name: render(folder, end, query, runs) for name, folder in folders.items()}
            ms = {name: got[name]["ms"] for name in folders}
            peaks = ", ".join(f"{got[name]['peak_mb']:.0f}" for name in folders)
            print(f"{label:<14} {ms['normal']:>10.0f} {ms['busy']:>8.0f} {ms['flooded']:>11.0f} "
                  f"{ms['flooded'] / ms['busy']:>13.1f} {ms['flooded'] / ms['normal']:>15.1f}   {peaks:>32}", flush=True)
        print(f"over HTTP: {CONCURRENT} concurrent loads of the default view (kero serve, gunicorn -w {WORKERS})")
        for name, folder in folders.items():
            http = concurrent_loads(folder)
            print(f"{name:<8} statuses {http['statuses']}; median {http['median_ms']:.0f} ms, "
                  f"slowest {http['max_ms']:.0f} ms; worker RSS {http['rss_mb']:.0f} MB, "
                  f"growth over the loads {http['rss_growth_mb']:+.0f} MB (target <= {TARGET_RSS_MB}); "
                  f"workers killed by gunicorn's timeout: {http['killed']}", flush=True)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"({datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command")
    running = commands.add_parser("run", help="seed both folders and measure (the default)")
    for sub in (parser, running):
        sub.add_argument("--normal", type=int, default=300_000, help="synthetic events of the normal site")
        sub.add_argument("--flood", type=int, default=500_000, help="flood events added to the flooded copy")
        sub.add_argument("--runs", type=int, default=5, help="renders per view (median)")
        sub.add_argument("--hour", type=int, choices=range(24), metavar="H",
                         help="measure at hour H (UTC) of today instead of the current hour")
    commands.add_parser("smoke", help="tiny sizes (seconds)")
    child = commands.add_parser("render", help=argparse.SUPPRESS)
    child.add_argument("folder", type=Path)
    child.add_argument("end", type=float)
    child.add_argument("query")
    child.add_argument("runs", type=int)
    args = parser.parse_args(argv)
    if args.command == "render":
        render_child(args.folder, args.end, args.query, args.runs)
    elif args.command == "smoke":
        run(3000, 3000, 1)
    else:
        run(args.normal, args.flood, args.runs, args.hour)


if __name__ == "__main__":
    main()
