"""ASGI request overhead of Kero, in two parts, each printing medians side by side in one run.

1. In-process: a bare ASGI app and FastAPI hello-world, each bare vs wrapped by KeroMiddleware
   (and FastAPI with a pass-through middleware, what FastAPI adds per middleware, and with
   prometheus-fastapi-instrumentator, the peer), called on one asyncio loop in
   a tight loop, the variants taking turns every 200 requests over several rounds. Time per
   request by the wall clock and by the thread's CPU time (``time.thread_time``); the writer is
   drained between rounds, outside the timed part. Every tracked request must be stored.
2. Over HTTP: the FastAPI hello-world under ``uvicorn`` (1 worker) on 127.0.0.1, bare, with Kero
   and with the peer, side by side, driven by wrk in turn (order rotated each round); throughput
   and the ratio to bare (medians of per-round ratios), and the worker's CPU per request, split
   into its event loop's thread (the request path) and its other threads (Kero's writer, DuckDB's
   threads: what one worker pays beside the requests). Then each server is stopped with SIGTERM
   and Kero's count must equal every request wrk completed (plus a few wrk sent but no longer
   counted when it stopped).

``--before DIR`` adds, in both parts, Kero as found in DIR (e.g. ``git archive main`` unpacked):
in-process its ``KeroMiddleware`` takes turns with this checkout's in the same loop, over HTTP a
fourth uvicorn serves it; before and after are measured side by side.

    python benchmarks/asgi_overhead.py [--requests 4000] [--rounds 15] [--seconds 3] [--http-rounds 9] [--before DIR] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from servers import APPS, USER_AGENT, free_port, wrk

from kero_core import Kero
from kero_core.asgi import KeroMiddleware
from kero_core.pipeline import WAKE_AT

TARGET_US = 20.0
TURN = 200
SCOPE: dict[str, Any] = {
    "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
    "path": "/hello/world", "raw_path": b"/hello/world", "query_string": b"utm_source=news", "root_path": "",
    "client": ("81.2.69.142", 50000), "server": ("127.0.0.1", 8000),
    "headers": [(b"host", b"example.com"), (b"user-agent", USER_AGENT.encode()), (b"accept-language", b"en-GB,en;q=0.9"),
                (b"accept-encoding", b"gzip, br"), (b"referer", b"https://www.google.com/"), (b"x-forwarded-for", b"203.0.113.9")],
}


async def bare_asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"hello"})


async def receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def send(message: dict[str, Any]) -> None:
    return None


async def per_request(app: Any, n: int) -> tuple[float, float]:
    """µs per request (wall, thread CPU) of ``n`` requests through ``app``."""
    started, cpu = time.perf_counter(), time.thread_time()
    for _ in range(n):
        await app(dict(SCOPE), receive, send)  # a server makes a fresh scope per request
    return (time.perf_counter() - started) / n * 1e6, (time.thread_time() - cpu) / n * 1e6


class PassThrough:
    """An ASGI middleware that does nothing: FastAPI wraps every added middleware (its own
    telemetry hooks among others), a cost any middleware pays on top of its own work."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


def kero_from(folder: str) -> tuple[Any, Any]:
    """``Kero`` and ``KeroMiddleware`` of the kero_core found in ``folder``, imported beside this
    checkout's: its modules are imported afresh, then set aside so this checkout's stay in use
    (its functions keep their own modules' globals)."""
    def ours() -> dict[str, Any]:
        return {n: m for n, m in sys.modules.items() if n == "kero_core" or n.startswith("kero_core.")}

    saved = ours()
    for name in saved:
        del sys.modules[name]
    sys.path.insert(0, folder)
    try:
        import kero_core.asgi

        return kero_core.Kero, kero_core.asgi.KeroMiddleware
    finally:
        sys.path.remove(folder)
        for name in ours():
            del sys.modules[name]
        sys.modules.update(saved)


