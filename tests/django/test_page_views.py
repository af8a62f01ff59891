"""Page views of the Django test project under gunicorn: GET and HEAD are page views; a POST
(here one CsrfViewMiddleware refuses, as the admin's login form would without its token) only
counts in the routes and status cards (tests/page_views.py)."""

from __future__ import annotations

from pathlib import Path

import requests

from tests.conftest import CHROME_UA
from tests.django.servers import server
from tests.django.test_servers import wait_for_events
from tests.page_views import card, figure, stats, stored_names


def test_only_get_and_head_are_page_views(tmp_path: Path) -> None:
    db_path = tmp_path / "kero"
    with server("gunicorn", "tests.django.project.settings", db_path) as running:
        with requests.Session() as browser:
            browser.headers["User-Agent"] = CHROME_UA
            assert browser.get(running.url + "/hello/world").status_code == 200
            assert browser.head(running.url + "/hello/world").status_code == 200
            assert browser.post(running.url + "/hello/world", data={"name": "x"}).status_code == 403  # no CSRF token
            assert browser.get(running.url + "/no/such/page").status_code == 404
    assert wait_for_events(db_path, 4) == 4
    assert stored_names(db_path) == [("http_other", "POST", "/hello/world"), ("http_req", "GET", "/hello/world"),
                                     ("http_req", "GET", "/no/such/page"), ("http_req", "HEAD", "/hello/world")]
    found = stats(db_path)
    assert (figure(found, "views"), figure(found, "visitors")) == (3, 1)
    assert card(found, "pages") == {"/hello/world": 1, "/no/such/page": 1}
    assert card(found, "routes") == {"GET hello/<str:name>": 1, "HEAD hello/<str:name>": 1, "POST hello/<str:name>": 1,
                                     "GET (not found)": 1}
    assert card(found, "status_codes") == {"200 OK": 2, "403 Forbidden": 1, "404 Not Found": 1}
