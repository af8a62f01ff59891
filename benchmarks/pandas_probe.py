"""What DuckDB's search for pandas costs Kero where pandas is not installed, and what
``kero_core.pandas_probe`` saves: in one process, with the probe's finder on ``sys.meta_path``
and without it, alternated round by round:

- one of Kero's statements binding a parameter (``rollups.events_kept_from``: µs, best of 2,000);
- an ingest of 200 new visitors' events into a live day (CPU ms of the ingesting thread, which
  holds the GIL while Python searches ``sys.path``);
- a Today render of a folder (ms; ``--folder``: a dashboard_scale.py folder, else a small one
  seeded here).

For each it counts the pandas imports that reached ``sys.path`` (zero with the probe).

    python benchmarks/pandas_probe.py [--folder FOLDER] [--rounds 8] [--smoke]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import parse_qs

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from dashboard_scale import open_kero  # noqa: E402

from kero_core import Kero, pandas_probe  # noqa: E402
from kero_core.capture import Hit  # noqa: E402
from kero_core.dashboard import respond  # noqa: E402
from kero_core.synthetic import generate  # noqa: E402

USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


class CountPandasImports:
    """A finder that counts the searches for pandas that get past the probe (and finds nothing)."""

    def __init__(self) -> None:
        self.count = 0

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> None:
        if fullname == "pandas":
            self.count += 1


@contextlib.contextmanager
def probe(on: bool, counter: CountPandasImports) -> Iterator[None]:
    """The probe's finder first on sys.meta_path (or none), the counter after it."""
    saved = list(sys.meta_path)
    sys.meta_path[:] = [f for f in saved if not isinstance(f, pandas_probe.NoPandasForKero)]
    sys.meta_path[:0] = [pandas_probe.NoPandasForKero(), counter] if on else [counter]
    counter.count = 0
    try:
        yield
    finally:
        sys.meta_path[:] = saved


def statement_us(kero: Kero) -> float:
    """Best µs of one Kero statement binding one parameter, over 2,000."""
    from kero_core import rollups

    with kero.read() as con:
        times = []
        for _ in range(2000):
            started = time.perf_counter()
            rollups.events_kept_from(con)
            times.append(time.perf_counter() - started)
    return min(times) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", type=Path, help="a dashboard_scale.py folder for the Today render")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--smoke", action="store_true", help="tiny: seconds")
    args = parser.parse_args()
    if args.smoke:
        args.rounds = 2
    if "pandas" in sys.modules or pandas_probe.install() is False:
        raise SystemExit("pandas is installed here: DuckDB imports it once, and the probe stays out of the way")
    counter = CountPandasImports()
    results: dict[str, dict[bool, list[float]]] = {}
    imports: dict[str, dict[bool, int]] = {}
    with contextlib.ExitStack() as stack:
        if args.folder is not None:
            end = float(json.loads((args.folder / "bench.json").read_text())["end"])
            viewed = stack.enter_context(open_kero(args.folder, end))
        else:
            end = float(int(time.time()) // 86_400 * 86_400 + 20 * 3600)
            small = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            viewed = stack.enter_context(open_kero(small, end))
            viewed.ingest(generate(2_000 if args.smoke else 20_000, days=2, seed=7, end=end))
        ingested = stack.enter_context(Kero(db_path=stack.enter_context(tempfile.TemporaryDirectory()),
                                            clock=lambda: end))
        ingested.ingest([hit(end, 0, "203.0.113.7")])  # today becomes live
        today = parse_qs("period=today")
        respond(viewed, "/", today, request_path="/_kero/")  # warm-up
        measures: dict[str, Callable[[int], float]] = {
            "a statement, 1 parameter (µs)": lambda r: statement_us(viewed),
            "ingest of 200 new visitors (CPU ms)": lambda r: ingest_cpu_ms(ingested, end, r),
            "Today render (ms)": lambda r: render_ms(viewed, today),
        }
        for r in range(args.rounds):
            for on in (True, False) if r % 2 == 0 else (False, True):
                for name, measure in measures.items():
                    with probe(on, counter):
                        results.setdefault(name, {True: [], False: []})[on].append(measure(r))
                    imports.setdefault(name, {})[on] = counter.count
    print(f"pandas probe: {args.rounds} rounds, alternated; load average {' '.join(f'{x:.1f}' for x in __import__('os').getloadavg())}")
    print(f"{'':40} {'with the probe':>16} {'without':>10} {'saved':>8}   pandas imports searched (with / without)")
    for name, by in results.items():
        on, off = statistics.median(by[True]), statistics.median(by[False])
        print(f"{name:40} {on:16,.1f} {off:10,.1f} {1 - on / off:8.0%}   {imports[name][True]} / {imports[name][False]}")


def hit(end: float, i: int, address: str) -> Hit:
    return Hit(end - 3600 + i * 0.01, "http_req", "GET", f"/p{i % 50}", "", "", 200, 3.0, address, "", "", "",
               USER_AGENT, "", "", "")


def ingest_cpu_ms(kero: Kero, end: float, round_: int) -> float:
    batch = [hit(end, 1 + round_ * 200 + j, f"198.51.{round_ % 250}.{j}") for j in range(200)]
    started = time.process_time()
    kero.ingest(batch)
    return (time.process_time() - started) * 1000


def render_ms(kero: Kero, params: dict[str, list[str]]) -> float:
    started = time.perf_counter()
    answer = respond(kero, "/", params, request_path="/_kero/")
    if answer.status != 200:
        raise SystemExit(f"Today: HTTP {answer.status}")
    return (time.perf_counter() - started) * 1000


if __name__ == "__main__":
    main()
