"""Fixtures of the dashboard tests: a Kero on a fake clock, hand-made page views, the dashboard
served through KeroMiddleware (werkzeug's test client), and folders seeded once per module."""

from __future__ import annotations

import base64
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs

import pytest
from werkzeug.test import Client, TestResponse

from kero_core import Kero
from kero_core.capture import Hit, hit_from_environ
from kero_core.dashboard import DashboardResponse, respond
from kero_core.wsgi import KeroMiddleware
from tests.conftest import FakeClock, environ

NOW = datetime(2026, 11, 10, 12, 0, tzinfo=timezone.utc)
ADMIN = {"Authorization": "Basic " + base64.b64encode(b"admin:secret").decode()}


@pytest.fixture
def kero(make_kero: Callable[..., Kero], clock: FakeClock) -> Kero:
    return make_kero(clock=clock, measure_requests=True, retention=400)


def at(minutes: float = 0, *, hours: float = 0, days: float = 0) -> float:
    """Unix seconds at NOW plus an offset (negative: the past)."""
    return (NOW + timedelta(minutes=minutes, hours=hours, days=days)).timestamp()


def view_hit(ts: float, path: str = "/", *, ip: str = "81.2.69.142", status: int = 200,
             duration_ms: float | None = 20.0, route: str = "", **headers: Any) -> Hit:
    """A page view as the middleware would capture it; ``ip`` tells visitors apart."""
    return hit_from_environ(environ(path, REMOTE_ADDR=ip, **headers), ts, status=status,
                            duration_ms=duration_ms, route=route)


def ingest(kero: Kero, hits: Iterable[Hit]) -> None:
    kero.ingest(list(hits))


def call(kero: Kero, subpath: str = "/", query: str = "") -> DashboardResponse:
    return respond(kero, subpath, parse_qs(query, keep_blank_values=True), request_path="/_kero" + subpath)


def site(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


@pytest.fixture
def client(kero: Kero) -> Client:
    return Client(KeroMiddleware(site, kero, users={"admin": "secret"}))


def get(client: Client, url: str, **headers: str) -> TestResponse:
    return client.get(url, headers={**ADMIN, **headers})


def seed_once(factory: pytest.TempPathFactory, options: dict[str, Any], *batches: list[Hit]) -> Path:
    """A database folder holding ``batches``, ingested in turn by a Kero with ``options`` (an
    ingest rolls every past day up): built by a module-scoped fixture, opened by each test as
    :func:`open_copy`, since most of them change it."""
    folder = factory.mktemp("seeded") / "kero"
    with Kero(db_path=folder, **options) as kero:
        for batch in batches:
            kero.ingest(batch)
    return folder


def open_copy(make_kero: Callable[..., Kero], seeded: Path, tmp_path: Path, options: dict[str, Any]) -> Kero:
    """This test's own copy of a :func:`seed_once` folder, opened with the same ``options``."""
    shutil.copytree(seeded, tmp_path / "kero")
    return make_kero(db_path=tmp_path / "kero", **options)
