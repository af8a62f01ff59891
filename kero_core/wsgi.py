"""``KeroMiddleware``: Kero for any WSGI app (tracking, the pixel and the dashboard).

    from kero_core import Kero
    from kero_core.wsgi import KeroMiddleware

    kero = Kero(db_path="./kero", pixel_path="/visit.gif")
    app = KeroMiddleware(app, kero, users={"admin": "secret"})
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable, Iterator, Mapping

import logging
from urllib.parse import parse_qs

from kero_core.dashboard import respond
from kero_core.http import PIXEL_GIF, PIXEL_HEADERS, REALM, basic_auth_ok
from kero_core.kero import Kero

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]
AuthCheck = Callable[[Mapping[str, Any]], bool]
log = logging.getLogger("kero")


class KeroMiddleware:
    """Wrap ``app``: record its requests, serve the pixel and the dashboard.

    ``users`` maps user names to passwords for the dashboard's HTTP Basic auth; ``auth`` is a
    callable ``(environ) -> bool`` deciding instead. With neither, the dashboard answers 403."""

    def __init__(self, app: WSGIApp, kero: Kero, *, users: Mapping[str, str] | None = None, auth: AuthCheck | None = None) -> None:
        self.app = app
        self.kero = kero
        self.users = dict(users or {})
        self.auth = auth

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        kero = self.kero
        if kero.rules.is_own(path):
            if path == kero.config.pixel_path:
                kero.record_pixel(environ)
                start_response("200 OK", list(PIXEL_HEADERS))
                return [PIXEL_GIF]
            return self._dashboard(environ, start_response, path)
        # record_request() decides whether the request is tracked; checking here too would
        # only add work to the common case.
        return run_tracked(self.app, environ, start_response, self.kero)

    def _dashboard(self, environ: Environ, start_response: StartResponse, path: str) -> Iterable[bytes]:
        if not self._allowed(environ):
            return _deny(start_response, challenge=bool(self.users) and self.auth is None)
        subpath = path[len(self.kero.config.dashboard_path):]
        query = str(environ.get("QUERY_STRING") or "").encode("latin-1", "replace").decode("utf-8", "replace")
        params = parse_qs(query, keep_blank_values=True)
        request_path = (environ.get("SCRIPT_NAME") or "") + path
        answer = respond(self.kero, subpath, params, request_path=request_path)
        start_response(f"{answer.status} {_REASONS.get(answer.status, 'OK')}", answer.headers)
        return [answer.body] if environ.get("REQUEST_METHOD") != "HEAD" else []

    def _allowed(self, environ: Environ) -> bool:
        if self.auth is not None:
            try:
                return bool(self.auth(environ))
            except Exception:
                log.exception("kero: the dashboard auth callable failed; access refused")
                return False
        return basic_auth_ok(environ.get("HTTP_AUTHORIZATION"), self.users)


def run_tracked(
    app: WSGIApp, environ: Environ, start_response: StartResponse, kero: Kero,
    route: Callable[[Environ], str] | None = None,
) -> Iterable[bytes]:
    """Run ``app`` and record the request once its response has been sent: the status it
    started (500 if it raised, before or while streaming), the time until its body was closed,
    and ``route(environ)`` read at that moment (adapters that know the matched route note it in
    the environ). For adapters that wrap a WSGI app (Flask)."""
    started = time.perf_counter()
    status = [500]  # stays 500 if the app raises before starting the response

    def tracking_start_response(status_line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        status[0] = int(status_line[:3]) if status_line[:3].isdigit() else 0
        return start_response(status_line, headers, exc_info)

    def record(final_status: int | None = None) -> None:
        duration = (time.perf_counter() - started) * 1000.0
        kero.record_request(environ, status=final_status or status[0], duration_ms=duration,
                            route=route(environ) if route is not None else "")

    try:
        body = app(environ, tracking_start_response)
    except BaseException:
        record(500)
        raise
    return _TrackedBody(body, record)


_REASONS = {200: "OK", 308: "Permanent Redirect", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed"}


def _deny(start_response: StartResponse, *, challenge: bool) -> list[bytes]:
    if challenge:
        start_response("401 Unauthorized", [("Content-Type", "text/plain; charset=utf-8"), ("WWW-Authenticate", REALM)])
        return [b"Kero dashboard: log in with the dashboard credentials."]
    start_response("403 Forbidden", [("Content-Type", "text/plain; charset=utf-8")])
    return [b"Kero dashboard: access is not configured (set users= or auth=)."]


class _TrackedBody:
    """The app's response body, recording the request once it has been sent (or failed)."""

    def __init__(self, body: Iterable[bytes], record: Callable[..., None]) -> None:
        self._body = body
        self._record = record
        self._recorded = False

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._body
        except Exception:  # not GeneratorExit: a client that hangs up is not a server error
            self._finish(500)
            raise

    def _finish(self, status: int | None = None) -> None:
        if not self._recorded:
            self._recorded = True
            self._record(status)

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._finish()
