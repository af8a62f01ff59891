"""The Routes card's "last release" panel: each route's p95 in the 24 hours after the latest
release and in the 24 hours before it, served over real HTTP (a server on 127.0.0.1), checked
against quantiles computed here from the durations the test recorded."""

from __future__ import annotations

import json
import statistics
import threading
import urllib.request
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from werkzeug.serving import make_server

from kero_core import Kero
from kero_core.wsgi import KeroMiddleware
from tests.conftest import FakeClock
from tests.dashboard.conftest import ADMIN, at, ingest, site, view_hit
from tests.dashboard.html import parse

BEFORE = {"/a": [10.0, 12.0, 14.0, 90.0], "/b": [30.0, 31.0]}
AFTER = {"/a": [40.0, 45.0, 50.0, 200.0], "/c": [5.0]}  # /b not requested since; /c new


@contextmanager
def served(kero: Kero) -> Iterator[str]:
    """The dashboard's origin, served by a real HTTP server until the block ends."""
    httpd = make_server("127.0.0.1", 0, KeroMiddleware(site, kero, users={"admin": "secret"}), threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, name="release-routes-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def fetch(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(urllib.request.Request(url, headers=ADMIN), timeout=30) as answer:
        return answer.status, answer.read().decode()


def p95(values: list[float]) -> float:
    """Linear interpolation between the two closest ranks, as quantile_cont() does."""
    return statistics.quantiles(values, n=100, method="inclusive")[94] if len(values) > 1 else values[0]


def hits(durations: dict[str, list[float]], start: float) -> list[Any]:
    return [view_hit(start + 60 * i, path, route=path, duration_ms=ms, ip=f"81.2.69.{i + 1}")
            for path, values in durations.items() for i, ms in enumerate(values)]


def released(make_kero: Callable[..., Kero], clock: FakeClock) -> Kero:
    """Requests before a release at NOW - 3 h (one of them older than the 24 hours compared),
    the release noted as the app starts, requests after it; the clock then at NOW."""
    kero = make_kero(clock=clock, measure_requests=True)
    ingest(kero, hits(BEFORE, at(hours=-6)) + [view_hit(at(hours=-30), "/a", route="/a", duration_ms=5000.0)])
    kero.close()
    clock.now = at(hours=-3)
    kero = make_kero(clock=clock, measure_requests=True, release="v1.4")
    kero.count()  # its first session notes the release
    ingest(kero, hits(AFTER, at(hours=-2)))
    clock.now = at()
    return kero


def test_routes_before_and_after_the_latest_release_over_http(make_kero: Callable[..., Kero], clock: FakeClock) -> None:
    kero = released(make_kero, clock)
    with served(kero) as origin:
        status, body = fetch(origin + "/_kero/api/stats?period=today")
        assert status == 200
        card = next(c for c in json.loads(body)["cards"] if c["id"] == "release_routes")
        status, page = fetch(origin + "/_kero/?period=today")
    assert card["title"] == "Release v1.4" and card["columns"] == ["p95 after", "p95 before"]
    assert [(row["label"], *row["values"]) for row in card["rows"]] == [
        ("GET /a", p95(AFTER["/a"]), p95(BEFORE["/a"])), ("GET /c", 5.0, None)]  # slowest after first
    assert card["rows"][0]["filters"] == {"route": "/a", "method": "GET"}
    panel = parse(page.encode()).find("section", id="panel-release_routes")
    assert panel is not None and panel.find("h3").text() == "Release v1.4"


def test_no_release_no_panel_and_its_list_is_empty(make_kero: Callable[..., Kero], clock: FakeClock) -> None:
    kero = make_kero(clock=clock, measure_requests=True)
    kero.annotate("Newsletter sent", at=at(hours=-1))  # a note, not a release
    ingest(kero, hits(AFTER, at(hours=-2)))
    with served(kero) as origin:
        cards = json.loads(fetch(origin + "/_kero/api/stats?period=today")[1])["cards"]
        status, body = fetch(origin + "/_kero/?period=today&show=release_routes&partial=modal")
    assert "release_routes" not in [c["id"] for c in cards]
    assert status == 200
    modal = parse(body.encode()).find("dialog")
    assert modal.find("h2").text().startswith("Last release") and "Nothing in this period." in modal.text()
