"""The middleware's async path in process: Django keeps it async in an ASGI stack (no thread
hop), and it records what the sync path records."""

from __future__ import annotations

import functools
import logging
from typing import Any

import pytest
from asgiref.sync import iscoroutinefunction
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest, HttpResponse
from django.test import AsyncClient, Client

from kero_core import Kero
from kero_core.http import PIXEL_GIF
from kero_django.middleware import KeroMiddleware
from tests.conftest import CHROME_UA
from tests.django.conftest import in_thread, run_async

PATHS = ["/", "/hello/world", "/no/such/page", "/boom/", "/nap/5/", "/stream/", "/_kero/", "/favicon.ico"]
FIELDS = ("method", "path", "route", "status", "browser", "os", "form_factor")


def test_middleware_follows_the_stack_it_is_in() -> None:
    async def async_view(request: HttpRequest) -> HttpResponse:
        return HttpResponse()

    assert iscoroutinefunction(KeroMiddleware(async_view))
    assert not iscoroutinefunction(KeroMiddleware(lambda request: HttpResponse()))


@pytest.mark.parametrize(("handler", "adapted"), [(ASGIHandler, "Asynchronous"), (WSGIHandler, "Synchronous")])
def test_django_never_adapts_it(settings: Any, caplog: Any, handler: type, adapted: str) -> None:
    """With DEBUG on, Django logs each adaptation it makes between a middleware and the next one.
    A sync-only middleware in front of all others shows that such a log would appear."""
    settings.DEBUG = True
    sync_only = "tests.django.project.middleware.sync_only"
    settings.MIDDLEWARE = [sync_only, *settings.MIDDLEWARE]
    with caplog.at_level(logging.DEBUG, logger="django.request"):
        handler()
    lines = [r.getMessage() for r in caplog.records]
    assert "KeroMiddleware" not in caplog.text
    if handler is ASGIHandler:  # the sync-only one gets the (async) chain behind it adapted
        assert f"{adapted} handler adapted for middleware {sync_only}." in lines, lines


def record(client: Any, kero: Kero) -> list[tuple[Any, ...]]:
    for path in PATHS:
        get = functools.partial(client.get, path, headers={"User-Agent": CHROME_UA})  # AsyncClient(headers=) misses them
        response = run_async(get()) if isinstance(client, AsyncClient) else in_thread(get)
        if response.streaming:
            if response.is_async:
                async def drain() -> None:
                    async for _ in response.streaming_content:
                        pass
                run_async(drain())
            else:
                b"".join(response.streaming_content)
    events = sorted(kero.query(), key=lambda e: e.path)
    assert all(e.duration_ms is not None and e.visitor_id > 0 for e in events)
    return [tuple(getattr(e, f) for f in FIELDS) for e in events]


def test_async_client_records_what_the_sync_client_records(settings: Any, kero_settings: dict[str, Any], tmp_path: Any) -> None:
    sync = record(Client(raise_request_exception=False), _fresh(settings, kero_settings, tmp_path / "sync"))
    asynchronous = record(AsyncClient(raise_request_exception=False), _fresh(settings, kero_settings, tmp_path / "async"))
    assert asynchronous == sync
    assert [(path, route, status) for _, path, route, status, *_ in sync] == [
        ("/", "", 200), ("/boom/", "boom/", 500), ("/hello/world", "hello/<str:name>", 200),
        ("/nap/5/", "nap/<int:ms>/", 200), ("/no/such/page", "", 404), ("/stream/", "stream/", 200),
    ]


def test_async_pixel(kero: Kero) -> None:
    response = run_async(AsyncClient().get("/visit.gif", headers={"referer": "http://testserver/pricing"}))
    assert response.content == PIXEL_GIF
    assert [e.path for e in kero.query()] == ["/pricing"]


def test_async_duration_of_a_123_ms_view(kero: Kero) -> None:
    run_async(AsyncClient().get("/nap/123/"))
    [event] = kero.query()
    assert event.duration_ms is not None and 123 <= event.duration_ms < 2000


def _fresh(settings: Any, kero_settings: dict[str, Any], db_path: Any) -> Kero:
    from kero_django import get_kero

    settings.KERO = {**kero_settings, "DB_PATH": db_path}
    return get_kero()


def test_async_exception_propagated_by_django_is_recorded_as_500(settings: Any, kero: Kero) -> None:
    settings.DEBUG_PROPAGATE_EXCEPTIONS = True
    with pytest.raises(RuntimeError, match="the host view failed"):
        run_async(AsyncClient().get("/boom/"))
    [event] = kero.query()
    assert (event.path, event.route, event.status) == ("/boom/", "boom/", 500)
