"""Fixtures of the dashboard tests: a Kero on a fake clock, hand-made page views, and the
dashboard served through KeroMiddleware (werkzeug's test client)."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone
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
