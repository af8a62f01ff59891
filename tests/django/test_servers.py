"""Kero under real servers on 127.0.0.1: gunicorn -w 4 (WSGI, pre-fork workers sharing one
folder) and uvicorn (ASGI, the middleware's async path)."""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from kero_core import Kero
from tests.django.servers import ROOT, fetch, server
from tests.django.test_dashboard import basic

FULL = "tests.django.project.settings"
MINIMAL = "tests.django.project.minimal_settings"

# The same visit, sent to both stacks.
VISIT = [
    ("/hello/world?utm_source=news", {"Referer": "https://www.google.com/search?q=kero"}),
    ("/hello/earth", {}),
    ("/", {}),
    ("/favicon.ico", {}),
    ("/static/site.css", {}),
    ("/_kero/", {}),
    ("/visit.gif", {"Referer": "http://127.0.0.1/pricing?utm_campaign=spring"}),
    ("/no/such/page", {}),
    ("/caf%C3%A9", {}),
    ("/boom/", {}),
    ("/slow/", {}),
    ("/nap/123/", {}),
    ("/stream/", {}),
]
COMPARED = ("name", "method", "path", "route", "status", "browser", "os", "form_factor", "is_bot",
            "referrer_domain", "utm_source", "utm_campaign")


def visit(base: str) -> list[int]:
    return [fetch(base + path, **headers)[0] for path, headers in VISIT]


def wait_for_events(db_path: Path, expected: int, timeout: float = 10.0) -> int:
    """Poll the folder the server writes to (as a management command next to it would) until
    its background writer has stored ``expected`` events."""
    deadline = time.monotonic() + timeout
    while True:
        with Kero(db_path=db_path) as kero:
            found = kero.count(name=None)
        if found >= expected or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def stored(db_path: Path) -> list[dict[str, Any]]:
    with Kero(db_path=db_path) as kero:
        events = kero.query()
    for event in events:
        assert event.visitor_id > 0
        assert (event.duration_ms is None) == (event.path == "/pricing")  # a pixel view has no duration
    return sorted(({f: getattr(e, f) for f in COMPARED} | {"duration_ms": e.duration_ms} for e in events), key=lambda e: e["path"])


def test_asgi_under_uvicorn_records_what_wsgi_under_gunicorn_records(tmp_path: Path) -> None:
    runs = {}
    for kind in ("gunicorn", "uvicorn"):
        with server(kind, FULL, tmp_path / kind) as running:
            statuses = visit(running.url)
            # uvicorn re-raises SIGTERM after its shutdown, which skips exit handlers: wait for
            # the writer (at most flush_interval) instead of counting on the final flush.
            assert wait_for_events(tmp_path / kind, 10) == 10
        assert "Traceback" not in running.stderr, running.stderr
        assert statuses == [200, 200, 200, 404, 404, 302, 200, 404, 404, 500, 200, 200, 200]
        runs[kind] = stored(tmp_path / kind)
    wsgi, asgi = runs["gunicorn"], runs["uvicorn"]
    assert [e["path"] for e in asgi] == ["/", "/boom/", "/café", "/hello/earth", "/hello/world", "/nap/123/", "/no/such/page", "/pricing", "/slow/", "/stream/"]
    for event in asgi:
        assert (event["duration_ms"] or 0) >= (123 if event["path"] in ("/slow/", "/nap/123/") else 0)
    without_duration = [{k: v for k, v in e.items() if k != "duration_ms"} for e in wsgi]
    assert [{k: v for k, v in e.items() if k != "duration_ms"} for e in asgi] == without_duration
    assert {e["path"]: (e["route"], e["status"]) for e in asgi}["/nap/123/"] == ("nap/<int:ms>/", 200)


