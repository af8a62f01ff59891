"""Worker memory under sustained load: the Flask hello-world with Kero (GeoIP on) under gunicorn,
1 sync worker, driven by wrk for minutes. The worker's memory is read from ``/proc`` every
``TICK`` seconds, split into anonymous memory (what the process allocates) and file-backed pages
(mapped code, shared with other processes and reclaimable), together with whether a DuckDB
session is open (the worker holds the database file open only inside one). Prints the start-up
RSS, the RSS when the load starts and after the worker's first DuckDB session, the growth over
the whole run and after that session, the peak, and the largest buffer seen (bounded by
``max_buffer``, 100,000 events by default).

Then the same bound under a stalled writer: ``max_buffer`` events recorded with nobody writing,
then as many more, in one process; the buffer holds ``max_buffer`` and the rest are counted as
dropped.

    python benchmarks/memory.py [--seconds 300] [--quick] [--smoke]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from servers import USER_AGENT, Server, children, wrk

from kero_core import Kero
from kero_core.capture import hit_from_environ
from kero_core.store import DB_FILE

TARGET_MB = 30.0  # issue 7
STALL_BUFFER = 20_000
TICK = 0.25  # seconds between two reads of the worker's memory: an ingest session lasts ~0.1-0.5 s
# DuckDB's compiled library: the worker touches much of its code only in its first session.
DUCKDB_LIBRARY = importlib.util.find_spec("_duckdb").origin  # type: ignore[union-attr]


@dataclass(frozen=True)
class Memory:
    """One reading of a process's resident memory, in MB."""

    rss: float
    anon: float  # private allocations: Python objects, caches, DuckDB's buffers
    file: float  # pages of mapped files (mostly libraries' code): shared, clean, reclaimable

    def __sub__(self, other: Memory) -> Memory:
        return Memory(self.rss - other.rss, self.anon - other.anon, self.file - other.file)

    def growth(self) -> str:
        return f"{self.rss:+.1f} MB (anonymous {self.anon:+.1f}, file-backed {self.file:+.1f})"


@dataclass(frozen=True)
class Sample:
    seconds: float  # into the run
    memory: Memory
    stored: bool  # the database file exists: the first session has begun
    in_session: bool  # the worker had the DuckDB file open


def memory_of(pid: int) -> Memory:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
            fields[name] = int(value.split()[0]) / 1024
    return Memory(fields["VmRSS"], fields["RssAnon"], fields["RssFile"] + fields["RssShmem"])


def library_mb(pid: int, library: str = DUCKDB_LIBRARY) -> float:
    """Resident pages of ``library``'s mappings in ``pid``: how much of its code has been used."""
    total, inside = 0, False
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if "-" in head[0] and not head[0].endswith(":"):  # a mapping's header line
            inside = head[-1] == library
        elif inside and head[0] == "Rss:":
            total += int(head[1])
    return total / 1024


def in_session(pid: int, db_file: Path) -> bool:
    """Whether ``pid`` has the DuckDB file open, i.e. is inside a session."""
    fds = Path(f"/proc/{pid}/fd")
    for fd in fds.iterdir():
        try:
            if os.readlink(fd) == str(db_file):
                return True
        except OSError:  # closed while we looked
            continue
    return False


def buffered(server: Server) -> dict[str, int]:
    """The worker's buffer, asked over HTTP (queued behind wrk's requests, so a late sample)."""
    url = server.url.replace("/hello", "/buffered")
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def watch(server: Server, worker: int, seconds: float, every: float) -> tuple[int, list[Sample], int]:
    """Load the server for ``seconds`` and read the worker's memory meanwhile; returns the
    requests wrk made, the samples, and the largest buffer asked for every ``every`` seconds."""
    db_file = server.data / "kero" / DB_FILE
    done: list[int] = []
    load = threading.Thread(target=lambda: done.append(wrk(server.url, seconds, 4).requests))
    samples: list[Sample] = []
    largest, next_ask = 0, 0.0
    started = time.monotonic()
    load.start()
    while load.is_alive():
        now = time.monotonic() - started
        samples.append(Sample(now, memory_of(worker), db_file.exists(), in_session(worker, db_file)))
        if now >= next_ask:
            largest, next_ask = max(largest, buffered(server)["buffered"]), now + every
        load.join(TICK)
    return done[0], samples, largest


def sustained(seconds: float, every: float, folder: Path) -> None:
    server = Server("flask", "kero", 1, folder / "memory")
    try:
        server.start()
        server.wait_ready()
        (worker,) = server.worker_pids()
        start_up, library_start = memory_of(worker), library_mb(worker)  # app imported, writer started
        wrk(server.url, 5, 4)  # warm-up: parsers and GeoIP loaded, caches filling
        requests, samples, largest = watch(server, worker, seconds, every)
        library_end = library_mb(worker)
        writers = [memory_of(pid) for pid in children(worker)]  # Kero's writer process
        dropped = buffered(server)["dropped"]
    finally:
        server.stop()
    print(f"sustained load: wrk -c4 for {seconds:g} s, {requests:,} requests ({requests / seconds:,.0f} req/s), "
          f"gunicorn -w 1, Flask + Kero, GeoIP on")
    report(start_up, samples)
    print(f"  DuckDB's library ({Path(DUCKDB_LIBRARY).name}) resident: {library_start:.1f} MB at start-up, "
          f"{library_end:.1f} MB at the end (code paged in on first use, shared with other processes)")
    print(f"  largest buffer sampled: {largest:,} events; dropped: {dropped}")
    for writer in writers:
        print(f"  writer process RSS at the end: {writer.rss:.1f} MB (anonymous {writer.anon:.1f}, "
              f"file-backed {writer.file:.1f}: mostly the same libraries' pages as the worker's)")


def report(start_up: Memory, samples: list[Sample]) -> None:
    """The RSS at start-up, when the load starts, after the first DuckDB session and at the end;
    the growth between them, split into anonymous and file-backed memory; the peak."""
    load_start, end = samples[0].memory, samples[-1].memory
    peak = max(samples, key=lambda s: s.memory.rss)
    where = "inside a DuckDB session" if peak.in_session else "outside DuckDB sessions"
    print(f"  worker RSS: {start_up.rss:.1f} MB at start-up, {load_start.rss:.1f} MB when the load starts, "
          f"{end.rss:.1f} MB at the end; peak {peak.memory.rss:.1f} MB at {peak.seconds:.1f} s ({where}), "
          f"{peak.memory.rss - load_start.rss:+.1f} MB over the load start")
    print(f"  growth since start-up: {(end - start_up).growth()}")
    print(f"  growth over the run: {(end - load_start).growth()} (target <= {TARGET_MB:g} MB)")
    after = next((s for s in samples if s.stored and not s.in_session), None)
    if after is None:
        print("  growth after the first DuckDB session: none ended during the run")
    else:
        print(f"  growth after the first DuckDB session (RSS {after.memory.rss:.1f} MB at {after.seconds:.1f} s): "
              f"{(end - after.memory).growth()}")
    step = max(1, len(samples) // 12)
    print(f"  RSS samples (MB, about every {step * TICK:g} s): " + ", ".join(f"{s.memory.rss:.1f}" for s in samples[::step]))


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
