"""What a page view is, as every adapter's test checks it through real HTTP (issue 17: a POST,
such as the Django admin's login, counted as a page view): GET and HEAD requests are page views,
whatever their status; other requests are counted in the routes and status cards only."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import requests
from werkzeug.serving import make_server

from kero_core import Kero
from kero_core.dashboard import respond
from kero_core.wsgi import WSGIApp
from tests.conftest import CHROME_UA

# What visit_form_and_api stores: (event name, method, path).
FORM_AND_API = [("http_other", "POST", "/form"), ("http_other", "PUT", "/api/items/1"),
                ("http_req", "GET", "/form"), ("http_req", "GET", "/thanks"), ("http_req", "HEAD", "/form")]


def visit_form_and_api(app: WSGIApp) -> None:
    """Serve ``app`` on 127.0.0.1 and send it what a browser and an API client would: GET and
    HEAD /form, a POST of the form (answered 303 to /thanks, followed), a PUT /api/items/1."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        with requests.Session() as browser:
            browser.headers["User-Agent"] = CHROME_UA
            assert browser.get(url + "/form").status_code == 200
            assert browser.head(url + "/form").status_code == 200
            assert browser.post(url + "/form", data={"plan": "pro"}).status_code == 200  # 303, then GET /thanks
            assert browser.put(url + "/api/items/1", data="{}").status_code == 204
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def stats(db_path: Path) -> dict[str, Any]:
    """The dashboard's api/stats for the past 24 hours of ``db_path``, read as a reader would."""
    with Kero(db_path=db_path) as kero:
        answer = respond(kero, "/api/stats", {"period": ["24h"], "limit": ["50"]}, request_path="/_kero/api/stats")
    assert answer.status == 200
    return json.loads(answer.body)


def figure(found: dict[str, Any], figure_id: str) -> Any:
    return next(f["value"] for f in found["figures"] if f["id"] == figure_id)


def card(found: dict[str, Any], card_id: str) -> dict[str, int]:
    """A card's rows: label -> first value."""
    rows = next(c["rows"] for c in found["cards"] if c["id"] == card_id)
    return {row["label"]: row["values"][0] for row in rows}


def stored_names(db_path: Path) -> list[tuple[str, str, str]]:
    """(event name, method, path) of every stored event, sorted."""
    with Kero(db_path=db_path) as kero:
        return sorted((e.name, e.method, e.path) for e in kero.query(None))


def assert_form_and_api_counted(db_path: Path, put_route: str) -> None:
    """What the dashboard shows of :func:`visit_form_and_api`: 3 page views of one visitor; every
    request (the POST and the PUT too) in the routes and status cards."""
    assert stored_names(db_path) == FORM_AND_API
    found = stats(db_path)
    assert (figure(found, "views"), figure(found, "visitors")) == (3, 1)
    assert card(found, "pages") == {"/form": 1, "/thanks": 1}  # visitors
    assert card(found, "routes") == {"GET /form": 1, "HEAD /form": 1, "POST /form": 1, f"PUT {put_route}": 1, "GET /thanks": 1}
    assert card(found, "status_codes") == {"200 OK": 3, "303 See Other": 1, "204 No Content": 1}
