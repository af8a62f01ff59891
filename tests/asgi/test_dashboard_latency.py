"""A dashboard over a large database renders off the event loop: under a real uvicorn, no tracked
request waits for a render. Default run: 200,000 events; `make test-slow`: 1,000,000 (the
issue's figure; seeding takes a minute or two on two cores).

Latency is measured by the client, sequential requests on one keep-alive connection, first with
nothing else running, then while another client keeps the dashboard rendering (a render must
overlap the measured window). What is asserted: the slowest tracked request took less than a
quarter of a render (rendered on the event loop, some request would wait for a whole render).
What is printed, not asserted: the p50 and p99 side by side. The issue's target, p99 within
+5 ms of the quiet p99, is not met: the render's thread competes for the GIL with the loop's
(measured +8 to +9 ms at 200,000 events on this shared 2-core machine; see docs/asgi.md)."""

from __future__ import annotations

import base64
import http.client
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.asgi.servers import serve

REQUESTS = 400
DASHBOARD = "/_kero/?period=30d"


def seed(folder: Path, events: int) -> None:
    kero_cli = Path(sys.executable).with_name("kero")
    subprocess.run([str(kero_cli), "seed", "--db", str(folder), "--events", str(events), "--days", "30"],
                   check=True, capture_output=True, timeout=900)


def latencies(host: str, port: int, n: int) -> list[float]:
    """Milliseconds per request of ``n`` tracked GETs, one after the other, on one connection."""
    connection = http.client.HTTPConnection(host, port, timeout=30)
    times = []
    try:
        for i in range(n):
            started = time.perf_counter()
            connection.request("GET", f"/page/{i}", headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"})
            response = connection.getresponse()
            response.read()
            times.append((time.perf_counter() - started) * 1000)
            assert response.status == 200
    finally:
        connection.close()
    return times


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def check(tmp_path: Path, events: int) -> None:
    seed(tmp_path / "kero", events)
    authorization = "Basic " + base64.b64encode(b"admin:secret").decode()
    with serve("uvicorn", "tests.asgi.sites:plain_app", tmp_path, {"KERO_TEST_USERS": "admin:secret"}) as server:
        host, port = "127.0.0.1", int(server.url.rsplit(":", 1)[1])
        latencies(host, port, 50)  # warm-up
        quiet = latencies(host, port, REQUESTS)
        renders: list[tuple[float, float, int]] = []
        stop = threading.Event()

        def render() -> None:
            connection = http.client.HTTPConnection(host, port, timeout=120)
            while not stop.is_set():
                started = time.perf_counter()
                connection.request("GET", DASHBOARD, headers={"Authorization": authorization})
                response = connection.getresponse()
                response.read()
                renders.append((started, time.perf_counter(), response.status))
            connection.close()

        renderer = threading.Thread(target=render)
        renderer.start()
        time.sleep(0.5)  # the first render is under way
        window = time.perf_counter()
        busy = latencies(host, port, REQUESTS)
        window_end = time.perf_counter()
        stop.set()
        renderer.join(180)
    overlapping = [r for r in renders if r[0] < window_end and r[1] > window]
    render_ms = statistics.median((r[1] - r[0]) * 1000 for r in renders)
    print(f"\n[{events:,} events] quiet p50 {statistics.median(quiet):.2f} ms p99 {p99(quiet):.2f} ms; "
          f"while rendering p50 {statistics.median(busy):.2f} ms p99 {p99(busy):.2f} ms; "
          f"{len(renders)} renders, median {render_ms:.0f} ms")
    assert {r[2] for r in renders} == {200}
    assert overlapping, "no render overlapped the measured requests"
    assert max(busy) < render_ms / 4, f"a tracked request took {max(busy):.0f} ms during {render_ms:.0f} ms renders"


def test_no_tracked_request_waits_for_a_dashboard_render(tmp_path: Path) -> None:
    check(tmp_path, 200_000)


@pytest.mark.slow
def test_the_same_over_a_million_events(tmp_path: Path) -> None:
    check(tmp_path, 1_000_000)
