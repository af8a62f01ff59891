"""``KeroMiddleware``: records each request of the site, and serves the tracking pixel.

One class for both stacks (``sync_and_async_middleware``): under ASGI it stays a coroutine, so
Django does not push the request through a thread. Recording is a tuple appended to the core's
in-memory buffer (O(1), no I/O, no lock), so it runs directly on the event loop; only the
one-time build of the Kero instance (it creates folders) is sent to a thread.

Place it first in ``MIDDLEWARE``: it records the requests that reach it with the status the
middleware after it return, so first it records what each client received (it works anywhere:
the dashboard is a view, and the pixel needs no other middleware)."""

from __future__ import annotations

import logging
import time
from typing import Any, AsyncIterator, Awaitable, Callable, Iterator

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.utils.decorators import sync_and_async_middleware

from kero_core import Kero
from kero_core.http import PIXEL_GIF, PIXEL_HEADERS
from kero_core.pipeline import watch_signals
from kero_django.conf import APP_NAME
from kero_django.runtime import built, tracker

log = logging.getLogger("kero")
GetResponse = Callable[[HttpRequest], Any]


@sync_and_async_middleware
class KeroMiddleware:
    """Record each request (method, path, route pattern, status, duration) after its response."""

    def __init__(self, get_response: GetResponse) -> None:
        # The Kero is made at the first request; the server loads the app now, on its main
        # thread: the moment to stand in front of its stop signal (see kero_core.shutdown).
        watch_signals()
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self.is_async:
            return self._acall(request)
        kero = tracker()
        if kero is None:
            return self.get_response(request)
        if request.path_info == kero.config.pixel_path:
            return _pixel(kero, request)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
        except BaseException:  # only with DEBUG_PROPAGATE_EXCEPTIONS; Django turns the rest into 500s
            _failed(kero, request, started)
            raise
        return _recorded(kero, request, response, started)

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        kero = tracker() if built() else await sync_to_async(tracker, thread_sensitive=False)()
        if kero is None:
            return await self.get_response(request)
        if request.path_info == kero.config.pixel_path:
            return _pixel(kero, request)
        started = time.perf_counter()
        try:
            response = await self.get_response(request)
        except BaseException:
            _failed(kero, request, started)
            raise
        return _recorded(kero, request, response, started)


def _pixel(kero: Kero, request: HttpRequest) -> HttpResponse:
    kero.record_pixel(request.META)
    return HttpResponse(PIXEL_GIF, headers=PIXEL_HEADERS)


def _since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


def _route(request: HttpRequest) -> str | None:
    """The resolved route pattern ("hello/<str:name>/"), "" when unresolved (a 404), or None
    for Kero's own dashboard, which is never tracked."""
    match = request.resolver_match
    if match is None:
        return ""
    return None if APP_NAME in match.app_names else match.route


def _failed(kero: Kero, request: HttpRequest, started: float) -> None:
    route = _route(request)
    if route is not None:
        kero.record_request(request.META, status=500, duration_ms=_since(started), route=route)


def _recorded(kero: Kero, request: HttpRequest, response: HttpResponseBase, started: float) -> HttpResponseBase:
    """Record the request now, or when a streamed body has been sent."""
    try:
        route = _route(request)
        if route is None:
            return response
        status = response.status_code

        def record(final_status: int | None = None) -> None:
            kero.record_request(request.META, status=final_status or status, duration_ms=_since(started), route=route)

        # A FileResponse keeps the server's sendfile path: it is recorded when its view returns.
        if isinstance(response, StreamingHttpResponse) and not isinstance(response, FileResponse):
            if kero.should_track(request.META):
                _record_at_end(response, record)
        else:
            record()
    except Exception:  # tracking never breaks the response
        log.exception("kero: could not record a request")
    return response


def _record_at_end(response: StreamingHttpResponse, record: Callable[..., None]) -> None:
    """Wrap the body so the request is recorded once it is sent (500 if it fails midway)."""
    content = response.streaming_content
    if response.is_async:

        async def wrapped_async() -> AsyncIterator[Any]:
            status = None
            try:
                async for chunk in content:  # type: ignore[union-attr]
                    yield chunk
            except Exception:
                status = 500
                raise
            finally:
                record(status)

        response.streaming_content = wrapped_async()
    else:

        def wrapped() -> Iterator[Any]:
            status = None
            try:
                yield from content  # type: ignore[misc]
            except Exception:
                status = 500
                raise
            finally:
                record(status)

        response.streaming_content = wrapped()
