"""Who may open the dashboard (staff, AUTH, Basic credentials) and what it serves."""

from __future__ import annotations

import base64
from html.parser import HTMLParser
from typing import Any

import pytest
from django.test import Client

from kero_core import Kero
from kero_core.dashboard import respond
from kero_core.http import REALM


class _Title(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.title, self._in = "", False

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self._in = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        self._in = False

    def handle_data(self, data: str) -> None:
        if self._in:
            self.title += data


def title_of(html: bytes) -> str:
    parser = _Title()
    parser.feed(html.decode())
    return parser.title.strip()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def staff(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("staff", password="pw", is_staff=True)


@pytest.fixture
def member(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("member", password="pw")


def test_anonymous_is_sent_to_the_admin_login(client: Client, kero: Kero) -> None:
    response = client.get("/_kero/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/_kero/"


@pytest.mark.django_db
def test_staff_sees_the_dashboard(client: Client, kero: Kero, staff: Any) -> None:
    client.force_login(staff)
    response = client.get("/_kero/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert kero.config.title in title_of(response.content)


@pytest.mark.django_db
def test_logged_in_non_staff_is_refused(client: Client, kero: Kero, member: Any) -> None:
    client.force_login(member)
    assert client.get("/_kero/").status_code == 403


@pytest.mark.django_db
def test_inactive_staff_is_refused(client: Client, kero: Kero, staff: Any) -> None:
    client.force_login(staff)
    staff.is_active = False
    staff.save()
    assert client.get("/_kero/").status_code == 302  # logged out by the auth backend


@pytest.mark.django_db
@pytest.mark.parametrize("subpath", ["api/stats", "static/dashboard.css", "?format=csv", "no/such/thing"])
def test_every_dashboard_url_shares_the_check(client: Client, kero: Kero, staff: Any, subpath: str) -> None:
    url = f"/_kero/{subpath}"
    assert client.get(url).status_code == 302
    client.force_login(staff)
    path, _, query = subpath.partition("?")
    params = {k: [v] for k, _, v in [query.partition("=")]} if query else {}
    expected = respond(kero, "/" + path, params, request_path=f"/_kero/{path}")
    response = client.get(url)
    # Bodies hold the current time: the same answer is the same status and type of content.
    assert (response.status_code, response["Content-Type"]) == (expected.status, dict(expected.headers)["Content-Type"])


@pytest.mark.django_db
def test_post_is_not_allowed(client: Client, kero: Kero, staff: Any) -> None:
    client.force_login(staff)
    assert client.post("/_kero/").status_code == 405


def allow_header(request: Any) -> bool:
    return request.headers.get("X-Kero-Ok") == "yes"


def refuse_everyone(request: Any) -> bool:
    return False


def broken_check(request: Any) -> bool:
    raise RuntimeError("the site's check is broken")


def test_auth_setting_replaces_the_staff_check(client: Client, settings: Any, kero_settings: dict[str, Any]) -> None:
    settings.KERO = {**kero_settings, "AUTH": "tests.django.test_dashboard.allow_header"}
    assert client.get("/_kero/", HTTP_X_KERO_OK="yes").status_code == 200
    assert client.get("/_kero/").status_code == 302  # anonymous and refused: to the login page


@pytest.mark.django_db
def test_auth_setting_can_refuse_staff(client: Client, settings: Any, kero_settings: dict[str, Any], staff: Any) -> None:
    settings.KERO = {**kero_settings, "AUTH": "tests.django.test_dashboard.refuse_everyone"}
    client.force_login(staff)
    assert client.get("/_kero/").status_code == 403


def test_a_failing_auth_check_refuses(client: Client, settings: Any, kero_settings: dict[str, Any], caplog: Any) -> None:
    settings.KERO = {**kero_settings, "AUTH": "tests.django.test_dashboard.broken_check"}
    assert client.get("/_kero/").status_code == 302
    assert "KERO['AUTH'] check failed" in caplog.text


def test_basic_credentials(client: Client, settings: Any, kero_settings: dict[str, Any]) -> None:
    settings.KERO = {**kero_settings, "ADMIN_USER": "admin", "ADMIN_PASSWORD": "s3cret"}
    assert client.get("/_kero/", HTTP_AUTHORIZATION=basic("admin", "s3cret")).status_code == 200
    for header in ["", basic("admin", "wrong"), basic("other", "s3cret"), "Bearer abc"]:
        refused = client.get("/_kero/", HTTP_AUTHORIZATION=header)
        assert refused.status_code == 401 and refused["WWW-Authenticate"] == REALM


@pytest.mark.django_db
def test_staff_pass_when_basic_credentials_are_set(client: Client, settings: Any, kero_settings: dict[str, Any], staff: Any) -> None:
    settings.KERO = {**kero_settings, "ADMIN_USER": "admin", "ADMIN_PASSWORD": "s3cret"}
    client.force_login(staff)
    assert client.get("/_kero/").status_code == 200


def test_dashboard_mounted_elsewhere_is_never_tracked(client: Client, settings: Any, kero_settings: dict[str, Any]) -> None:
    settings.ROOT_URLCONF = "tests.django.project.minimal_urls"
    settings.KERO = {**kero_settings, "IGNORE_WEB_ASSETS": False, "ADMIN_USER": "admin", "ADMIN_PASSWORD": "s3cret"}
    from kero_django import get_kero

    kero = get_kero()
    assert kero.config.dashboard_path == "/stats"
    for path in ["/stats/", "/stats/api/stats", "/stats", "/"]:
        client.get(path, HTTP_AUTHORIZATION=basic("admin", "s3cret"))
    assert [e.path for e in kero.query()] == ["/"]


def test_include_without_trailing_slash_redirects_to_the_page(client: Client, settings: Any, kero_settings: dict[str, Any]) -> None:
    settings.ROOT_URLCONF = "tests.django.test_dashboard"
    settings.KERO = {**kero_settings, "ADMIN_USER": "admin", "ADMIN_PASSWORD": "s3cret"}
    auth = basic("admin", "s3cret")
    response = client.get("/stats", HTTP_AUTHORIZATION=auth)
    assert (response.status_code, response["Location"]) == (308, "stats/")
    assert client.get("/stats/", HTTP_AUTHORIZATION=auth).status_code == 200


# A URLconf for the test above: the include's prefix has no trailing slash.
from django.urls import include, path  # noqa: E402

urlpatterns = [path("stats", include("kero_django.urls"))]


@pytest.mark.django_db
def test_a_shared_link_opens_without_login_and_only_for_reading(client: Client, kero: Kero) -> None:
    link, token = kero.create_share("path=/pricing")
    page = client.get(f"/_kero/share/{token}/")
    assert page.status_code == 200 and page["X-Robots-Tag"] == "noindex, nofollow"
    assert kero.config.title in title_of(page.content)
    assert client.get(f"/_kero/share/{token}/api/stats").status_code == 200
    assert client.post(f"/_kero/share/{token}/api/stats").status_code == 405
    assert client.get("/_kero/").status_code == 302  # the dashboard itself still asks for a login
    kero.revoke_share(link.id)
    assert client.get(f"/_kero/share/{token}/").status_code == 403
