"""Recording each request of a Flask app, as a wrap of ``app.wsgi_app``.

Why a WSGI wrap and not ``before_request``/``after_request`` hooks: the hooks see neither the
end of a streamed response (the duration must run until the last byte is sent, which only the
WSGI ``close()`` marks), nor an exception that Flask propagates (debug mode, ``TESTING``, an
error inside another extension's hook), and a ``before_request`` of the host app that returns
early skips hooks registered after it. The wrap sees every request, every status and the whole
response. The one thing only Flask knows, the matched URL rule, Flask keeps on its request
object, which werkzeug leaves in the environ (``werkzeug.request``) until Flask pops the request
context: the wrap reads it when Flask starts the response, which it does before popping. A
``got_request_exception`` receiver notes it for an exception that Flask propagates instead of
answering (``PROPAGATE_EXCEPTIONS``, debug mode), the one case without a response; it runs only
then. A ``request_started`` receiver, run for every request, cost two thirds as much as all the
rest of the tracking: blinker's dispatch and two ``flask.request`` lookups, about 28,000
instructions per request (callgrind) where reading the rule from the environ takes a few hundred."""

from __future__ import annotations

from typing import Any, Callable, Iterable

from flask import Flask, got_request_exception, has_request_context, request

from kero_core import Kero as CoreKero
from kero_core.wsgi import run_tracked

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
ROUTE_KEY = "kero.route"


def note_route(sender: Flask, **extra: Any) -> None:
    """Keep the URL rule of a request whose exception Flask is about to propagate: the wrap only
    sees the exception once the request context, and with it the rule, is gone."""
    if has_request_context() and request.url_rule is not None:
        request.environ[ROUTE_KEY] = request.url_rule.rule


class TrackingMiddleware:
    """Wraps ``app.wsgi_app``: records the status, duration and route of each request."""

    def __init__(self, app: Flask, kero: CoreKero) -> None:
        self.wsgi_app: WSGIApp = app.wsgi_app
        self.kero = kero
        self.url_map = app.url_map
        # A plain function is connected weakly but lives as long as this module.
        got_request_exception.connect(note_route, app)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        # record_request() decides whether the request is tracked (paths, DNT): deciding here as
        # well would only add work to the common case.
        return run_tracked(self.wsgi_app, environ, start_response, self.kero, route=self.route)

    def route(self, environ: dict[str, Any]) -> str:
        """The URL rule Flask matched for this request (``/hello/<name>``), read while Flask
        starts the response; no rule (404, 405, slash redirect): no route. The rule must be
        one of this app's: an app that hands the same environ on to another Flask app leaves
        that app's request object there. Once the request context is gone, only the rule noted
        for a propagated exception is left."""
        rule = getattr(environ.get("werkzeug.request"), "url_rule", None)
        if rule is None:
            return environ.get(ROUTE_KEY, "")
        return rule.rule if rule.map is self.url_map else ""
