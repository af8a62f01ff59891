"""A user's own tests: a request made with Flask's or werkzeug's test client is recorded exactly
once, when its body has been read, without closing the response (neither client closes it)."""

from __future__ import annotations

from typing import Any, Callable

from flask import Flask
from werkzeug.test import Client

from kero_core import Kero as CoreKero
from kero_core.wsgi import KeroMiddleware
from tests.flask import hello_site


def count(app: Flask) -> int:
    with app.app_context():
        return hello_site.kero.count()


def test_flask_test_client_records_once_the_body_is_read(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    response = app.test_client().get("/hello/ann")
    assert response.data == b"hello ann"
    assert count(app) == 1
    response.close()  # closing as well does not record it again
    assert count(app) == 1


def test_inside_with_test_client_and_for_a_streamed_response(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    with app.test_client() as client:
        assert client.get("/").data == b"home"
        assert client.get("/stream").data != b""
        assert count(app) == 2
    with app.app_context():
        assert sorted(e.route for e in hello_site.kero.query()) == ["/", "/stream"]


def test_an_unread_body_is_recorded_when_closed(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    response = app.test_client().get("/stream", buffered=False)
    assert count(app) == 0  # nothing sent yet: the request has not ended
    response.close()
    assert count(app) == 1


def test_werkzeug_client_on_the_wsgi_middleware(make_kero: Callable[..., CoreKero]) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hello"]

    kero = make_kero()
    response = Client(KeroMiddleware(app, kero)).get("/")
    assert response.data == b"hello"
    assert kero.count() == 1
