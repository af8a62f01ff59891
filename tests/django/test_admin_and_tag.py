"""The "Kero analytics" link in the admin index, and the {% kero_pixel %} template tag."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest
from django.template import Context, Template
from django.test import Client

from kero_core import Kero
from tests.django.conftest import paths


class _Tags(HTMLParser):
    def __init__(self, tag: str) -> None:
        super().__init__()
        self.tag, self.found = tag, []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == self.tag:
            self.found.append(dict(attrs))


def tags(html: str, tag: str) -> list[dict[str, str | None]]:
    parser = _Tags(tag)
    parser.feed(html)
    return parser.found


def links_to_kero(html: str) -> list[str | None]:
    return [a.get("href") for a in tags(html, "a") if "kero_django/dashboard" in (a.get("href") or "")]


@pytest.mark.django_db
def test_staff_see_the_link_and_it_leads_to_the_dashboard(client: Client, django_user_model: Any, kero: Kero) -> None:
    client.force_login(django_user_model.objects.create_user("staff", password="pw", is_staff=True))
    index = client.get("/admin/")
    assert "Kero analytics" in index.content.decode()
    [href, *_] = links_to_kero(index.content.decode())
    response = client.get(href)
    assert (response.status_code, response["Location"]) == (302, "/_kero/")
    assert client.get("/_kero/").status_code == 200


@pytest.mark.django_db
def test_link_hidden_when_the_auth_check_refuses(client: Client, django_user_model: Any, settings: Any, kero_settings: dict[str, Any]) -> None:
    settings.KERO = {**kero_settings, "AUTH": "tests.django.test_dashboard.refuse_everyone"}
    client.force_login(django_user_model.objects.create_user("staff", password="pw", is_staff=True))
    index = client.get("/admin/")
    assert index.status_code == 200 and links_to_kero(index.content.decode()) == []
    assert client.get("/admin/kero_django/dashboard/").status_code == 403


@pytest.mark.django_db
def test_admin_index_survives_a_broken_setting(client: Client, django_user_model: Any, settings: Any) -> None:
    settings.KERO = ["not", "a", "dict"]
    client.force_login(django_user_model.objects.create_user("staff", password="pw", is_staff=True))
    index = client.get("/admin/")
    assert index.status_code == 200 and links_to_kero(index.content.decode()) == []


def test_pixel_tag_renders_the_img(kero: Kero) -> None:
    html = Template("{% load kero %}{% kero_pixel %}").render(Context())
    [img] = tags(html, "img")
    assert img == {"src": "/visit.gif", "alt": "", "width": "1", "height": "1", "referrerpolicy": "same-origin"}


def test_pixel_tag_renders_nothing_without_pixel_path(settings: Any, kero_settings: dict[str, Any]) -> None:
    settings.KERO = {k: v for k, v in kero_settings.items() if k != "PIXEL_PATH"}
    assert Template("{% load kero %}{% kero_pixel %}").render(Context()) == ""


def test_cached_page_is_counted_through_its_pixel(client: Client, kero: Kero) -> None:
    """A page served from a cache never reaches the middleware; its pixel does."""
    page = client.get("/cached/").content.decode()
    [img] = tags(page, "img")
    kero.ignored_prefixes.append("/cached/")  # pretend the page itself came from a cache
    client.get(img["src"], HTTP_REFERER="http://testserver/cached/")
    assert paths(kero) == ["/cached/"]
    kero.ignored_prefixes.remove("/cached/")
