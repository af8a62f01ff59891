"""``KeroMiddleware``: Kero for any WSGI app (tracking, the pixel and the dashboard).

    from kero_core import Kero
    from kero_core.wsgi import KeroMiddleware

    kero = Kero(db_path="./kero", pixel_path="/visit.gif")
    app = KeroMiddleware(app, kero, users={"admin": "secret"})
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable, Iterator, Mapping

from kero_core import own_pages
from kero_core.kero import Kero

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]
AuthCheck = Callable[[Mapping[str, Any]], bool]


class KeroMiddleware:
    """Wrap ``app``: record its requests, serve the pixel and the dashboard.

    ``users`` maps user names to passwords for the dashboard's HTTP Basic auth; ``auth`` is a
    callable ``(environ) -> bool`` deciding instead. With neither, the dashboard answers 403.
    A user with an empty password is a KeroConfigError: it would let anyone in.
    The middleware claims ``db_path`` for the module that created ``kero`` (see
    :mod:`kero_core.app_identity`): a second app on the same folder is refused with a
    KeroConfigError. ``claim=False`` is for readers that serve another app's data (``kero serve``)."""

    def __init__(
        self, app: WSGIApp, kero: Kero, *, users: Mapping[str, str] | None = None, auth: AuthCheck | None = None,
        claim: bool = True,
    ) -> None:
        self.users = own_pages.dashboard_users(kero, users, claim=claim)
        self.app = app
        self.kero = kero
        self.auth = auth

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        if self.kero.rules.is_own(path):
            return self._own(environ, start_response, path)
        # record_request() decides whether the request is tracked; checking here too would
        # only add work to the common case.
        return run_tracked(self.app, environ, start_response, self.kero)

    def _own(self, environ: Environ, start_response: StartResponse, path: str) -> Iterable[bytes]:
        """The pixel, or the dashboard behind its auth (see :mod:`kero_core.own_pages`)."""
        kero = self.kero
        if path == kero.config.pixel_path:
            kero.record_pixel(environ)
            answer = own_pages.PIXEL
        elif own_pages.is_shared_path(kero, path):
            answer = own_pages.READ_ONLY if environ.get("REQUEST_METHOD") not in own_pages.SAFE_METHODS else own_pages.dashboard(
                kero, path, str(environ.get("QUERY_STRING") or ""), (environ.get("SCRIPT_NAME") or "") + path
            )
        else:
            verdict = bool(own_pages.ask_auth(self.auth, environ)) if self.auth is not None else None
            answer = own_pages.denial(self.users, environ.get("HTTP_AUTHORIZATION"), verdict) or own_pages.dashboard(
                kero, path, str(environ.get("QUERY_STRING") or ""), (environ.get("SCRIPT_NAME") or "") + path
            )
        start_response(own_pages.status_line(answer.status), list(answer.headers))
        return [answer.body] if environ.get("REQUEST_METHOD") != "HEAD" else []


def run_tracked(
    app: WSGIApp, environ: Environ, start_response: StartResponse, kero: Kero,
    route: Callable[[Environ], str] | None = None,
) -> Iterable[bytes]:
    """Run ``app`` and record the request once its response has been sent: the status it
    started (500 if it raised, before or while streaming), the time until its body was iterated
    to its end or closed, whichever came first,
    and ``route(environ)``, read when the app starts its response (a framework may keep the
    matched route only while it handles the request, as Flask does) or, if it raised before
    that, once it has raised. For adapters that wrap a WSGI app (Flask)."""
    tracked = _TrackedResponse(environ, start_response, kero, route)
    try:
        tracked.body = app(environ, tracked.start_response)
    except BaseException:
        tracked.finish(500)
        raise
    return tracked


class _TrackedResponse:
    """One tracked request: the ``start_response`` the app is given (noting its status), then
    the app's response body, recording the request once, when the body has been iterated to
    its end or closed (whichever comes first), or when it failed.

    One object with slots rather than two closures over six variables and a body wrapper: this
    runs on every request, and it takes about 5,000 fewer instructions per request (callgrind)."""

    __slots__ = ("body", "_environ", "_start_response", "_kero", "_route", "_started", "_status_line", "_route_seen", "_recorded")

    def __init__(self, environ: Environ, start_response: StartResponse, kero: Kero, route: Callable[[Environ], str] | None) -> None:
        self.body: Iterable[bytes] = ()
        self._environ = environ
        self._start_response = start_response
        self._kero = kero
        self._route = route
        self._status_line = "500"  # stays so if the app raises before starting the response
        self._route_seen: str | None = None
        self._recorded = False
        self._started = time.perf_counter()

    def start_response(self, status_line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        self._status_line = status_line
        if self._route is not None:
            self._route_seen = self._route(self._environ)
        return self._start_response(status_line, headers, exc_info)

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self.body
        except Exception:  # not GeneratorExit: a client that hangs up is not a server error
            self.finish(500)
            raise
        # The whole body has been handed over: record now rather than only at close(), which
        # werkzeug's and Flask's test clients never call (r.data reads the body, nothing closes
        # it), so a user's own test would see no page view. finish() records once.
        self.finish()

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self.finish()

    def finish(self, status: int = 0) -> None:
        """Record the request, once: with ``status``, else the one the app started."""
        if self._recorded:
            return
        self._recorded = True
        duration = (time.perf_counter() - self._started) * 1000.0
        if not status:
            code = self._status_line[:3]
            status = int(code) if code.isdigit() else 0
        route = self._route_seen
        if route is None:
            route = self._route(self._environ) if self._route is not None else ""
        self._kero.record_request(self._environ, status=status, duration_ms=duration, route=route)
