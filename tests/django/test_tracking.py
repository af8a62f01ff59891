"""What the middleware records, through Django's test client (the WSGI stack in process)."""

from __future__ import annotations

from typing import Any, Iterator

import pytest
from django.test import Client
from django.urls import clear_script_prefix

from kero_core import Kero
from kero_core.http import PIXEL_GIF
from tests.conftest import CHROME_UA
from tests.django.conftest import paths


def test_tracking_cases_of_kero(browser: Client, kero: Kero) -> None:
    for path in ["/favicon.ico", "/_kero/", "/_kero/api/stats", "/visit.gif", "/hello/world", "/hello/earth", "/", "/static/app.css", "/wp-login.php"]:
        browser.get(path)
    assert paths(kero) == ["/", "/hello/earth", "/hello/world"]


def test_route_pattern_status_and_fields(browser: Client, kero: Kero) -> None:
    browser.get("/hello/world?utm_source=news", HTTP_REFERER="https://www.google.com/search?q=kero")
    [event] = kero.query()
    assert (event.method, event.path, event.route, event.status) == ("GET", "/hello/world", "hello/<str:name>", 200)
    assert (event.browser, event.os, event.form_factor) == ("Chrome", "Windows", "desktop")
    assert (event.referrer_domain, event.utm_source) == ("google.com", "news")
    assert event.visitor_id > 0
    assert kero.top("route") == [("GET hello/<str:name>", 1)]


def test_404_is_recorded_without_a_route(browser: Client, kero: Kero) -> None:
    assert browser.get("/no/such/page").status_code == 404
    [event] = kero.query()
    assert (event.path, event.route, event.status) == ("/no/such/page", "", 404)


def test_500_from_a_failing_view_is_recorded(browser: Client, kero: Kero) -> None:
    assert browser.get("/boom/").status_code == 500
    [event] = kero.query()
    assert (event.path, event.route, event.status) == ("/boom/", "boom/", 500)


def test_duration_of_a_view_sleeping_123_ms(browser: Client, kero: Kero) -> None:
    browser.get("/slow/")
    [event] = kero.query()
    assert event.duration_ms is not None and 123 <= event.duration_ms < 2000


def test_streamed_response_is_recorded_once_sent(browser: Client, kero: Kero) -> None:
    response = browser.get("/stream/")
    assert kero.count() == 0  # the body has not been read yet
    assert b"".join(response.streaming_content) == b"ab"
    [event] = kero.query()
    assert (event.path, event.status) == ("/stream/", 200)
    assert event.duration_ms is not None and event.duration_ms >= 50


def test_pixel_is_a_gif_recording_the_referer_path(browser: Client, kero: Kero) -> None:
    response = browser.get("/visit.gif", HTTP_REFERER="http://testserver/pricing?utm_campaign=spring")
    assert response.status_code == 200
    assert response.content == PIXEL_GIF and response["Content-Type"] == "image/gif"
    assert "no-store" in response["Cache-Control"]
    [event] = kero.query()
    assert (event.path, event.utm_campaign) == ("/pricing", "spring")


def test_pixel_without_referer_records_nothing(browser: Client, kero: Kero) -> None:
    assert browser.get("/visit.gif").content == PIXEL_GIF
    assert kero.count() == 0


def test_do_not_track_is_respected(browser: Client, kero: Kero) -> None:
    browser.get("/", HTTP_DNT="1")
    browser.get("/", HTTP_SEC_GPC="1")
    assert kero.count() == 0


def test_user_added_ignored_prefix(browser: Client, kero: Kero) -> None:
    kero.ignored_prefixes.append("/hello/")
    browser.get("/hello/world")
    browser.get("/")
    assert paths(kero) == ["/"]


def test_custom_event_with_request(browser: Client, kero: Kero) -> None:
    browser.get("/signup/")
    [event] = kero.query(name="signup")
    assert (event.labels, event.browser, event.path) == ({"plan": "pro"}, "Chrome", "/signup/")
    assert event.visitor_id > 0


def test_custom_event_without_request(kero: Kero) -> None:
    import kero_django

    kero_django.track("export", {"rows": 3}, value=3.0)
    [event] = kero.query(name="export")
    assert (event.labels, event.value, event.visitor_id) == ({"rows": "3"}, 3.0, 0)


def test_exception_propagated_by_django_is_recorded_as_500(settings: Any, kero: Kero) -> None:
    """With DEBUG_PROPAGATE_EXCEPTIONS the view's exception passes through the middleware."""
    settings.DEBUG_PROPAGATE_EXCEPTIONS = True
    with pytest.raises(RuntimeError, match="the host view failed"):
        Client().get("/boom/")
    [event] = kero.query()
    assert (event.path, event.route, event.status) == ("/boom/", "boom/", 500)


@pytest.fixture
def script_prefix_reset() -> Iterator[None]:
    """Django's WSGI handler sets the thread's script prefix and leaves it for the next test."""
    yield
    clear_script_prefix()


@pytest.mark.django_db  # closing a response closes old database connections
@pytest.mark.usefixtures("script_prefix_reset")
def test_site_under_a_url_prefix(kero_settings: dict[str, Any]) -> None:
    """Behind a prefix (SCRIPT_NAME, set by Django's real WSGI handler, not by its test client),
    paths are recorded as the site sees them, and the pixel and the dashboard are under it."""
    from django.core.handlers.wsgi import WSGIHandler
    from werkzeug.test import Client as WSGIClient

    import kero_django
    from tests.django.test_admin_and_tag import tags

    client = WSGIClient(WSGIHandler())

    def get(path: str, **headers: str) -> Any:
        return client.get(path, base_url="http://testserver/site", headers={"User-Agent": CHROME_UA, **headers})

    page = get("/cached/")  # builds Kero inside a request under the prefix
    kero = kero_django.get_kero()
    assert kero.config.dashboard_path == "/_kero"
    [img] = tags(page.get_data(as_text=True), "img")
    assert img["src"] == "/site/visit.gif"
    assert get("/visit.gif", Referer="http://testserver/site/about").get_data() == PIXEL_GIF
    assert get("/_kero/").headers["Location"] == "/site/admin/login/?next=/site/_kero/"
    assert paths(kero) == ["/cached/", "/site/about"]
