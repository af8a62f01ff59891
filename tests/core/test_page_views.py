"""Page views through the WSGI middleware under a real server: GET and HEAD are page views, a
form's POST and an API's PUT only count in the routes and status cards (tests/page_views.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable

from kero_core import Kero
from kero_core.wsgi import KeroMiddleware
from tests.page_views import assert_form_and_api_counted, visit_form_and_api


def site(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if environ["REQUEST_METHOD"] == "POST":
        start_response("303 See Other", [("Location", "/thanks")])
        return [b""]
    if environ["REQUEST_METHOD"] == "PUT":
        start_response("204 No Content", [])
        return [b""]
    start_response("200 OK", [("Content-Type", "text/html")])
    return [b"<p>hello</p>"]


def test_only_get_and_head_are_page_views(tmp_path: Path) -> None:
    db_path = tmp_path / "kero"
    with Kero(db_path=db_path) as kero:
        visit_form_and_api(KeroMiddleware(site, kero))
    assert_form_and_api_counted(db_path, put_route="/api/items/1")
