"""Worker memory under sustained load: the Flask hello-world with Kero (GeoIP on) under gunicorn,
1 sync worker, driven by wrk for minutes; the worker's RSS and Kero's in-memory buffer are
sampled every few seconds. Prints the RSS after warm-up, at the end, its peak and its growth,
and the largest buffer seen (bounded by ``max_buffer``, 100,000 events by default).

Then the same bound under a stalled writer: ``max_buffer`` events recorded with nobody writing,
then as many more, in one process; the buffer holds ``max_buffer`` and the rest are counted as
dropped.

    python benchmarks/memory.py [--seconds 300] [--quick] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from servers import USER_AGENT, Server, wrk

from kero_core import Kero
from kero_core.capture import hit_from_environ

TARGET_MB = 30.0  # issue 7
STALL_BUFFER = 20_000


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def buffered(server: Server) -> dict[str, int]:
    """The worker's buffer, asked over HTTP (queued behind wrk's requests, so a late sample)."""
    url = server.url.replace("/hello", "/buffered")
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def sustained(seconds: float, every: float, folder: Path) -> None:
    server = Server("flask", "kero", 1, folder / "memory")
    try:
        server.start()
        server.wait_ready()
        wrk(server.url, 5, 4)  # warm-up: imports done, parsers and GeoIP loaded, caches filling
        (worker,) = server.worker_pids()
        samples: list[tuple[float, float, int]] = []  # (seconds into the run, RSS MB, buffered)
        load = threading.Thread(target=lambda: samples.append((-1, 0, wrk(server.url, seconds, 4).requests)))
        started = time.monotonic()
        load.start()
        while load.is_alive():
            samples.append((time.monotonic() - started, rss_mb(worker), buffered(server)["buffered"]))
            load.join(every)
        final = buffered(server)
    finally:
        server.stop()
    requests = next(s[2] for s in samples if s[0] == -1)
    series = [s for s in samples if s[0] >= 0]
    first, last = series[0][1], series[-1][1]
    peak = max(s[1] for s in series)
    print(f"sustained load: wrk -c4 for {seconds:g} s, {requests:,} requests ({requests / seconds:,.0f} req/s), "
          f"gunicorn -w 1, Flask + Kero, GeoIP on")
    print("  RSS samples (MB): " + ", ".join(f"{s[1]:.1f}" for s in series[:: max(1, len(series) // 12)]))
    print(f"  worker RSS: {first:.1f} MB after warm-up, {last:.1f} MB at the end, peak {peak:.1f} MB; "
          f"growth {last - first:+.1f} MB (peak {peak - first:+.1f}; target <= {TARGET_MB:g})")
    print(f"  largest buffer sampled: {max(s[2] for s in series):,} events; dropped: {final['dropped']}")


def stalled_writer(folder: Path) -> None:
    """Twice ``max_buffer`` hits recorded while the writer is held: the buffer stays bounded."""
    kero = Kero(db_path=folder / "stalled", max_buffer=STALL_BUFFER, flush_interval=3600)
    pipeline = kero.pipeline
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "REMOTE_ADDR": "81.2.69.142", "HTTP_USER_AGENT": USER_AGENT}
    pipeline.record(hit_from_environ(environ, 1_790_000_000.0))  # starts the writer thread
    kero.flush()
    with pipeline._write_lock:  # the writer cannot drain while this is held: a stalled disk
        for n in range(2 * STALL_BUFFER):
            pipeline.record(hit_from_environ(environ, 1_790_000_000.0 + n))
        held, dropped = pipeline.buffered, pipeline.dropped
    kero.close()
    print(f"stalled writer: {2 * STALL_BUFFER:,} hits recorded with max_buffer={STALL_BUFFER:,}: "
          f"{held:,} held in memory, {dropped:,} dropped and counted")
    if held != STALL_BUFFER or dropped != STALL_BUFFER:
        raise SystemExit("the buffer is not bounded by max_buffer")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--quick", action="store_true", help="20 s of load instead of 5 minutes")
    parser.add_argument("--smoke", action="store_true", help="a tiny run that checks the script works")
    args = parser.parse_args()
    if args.quick:
        args.seconds = 20
    if args.smoke:
        args.seconds = 2
    with tempfile.TemporaryDirectory() as folder:
        sustained(args.seconds, max(1.0, args.seconds / 60), Path(folder))
        stalled_writer(Path(folder))


if __name__ == "__main__":
    main()
