"""The first dashboard view after a bulk write (issue 15, item 2: Past 30 days at 10M events in
1 s or less, in a new process, like every later one). Bulk writers (``kero seed``, ``kero
import``, ``Kero.ingest``) return with every past day rolled up, so a new process's first view
reads rollups as the later ones do. Each round copies the folder (a dashboard_scale.py folder,
as its seed left it), opens a new process on the copy and times its first render of the view,
then a second one in the same process (caches warm).

    python benchmarks/first_view.py FOLDER [--rounds 3] [--view period=30d]
    python benchmarks/first_view.py --smoke
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from variants import run_with

ROOT = Path(__file__).resolve().parent.parent
TARGET_MS = 1000
# A new process's first render and its second, wall ms from opening Kero (imports done: a
# server has its modules loaded when the first view comes).
RENDERS = """
import json, sys, time
from urllib.parse import parse_qs
sys.path.insert(0, sys.argv[3])
from dashboard_scale import open_kero
from kero_core.dashboard import respond
import kero_core
times = []
started = time.perf_counter()
with open_kero(__import__('pathlib').Path(sys.argv[1]), float(sys.argv[2])) as kero:
    for _ in range(2):
        answer = respond(kero, "/", parse_qs(sys.argv[4]), request_path="/_kero/")
        if answer.status != 200:
            raise SystemExit(f"the view answered {answer.status}")
        times.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
print(json.dumps([times, kero_core.__file__]))
"""


def renders_ms(folder: Path, end: float, view: str) -> tuple[float, float]:
    """The first and the second render of ``view`` in a new process over ``folder``."""
    first, second = run_with(RENDERS, [str(folder), str(end), str(ROOT / "benchmarks"), view])
    return float(first), float(second)


def run(folder: Path, rounds: int, view: str) -> None:
    end = float(json.loads((folder / "bench.json").read_text())["end"])
    loads = [os.getloadavg()[0]]
    times: dict[str, list[float]] = {"first view": [], "second view": []}
    with tempfile.TemporaryDirectory(dir=folder.parent) as tmp:
        copy = Path(tmp) / "copy"
        for _ in range(rounds):
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(folder, copy)
            for name, ms in zip(times, renders_ms(copy, end, view)):
                times[name].append(ms)
            loads.append(os.getloadavg()[0])
    print(f"?{view} in a new process, {folder} (target {TARGET_MS} ms for the first view)")
    for name, ms in times.items():
        print(f"  {name:11s} median {statistics.median(ms):7.0f} ms (rounds: {', '.join(f'{m:.0f}' for m in ms)})")
    print(f"  load average {min(loads):.1f} to {max(loads):.1f} ({datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, nargs="?", help="a folder seeded by dashboard_scale.py")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--view", default="period=30d", help="the dashboard's query string")
    parser.add_argument("--smoke", action="store_true", help="a tiny run that checks the script works")
    args = parser.parse_args(argv)
    if args.smoke:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from dashboard_scale import seed

        with tempfile.TemporaryDirectory() as tmp:
            seed(Path(tmp) / "smoke", 2000, 1)
            run(Path(tmp) / "smoke", 1, "period=30d")
        return
    if args.folder is None:
        parser.error("FOLDER is needed (or --smoke)")
    run(args.folder, args.rounds, args.view)


if __name__ == "__main__":
    main()
