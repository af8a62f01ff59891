"""Client hints (Sec-CH-UA, -Mobile, -Platform, -Platform-Version) correct what Chromium's reduced
User-Agent hides, end to end: a request through KeroMiddleware, read back with kero.query()."""

from __future__ import annotations

from typing import Any, Callable

import pytest
from werkzeug.test import Client

from kero_core import Kero
from kero_core.capture import MAX_HEADER, environ_from_scope, hit_from_environ
from kero_core.client_hints import MAX_BRANDS, SEPARATOR
from kero_core.schema import Event
from kero_core.wsgi import KeroMiddleware

# Chromium's reduced User-Agents (Chrome 110 and later): the OS version and the model are frozen.
WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
ANDROID_PHONE = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
CHROME_BRANDS = '"Google Chrome";v="131", "Chromium";v="131", "Not_A Brand";v="24"'


def _site(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/html")])
    return [b"<p>hello</p>"]


def _visit(kero: Kero, user_agent: str, **hints: str) -> Event:
    headers = {"User-Agent": user_agent, **{f"Sec-CH-UA{'-' + k.replace('_', '-') if k != 'brands' else ''}": v
                                            for k, v in hints.items()}}
    Client(KeroMiddleware(_site, kero)).get("/", headers=headers, buffered=True)
    (event,) = kero.query()
    return event


@pytest.fixture
def kero(make_kero: Callable[..., Kero]) -> Kero:
    return make_kero()


def _seen(event: Event) -> tuple[str, str, str, str, str, bool]:
    return (event.browser, event.browser_version, event.os, event.os_version, event.form_factor, event.is_bot)


def test_brave_on_windows_11(kero: Kero) -> None:
    event = _visit(kero, WINDOWS, brands='"Brave";v="131", "Chromium";v="131", "Not_A Brand";v="24"',
                   Mobile="?0", Platform='"Windows"', Platform_Version='"15.0.0"')
    assert _seen(event) == ("Brave", "131.0", "Windows", "11", "desktop", False)


def test_chrome_on_windows_10_keeps_its_names(kero: Kero) -> None:
    event = _visit(kero, WINDOWS, brands=CHROME_BRANDS, Mobile="?0", Platform='"Windows"', Platform_Version='"10.0.0"')
    assert _seen(event) == ("Chrome", "131.0", "Windows", "10", "desktop", False)


def test_an_android_tablet_saying_mobile_in_its_user_agent_is_a_tablet(kero: Kero) -> None:
    event = _visit(kero, ANDROID_PHONE, brands=CHROME_BRANDS, Mobile="?0", Platform='"Android"')
    assert _seen(event) == ("Chrome Mobile", "131.0", "Android", "10", "tablet", False)
    assert event.device == ""  # "K" is the reduced User-Agent's stand-in, not a model


def test_an_android_phone_with_its_android_version(kero: Kero) -> None:
    event = _visit(kero, ANDROID_PHONE, brands=CHROME_BRANDS, Mobile="?1", Platform='"Android"', Platform_Version='"14.0.0"')
    assert _seen(event) == ("Chrome Mobile", "131.0", "Android", "14", "mobile", False)


def test_edge_on_a_mac(kero: Kero) -> None:
    mac = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
    event = _visit(kero, mac, brands='"Microsoft Edge";v="131", "Chromium";v="131", "Not_A Brand";v="24"',
                   Mobile="?0", Platform='"macOS"', Platform_Version='"14.5.0"')
    assert _seen(event) == ("Edge", "131.0", "Mac OS X", "14.5", "desktop", False)


def test_a_headless_browser_is_a_bot_whatever_its_user_agent(kero: Kero) -> None:
    event = _visit(kero, WINDOWS, brands='"HeadlessChrome";v="131", "Chromium";v="131"', Mobile="?0", Platform='"Linux"')
    assert (event.browser, event.is_bot, event.form_factor) == ("HeadlessChrome", True, "bot")


def test_hints_never_make_a_bot_a_visitor(kero: Kero) -> None:
    event = _visit(kero, "Googlebot/2.1 (+http://www.google.com/bot.html)", brands=CHROME_BRANDS, Mobile="?1",
                   Platform='"Android"')
    assert (event.is_bot, event.form_factor) == (True, "bot")


def test_hints_do_not_rename_a_browser_that_is_not_chromium(kero: Kero) -> None:
    event = _visit(kero, FIREFOX, brands='"Brave";v="131"', Mobile="?0", Platform='"Windows"')
    assert (event.browser, event.browser_version) == ("Firefox", "133.0")


@pytest.mark.parametrize("hints", [
    {"brands": "garbage", "Mobile": "?7", "Platform": '"Plan 9"', "Platform_Version": '"eleven"'},
    {"brands": '"' + "x" * 500 + '";v="1"', "Mobile": "", "Platform": '""', "Platform_Version": '"1' + ".1" * 50 + '"'},
    {"brands": '"Chromium";v="131", "Not;A=Brand";v="99"', "Mobile": "?0", "Platform": '"Unknown"'},
], ids=["malformed", "oversized", "only-chromium"])
def test_bad_hints_are_ignored(kero: Kero, hints: dict[str, str]) -> None:
    event = _visit(kero, WINDOWS, **hints)
    assert _seen(event) == ("Chrome", "131.0", "Windows", "10", "desktop", False)


def test_the_capture_bounds_the_hints_and_asgi_carries_them() -> None:
    scope = {"type": "http", "method": "GET", "path": "/", "headers": [
        (b"sec-ch-ua", ("x" * 10_000).encode()), (b"sec-ch-ua-mobile", b"?1"),
        (b"sec-ch-ua-platform", ('"' + "A" * 10_000).encode()), (b"sec-ch-ua-platform-version", b'"14.0.0"'),
    ]}
    hit = hit_from_environ(environ_from_scope(scope), 0.0)
    platform, mobile, version, brands = hit.client_hints.split(SEPARATOR)
    assert (mobile, version) == ("?1", '"14.0.0"')
    assert len(platform) < MAX_HEADER and len(brands) == MAX_BRANDS
    assert hit_from_environ({"HTTP_SEC_CH_UA": CHROME_BRANDS}, 0.0).client_hints == ""  # no platform: not Chromium's
