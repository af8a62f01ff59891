"""Recording each request of a Flask app, as a wrap of ``app.wsgi_app``.

Why a WSGI wrap and not ``before_request``/``after_request`` hooks: the hooks see neither the
end of a streamed response (the duration must run until the last byte is sent, which only the
WSGI ``close()`` marks), nor an exception that Flask propagates (debug mode, ``TESTING``, an
error inside another extension's hook), and a ``before_request`` of the host app that returns
early skips hooks registered after it. The wrap sees every request, every status and the whole
response. The one thing only Flask knows, the matched URL rule, is noted in the environ by a
``request_started`` receiver: that signal is sent once Flask has matched the URL and before any
``before_request`` function runs, so no hook of the host app can skip it."""

from __future__ import annotations

from typing import Any, Callable, Iterable

from flask import Flask, request, request_started

from kero_core import Kero as CoreKero
from kero_core.wsgi import run_tracked

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
ROUTE_KEY = "kero.route"


def note_route(sender: Flask, **extra: Any) -> None:
    """Keep the URL rule Flask matched (``/hello/<name>``) for the tracking wrap, which only
    runs once the request context is gone. No rule (404, 405, slash redirect): no route."""
    rule = request.url_rule
    if rule is not None:
        request.environ[ROUTE_KEY] = rule.rule


class TrackingMiddleware:
    """Wraps ``app.wsgi_app``: records the status, duration and route of each request."""

    def __init__(self, app: Flask, kero: CoreKero) -> None:
        self.wsgi_app: WSGIApp = app.wsgi_app
        self.kero = kero
        # A plain function is connected weakly but lives as long as this module.
        request_started.connect(note_route, app)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        # record_request() decides whether the request is tracked (paths, DNT): deciding here as
        # well would only add work to the common case.
        return run_tracked(self.wsgi_app, environ, start_response, self.kero, route=_noted_route)


def _noted_route(environ: dict[str, Any]) -> str:
    return environ.get(ROUTE_KEY, "")
