"""The mount point without its slash redirects to the page, keeping the query string (issue 17)."""

from __future__ import annotations

from werkzeug.test import Client

from kero_core.wsgi import KeroMiddleware


def _app(environ, start_response):  # type: ignore[no-untyped-def]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


def test_the_mount_point_redirect_keeps_the_query_string(make_kero) -> None:
    client = Client(KeroMiddleware(_app, make_kero(), users={"admin": "secret"}))
    auth = {"Authorization": "Basic YWRtaW46c2VjcmV0"}
    answer = client.get("/_kero?period=7d&browser=Mobile+Safari", headers=auth)
    assert answer.status_code == 308
    assert answer.headers["Location"] == "_kero/?period=7d&browser=Mobile+Safari"
    assert client.get("/_kero", headers=auth).headers["Location"] == "_kero/"
