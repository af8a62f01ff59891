"""Hostile and broken requests through the WSGI middleware: each gets a clear outcome (the app
answers normally, the stored strings are bounded and valid), never an exception into the app."""

from __future__ import annotations

from typing import Any, Callable, Iterable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import Client

from kero_core import Kero
from kero_core.capture import MAX_PATH, MAX_REFERRER
from kero_core.wsgi import KeroMiddleware
from tests.conftest import environ


def ok_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def call(app: KeroMiddleware, env: dict[str, Any]) -> tuple[str, bytes]:
    seen: list[str] = []
    body = app(env, lambda status, headers, exc_info=None: seen.append(status))
    data = b"".join(body)
    getattr(body, "close", lambda: None)()
    return seen[0], data


@pytest.fixture
def kero(make_kero: Callable[..., Kero], geoip_db: str) -> Kero:
    return make_kero(geoip_db=geoip_db, measure_requests=True)


@pytest.fixture
def app(kero: Kero) -> KeroMiddleware:
    return KeroMiddleware(ok_app, kero)


def test_invalid_utf8_path_is_stored_readably(app: KeroMiddleware, kero: Kero) -> None:
    raw = b"/caf\xc3\xa9/\xff\xfe".decode("latin-1")  # what a WSGI server puts in PATH_INFO
    assert call(app, environ(raw)) == ("200 OK", b"ok")
    [event] = kero.query()
    assert event.path.startswith("/caf") and event.path.encode("utf-8")


def test_valid_utf8_path_is_decoded(app: KeroMiddleware, kero: Kero) -> None:
    call(app, environ(b"/caf\xc3\xa9".decode("latin-1")))
    assert kero.query()[0].path == "/café"


def test_percent_escapes_are_kept_as_sent(app: KeroMiddleware, kero: Kero) -> None:
    call(app, environ("/a%2Fb%zz", QUERY_STRING="utm_source=%E2%9C%93&utm_medium=%zz%"))
    [event] = kero.query()
    assert event.path == "/a%2Fb%zz" and event.utm_source == "✓"


def test_huge_headers_and_paths_are_bounded(app: KeroMiddleware, kero: Kero) -> None:
    env = environ("/" + "p" * 100_000, HTTP_USER_AGENT="Mozilla/5.0 " + "x" * 8192,
                  HTTP_REFERER="https://example.org/" + "r" * 8192, HTTP_ACCEPT_LANGUAGE="en," * 4000,
                  HTTP_X_FORWARDED_FOR="1.1.1.1, " * 1000, QUERY_STRING="utm_source=" + "s" * 10_000)
    assert call(app, env) == ("200 OK", b"ok")
    [event] = kero.query()
    assert len(event.path) <= MAX_PATH and len(event.referrer) <= MAX_REFERRER
    assert len(event.utm_source) <= 256


@pytest.mark.parametrize("referer", ["::::", "http://[::1", "https://exa mple.com/", "\x00\x01", "//evil", "javascript:alert(1)"])
def test_malformed_referers(app: KeroMiddleware, kero: Kero, referer: str) -> None:
    assert call(app, environ("/", HTTP_REFERER=referer)) == ("200 OK", b"ok")
    [event] = kero.query()
    assert event.referrer_domain == "" or "." in event.referrer_domain


@pytest.mark.parametrize("ip", ["", "not-an-ip", "999.1.1.1", "::ffff:1.2.3.4", "fe80::1%eth0", "1.2.3.4:80", "[::1]:443"])
def test_malformed_ips(app: KeroMiddleware, kero: Kero, ip: str) -> None:
    assert call(app, environ("/", REMOTE_ADDR=ip)) == ("200 OK", b"ok")
    assert kero.count() == 1


@pytest.mark.parametrize("ua", ["", "\x00\x01\x02", "()" * 300, "Mozilla/5.0 (" * 500, "😀" * 600])
def test_garbage_user_agents(app: KeroMiddleware, kero: Kero, ua: str) -> None:
    assert call(app, environ("/", HTTP_USER_AGENT=ua)) == ("200 OK", b"ok")
    [event] = kero.query()
    assert event.is_bot == (ua.strip("\x00\x01\x02") == "") or event.form_factor in {"desktop", "mobile", "tablet", "bot"}


def test_missing_environ_keys(app: KeroMiddleware, kero: Kero) -> None:
    assert call(app, {"REQUEST_METHOD": "GET"}) == ("200 OK", b"ok")
    assert [e.path for e in kero.query()] == ["/"]


def test_through_a_real_client_with_odd_bytes(app: KeroMiddleware, kero: Kero) -> None:
    response = Client(app).get("/%FF%FE?x=%00", headers={"Referer": "http://\u00e9xample.com/"}, buffered=True)
    assert response.status_code == 200
    assert kero.count() == 1


text = st.text(alphabet=st.characters(codec="latin-1"), max_size=300)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=text, query=text, ua=text, referer=text, xff=text, lang=text, method=st.text(max_size=20))
def test_arbitrary_requests_never_raise(app: KeroMiddleware, kero: Kero, path: str, query: str, ua: str,
                                        referer: str, xff: str, lang: str, method: str) -> None:
    env = environ("/" + path, QUERY_STRING=query, HTTP_USER_AGENT=ua, HTTP_REFERER=referer,
                  HTTP_X_FORWARDED_FOR=xff, HTTP_ACCEPT_LANGUAGE=lang, REQUEST_METHOD=method or "GET")
    assert call(app, env) == ("200 OK", b"ok")


def test_arbitrary_requests_were_all_stored_as_valid_text(app: KeroMiddleware, kero: Kero) -> None:
    for i in range(50):
        junk = bytes(range(i, i + 120)).decode("latin-1")
        call(app, environ("/" + junk, QUERY_STRING=junk, HTTP_USER_AGENT=junk, HTTP_REFERER="http://x.com/" + junk))
    events = kero.query()
    assert len(events) == 50
    for event in events:
        for value in (event.path, event.referrer, event.browser, event.utm_source):
            value.encode("utf-8")  # valid UTF-8, no surrogates
            assert "\x00" not in value