@pytest.mark.alone
def test_uvicorn_serves_slow_async_views_concurrently(tmp_path: Path) -> None:
    """Eight requests to a view awaiting 400 ms finish together: Kero's async path neither
    blocks the event loop nor makes requests wait for each other."""
    with server("uvicorn", FULL, tmp_path / "kero") as running:
        fetch(running.url + "/nap/1/")  # the first request builds Kero in a thread
        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda _: fetch(running.url + "/nap/400/")[0], range(8)))
        elapsed = time.monotonic() - started
        assert wait_for_events(tmp_path / "kero", 9) == 9
    assert statuses == [200] * 8
    assert elapsed < 1.6, f"8 concurrent 400 ms requests took {elapsed:.2f} s"
    with Kero(db_path=tmp_path / "kero") as kero:
        assert kero.count(filters={"route": "nap/<int:ms>/"}) == 9


@pytest.mark.parametrize("preload", [pytest.param(False, marks=pytest.mark.slow), True], ids=["fork-then-import", "preload"])
def test_gunicorn_four_workers_record_exactly_the_requests_sent(tmp_path: Path, preload: bool) -> None:
    """A site without django.contrib.auth (Basic credentials for the dashboard), four workers
    sharing one Kero folder; SIGTERM makes each worker write what it buffered. With --preload
    the master sets Django up before forking: Kero must not have started anything by then."""
    sent = 300
    db_path = tmp_path / "kero"
    with server("gunicorn", MINIMAL, db_path, "-w", "4", *(["--preload"] if preload else [])) as running:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda i: fetch(f"{running.url}/hello/{i % 7}")[0], range(sent)))
        assert fetch(running.url + "/stats/")[0] == 401
        status, body = fetch(running.url + "/stats/", Authorization=basic("admin", "s3cret"))
        assert status == 200 and b"<html" in body.lower()
    assert statuses == [200] * sent
    assert "Traceback" not in running.stderr and "lock" not in running.stderr.lower(), running.stderr
    with Kero(db_path=db_path) as kero:
        assert kero.count() == sent
        assert kero.count(filters={"path": "/hello/3"}) == len([i for i in range(sent) if i % 7 == 3])
        assert kero.top("route", metric="events", limit=1) == [("GET hello/<str:name>", sent)]


LIFESPAN_APP = "tests.django.project.asgi_lifespan:application"


def test_uvicorn_with_lifespan_writes_everything_at_sigterm(tmp_path: Path) -> None:
    """No waiting for the writer here: with_lifespan() closes Kero during uvicorn's shutdown.
    The interval is a minute, so only that final write can have stored the requests."""
    sent, db_path = 40, tmp_path / "kero"
    with server("uvicorn", FULL, db_path, app=LIFESPAN_APP, env={"KERO_TEST_FLUSH_INTERVAL": "60"}) as running:
        statuses = [fetch(f"{running.url}/hello/{i}")[0] for i in range(sent)]
    assert statuses == [200] * sent
    assert "Traceback" not in running.stderr, running.stderr
    with Kero(db_path=db_path) as kero:
        assert kero.count() == sent


def test_gunicorn_uvicorn_workers_with_lifespan(tmp_path: Path) -> None:
    """The usual production ASGI setup: gunicorn managing uvicorn workers."""
    sent, db_path = 100, tmp_path / "kero"
    with server("gunicorn", FULL, db_path, "-w", "2", "-k", "uvicorn.workers.UvicornWorker", app=LIFESPAN_APP,
                env={"KERO_TEST_FLUSH_INTERVAL": "60"}) as running:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda i: fetch(f"{running.url}/nap/{i % 3}/")[0], range(sent)))
    assert statuses == [200] * sent
    assert "Traceback" not in running.stderr, running.stderr
    with Kero(db_path=db_path) as kero:
        assert kero.count() == sent


def test_setting_django_up_starts_nothing(tmp_path: Path) -> None:
    """What a pre-fork master does (gunicorn --preload): import the app, set Django up, run the
    checks. No Kero is built, no thread started, no database file opened."""
    code = (
        "import threading, django; from django.core.wsgi import get_wsgi_application; "
        "from django.core.management import call_command; "
        "application = get_wsgi_application(); call_command('check'); "
        "from kero_django import runtime; "
        "print(runtime.built(), threading.active_count())"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": FULL, "KERO_TEST_DB_PATH": str(tmp_path / "kero")}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.stdout.splitlines()[-1].split() == ["False", "1"], done.stdout + done.stderr
    assert not (tmp_path / "kero" / "kero.duckdb").exists()
