"""Where KeroMiddleware goes in MIDDLEWARE, tried in the test project (issue 17: the docs said
"after AuthenticationMiddleware" with no reason, and it works anywhere).

What the positions show: the dashboard is a view, so it sees ``request.user`` wherever Kero
stands, and the pixel is answered at any place; what changes is what Kero records. It records
the requests that reach it, with the status it gets back from the middleware after it: a
middleware before it that answers a request itself (SECURE_SSL_REDIRECT) or replaces the
response (CommonMiddleware's APPEND_SLASH redirect for a 404) hides that from Kero. First in
the list, Kero records what each client received."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from kero_core import Kero
from kero_core.http import PIXEL_GIF
from tests.conftest import CHROME_UA
from tests.django.project.settings import MIDDLEWARE

KERO = "kero_django.middleware.KeroMiddleware"
STACK = [m for m in MIDDLEWARE if m != KERO]  # Security, Session, Common, Csrf, Authentication, Message
POSITIONS = {"first": 0, "after auth": 5, "last": len(STACK)}


@pytest.fixture(params=list(POSITIONS))
def position(request: pytest.FixtureRequest, settings: Any) -> str:
    settings.MIDDLEWARE = [*STACK[: POSITIONS[request.param]], KERO, *STACK[POSITIONS[request.param]:]]
    return str(request.param)


def recorded(kero: Kero) -> list[tuple[str, str, int]]:
    return sorted((e.path, e.route, e.status) for e in kero.query())


@pytest.mark.django_db
def test_every_position_records_pages_serves_the_pixel_and_the_dashboard(position: str, kero: Kero,
                                                                          django_user_model: Any) -> None:
    browser = Client(HTTP_USER_AGENT=CHROME_UA)
    assert browser.get("/hello/world").status_code == 200
    pixel = browser.get("/visit.gif", HTTP_REFERER="http://testserver/launch")
    assert pixel.content == PIXEL_GIF
    assert browser.get("/_kero/").status_code == 302  # to the login page: not staff
    browser.force_login(django_user_model.objects.create_user("staff", password="pw", is_staff=True))
    assert browser.get("/_kero/").status_code == 200  # request.user is there, whatever the order
    assert recorded(kero) == [("/hello/world", "hello/<str:name>", 200), ("/launch", "", 200)]


@pytest.mark.django_db
def test_kero_records_the_status_the_middleware_after_it_returns(position: str, kero: Kero) -> None:
    browser = Client(HTTP_USER_AGENT=CHROME_UA)
    assert browser.get("/slow").status_code == 301  # CommonMiddleware turns the 404 into a redirect to /slow/
    assert recorded(kero) == ([("/slow", "", 301)] if position == "first" else [("/slow", "", 404)])


@pytest.mark.django_db
def test_a_request_answered_before_kero_is_not_recorded(position: str, kero: Kero, settings: Any) -> None:
    settings.SECURE_SSL_REDIRECT = True  # SecurityMiddleware answers plain HTTP itself
    browser = Client(HTTP_USER_AGENT=CHROME_UA)
    assert browser.get("/hello/world").status_code == 301
    assert recorded(kero) == ([("/hello/world", "", 301)] if position == "first" else [])