def fastapi_app(variant: str, kero: Any = None, middleware: Any = KeroMiddleware) -> Any:
    from fastapi import FastAPI
    from fastapi.responses import PlainTextResponse

    app = FastAPI()

    async def hello(name: str) -> PlainTextResponse:  # async: all of it runs on the timed thread
        return PlainTextResponse(f"Hello, {name}!")

    app.add_api_route("/hello/{name}", hello)
    if variant in ("kero", "before"):
        app.add_middleware(middleware, kero=kero)
    elif variant == "noop":  # what FastAPI costs per added middleware, whatever it does
        app.add_middleware(PassThrough)
    elif variant == "peer":
        from prometheus_fastapi_instrumentator import Instrumentator

        Instrumentator().instrument(app)
    return app


async def in_process(name: str, apps: dict[str, Any], keros: list[Any], requests: int, rounds: int) -> None:
    labels = list(apps)
    times: dict[str, list[tuple[float, float]]] = {label: [] for label in labels}
    for r in range(rounds):
        sums = {label: [0.0, 0.0] for label in labels}
        for turn, start in enumerate(range(0, requests, TURN)):
            n = min(TURN, requests - start)
            k = (r + turn) % len(labels)
            for label in labels[k:] + labels[:k]:
                wall, cpu = await per_request(apps[label], n)
                sums[label][0] += wall * n
                sums[label][1] += cpu * n
        for label in labels:
            times[label].append((sums[label][0] / requests, sums[label][1] / requests))
        for kero in keros:  # outside the timed part: the writer's work is not the request's
            await asyncio.to_thread(kero.flush)
    print(f"{name}: {requests} requests x {rounds} rounds, in turns of {TURN}")
    for label in labels:
        wall = statistics.median(t[0] for t in times[label])
        cpu = statistics.median(t[1] for t in times[label])
        added = statistics.median(t[1] - b[1] for t, b in zip(times[label], times["bare"]))
        extra = "" if label == "bare" else f", added {added:6.2f} µs CPU/request (median of per-round differences)"
        print(f"  {label:10s} wall {wall:7.2f} µs, thread CPU {cpu:7.2f} µs{extra}")
    stored, expected = [kero.count() for kero in keros], requests * rounds
    print(f"  events stored: {' and '.join(map(str, stored))} (expected {expected} each; target added <= {TARGET_US:g} µs)")
    if set(stored) != {expected}:
        raise SystemExit("not every tracked request was stored")


class Uvicorn:
    """``uvicorn fastapi_app:app`` (1 worker) in one variant, on a free 127.0.0.1 port."""

    def __init__(self, variant: str, data: Path, before: str | None = None) -> None:
        self.variant, self.data, self.port = variant, data, free_port()
        data.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "KERO_BENCH_VARIANT": "kero" if variant == "before" else variant, "KERO_BENCH_DATA": str(data)}
        if variant == "before":  # the kero packages of ``before`` ahead of this checkout's
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [before, env.get("PYTHONPATH")]))
        self.process = subprocess.Popen(
            [str(Path(sys.executable).with_name("uvicorn")), "--host", "127.0.0.1", "--port", str(self.port),
             "--no-access-log", "--log-level", "warning", "fastapi_app:app"],
            cwd=APPS, env=env, stdout=subprocess.DEVNULL, stderr=open(data / "server.log", "wb"), start_new_session=True)
        self.probes = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hello/world"

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url, timeout=5).read()
                self.probes += 1
                return
            except OSError:
                time.sleep(0.2)
        raise SystemExit(f"{self.variant}: uvicorn did not start")

    def cpu_seconds(self) -> tuple[float, float]:
        """CPU seconds of the whole process and of its main thread (the event loop's: the
        request path), so the rest is the other threads' (Kero's writer, DuckDB's)."""
        def of(stat: str) -> float:
            fields = Path(stat).read_text().rpartition(")")[2].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

        pid = self.process.pid
        return of(f"/proc/{pid}/stat"), of(f"/proc/{pid}/task/{pid}/stat")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)


def over_http(seconds: float, rounds: int, folder: Path, before: str | None) -> None:
    variants = ["bare", "kero"] + (["before"] if before else []) + ["peer"]
    servers = [Uvicorn(v, folder / v, before) for v in variants]
    rates: dict[str, list[float]] = {s.variant: [] for s in servers}
    cpu: dict[str, list[float]] = {s.variant: [] for s in servers}
    loop_cpu: dict[str, list[float]] = {s.variant: [] for s in servers}
    sent = {s.variant: 0 for s in servers}
    connections = 8
    try:
        for server in servers:
            server.wait_ready()
        for server in servers:  # warm-up
            sent[server.variant] += wrk(server.url, 1, connections).requests
        for r in range(rounds):
            k = r % len(servers)
            for server in servers[k:] + servers[:k]:
                (total, loop) = server.cpu_seconds()
                load = wrk(server.url, seconds, connections)
                if load.errors:
                    raise SystemExit(f"{server.variant}: {load.errors}")
                rates[server.variant].append(load.rate)
                (total_after, loop_after) = server.cpu_seconds()
                cpu[server.variant].append((total_after - total) / load.requests * 1e6)
                loop_cpu[server.variant].append((loop_after - loop) / load.requests * 1e6)
                sent[server.variant] += load.requests
    finally:
        for server in servers:
            server.stop()
    print(f"FastAPI hello-world under uvicorn (1 worker), wrk -c{connections} {seconds:g} s x {rounds} rounds, alternated")
    for variant in rates:
        ratio = statistics.median(x / b for x, b in zip(rates[variant], rates["bare"]))
        print(f"  {variant:6s} {statistics.median(rates[variant]):8.0f} requests/s, worker CPU "
              f"{statistics.median(cpu[variant]):6.0f} µs/request (event loop's thread "
              f"{statistics.median(loop_cpu[variant]):4.0f}, other threads "
              f"{statistics.median(c - lc for c, lc in zip(cpu[variant], loop_cpu[variant])):4.0f}), / bare: {ratio:.3f}")
    for server in servers:
        if server.variant in ("kero", "before"):
            with Kero(db_path=server.data / "kero") as reader:
                stored = reader.count()
            expected = sent[server.variant] + server.probes
            print(f"  {server.variant} stored {stored} of {expected} completed "
                  f"(+ up to {connections * (rounds + 1)} sent but not counted by wrk)")
            if not expected <= stored <= expected + connections * (rounds + 1):
                raise SystemExit("Kero did not store every request")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4_000, help=f"per round, below {WAKE_AT}")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--http-rounds", type=int, default=9)
    parser.add_argument("--before", metavar="DIR", help="also measure the kero packages found in DIR")
    parser.add_argument("--smoke", action="store_true", help="a tiny run that checks the script works")
    args = parser.parse_args()
    if args.smoke:
        args.requests, args.rounds, args.seconds, args.http_rounds = 200, 2, 1, 1
    before = args.before and str(Path(args.before).resolve())
    BeforeKero, BeforeMiddleware = kero_from(before) if before else (None, None)
    print(f"load average {os.getloadavg()[0]:.1f} at the start")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for part in ("asgi", "fastapi"):
            kero = Kero(db_path=folder / part, measure_requests=True, flush_interval=3600)
            keros = [kero] + ([BeforeKero(db_path=folder / f"{part}-before", measure_requests=True, flush_interval=3600)] if before else [])
            if part == "asgi":
                apps = {"bare": bare_asgi, "kero": KeroMiddleware(bare_asgi, kero)}
                if before:
                    apps["before"] = BeforeMiddleware(bare_asgi, keros[1])
                title = "bare ASGI app vs KeroMiddleware"
            else:
                variants = ["bare", "noop", "kero"] + (["before"] if before else []) + ["peer"]
                apps = {v: fastapi_app(v, keros[-1] if v == "before" else kero, BeforeMiddleware if v == "before" else KeroMiddleware)
                        for v in variants}
                title = "FastAPI hello-world: bare, a pass-through middleware, Kero, prometheus-fastapi-instrumentator"
            asyncio.run(in_process(title, apps, keros, args.requests, args.rounds))
            for each in keros:
                each.close()
            print(f"load average {os.getloadavg()[0]:.1f}")
        if args.http_rounds:  # 0: the in-process part only
            over_http(args.seconds, args.http_rounds, folder / "http", before)
            print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
