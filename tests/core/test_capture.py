"""One capture for WSGI and ASGI: a request read from an ASGI scope gives the very fields the
same request gives from the WSGI environ a server would build for it (the bounds, the cut of a
long X-Forwarded-For, the client hints, repeated headers), and DNT/GPC decide the same way."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from kero_core import Kero
from kero_core.capture import (
    MAX_FORWARDED, MAX_HEADER, MAX_REFERRER, MAX_USER_AGENT, PAGE_VIEW, app_path, environ_from_scope, fields_from_environ,
    hit_fields,
)
from tests.conftest import CHROME_UA

Headers = list[tuple[bytes, bytes]]
CHROMIUM: Headers = [
    (b"host", b"example.com"), (b"connection", b"keep-alive"),
    (b"sec-ch-ua", b'"Google Chrome";v="131", "Chromium";v="131", "Not_A Brand";v="24"'),
    (b"sec-ch-ua-mobile", b"?0"), (b"sec-ch-ua-platform", b'"Windows"'), (b"user-agent", CHROME_UA.encode()),
    (b"accept", b"text/html"), (b"sec-fetch-site", b"same-origin"), (b"referer", b"https://example.com/"),
    (b"accept-encoding", b"gzip, br"), (b"accept-language", b"en-GB,en;q=0.9"), (b"cookie", b"session=abc"),
]
PROXIED: Headers = [
    (b"x-forwarded-for", b"203.0.113.1"), (b"user-agent", b"curl/8.5"), (b"x-forwarded-for", b"198.51.100.2"),
    (b"cf-connecting-ip", b"198.51.100.7"), (b"x-real-ip", b"198.51.100.8"), (b"sec-ch-ua-platform-version", b'"15.0.0"'),
]
# Each header Kero reads, longer than its bound; a forwarded-for list cut in its middle.
HUGE: Headers = [
    (b"x-forwarded-for", b",".join(b"10.0.0.%d" % (i % 250) for i in range(400))),
    (b"user-agent", b"u" * (3 * MAX_USER_AGENT)), (b"referer", b"https://e.com/" + b"r" * (3 * MAX_REFERRER)),
    (b"accept-language", b"l" * 1000), (b"accept-encoding", b"e" * 1000), (b"host", b"h" * 1000),
    (b"cf-connecting-ip", b"c" * 1000), (b"x-real-ip", b"i" * 1000),
    (b"sec-ch-ua-platform", b'"' + b"p" * 1000), (b"sec-ch-ua-mobile", b"?1" * 100),
    (b"sec-ch-ua-platform-version", b"9" * 1000), (b"sec-ch-ua", b"b" * 10_000),
]
LATIN1: Headers = [(b"user-agent", b"Bot \xe9\xff"), (b"referer", b"https://e.com/caf\xc3\xa9")]


def environ_of_server(scope: dict[str, Any]) -> dict[str, str]:
    """The environ a WSGI server builds for the request of ``scope`` (PEP 3333): HTTP_ and the
    header's name in capitals, dashes as underscores, repeated headers joined by commas, the
    values and the path as latin-1 text of their bytes."""
    environ = {"REQUEST_METHOD": scope["method"], "PATH_INFO": scope["path"].encode().decode("latin-1"),
               "QUERY_STRING": scope["query_string"].decode("latin-1"), "REMOTE_ADDR": scope["client"][0]}
    for name, value in scope["headers"]:
        key = "HTTP_" + name.decode().upper().replace("-", "_")
        environ[key] = environ[key] + "," + value.decode("latin-1") if key in environ else value.decode("latin-1")
    return environ


def scope_of(headers: Headers, path: str = "/caf\u00e9/menu") -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": path, "root_path": "", "query_string": b"utm_source=news",
            "client": ("81.2.69.142", 50000), "headers": headers}


@pytest.fixture
def kero(make_kero: Callable[..., Kero]) -> Kero:
    return make_kero()


@pytest.mark.parametrize("headers", [CHROMIUM, PROXIED, HUGE, LATIN1, []], ids=["chromium", "proxied", "huge", "latin1", "none"])
def test_a_scope_gives_the_fields_its_wsgi_environ_gives(kero: Kero, headers: Headers) -> None:
    scope = scope_of(headers)
    request = kero.request_from_scope(scope, app_path(scope))
    assert request is not None
    from_scope = hit_fields(1_790_000_000.0, PAGE_VIEW, "/caf\u00e9/{item}", 201, 2.5, None, 1.0, *request)
    from_environ = fields_from_environ(environ_of_server(scope), 1_790_000_000.0, route="/caf\u00e9/{item}",
                                       status=201, duration_ms=2.5)
    assert from_scope == from_environ


def test_the_bounds_hold_for_both(kero: Kero) -> None:
    scope = scope_of(HUGE)
    request = kero.request_from_scope(scope, app_path(scope))
    assert request is not None
    fields = hit_fields(0.0, PAGE_VIEW, "", 200, None, None, 1.0, *request)
    forwarded, user_agent, referrer, host = fields[9], fields[12], fields[15], fields[18]
    assert len(forwarded) == MAX_FORWARDED and forwarded.endswith("10.0.0.149") and forwarded.startswith("10.0.0.0,")
    assert (len(user_agent), len(referrer), len(host)) == (MAX_USER_AGENT, MAX_REFERRER, MAX_HEADER)


@pytest.mark.parametrize("asks, tracked", [
    ([(b"dnt", b"1")], False), ([(b"sec-gpc", b"1")], False), ([(b"dnt", b"0")], True), ([(b"sec-gpc", b"0")], True), ([], True),
])
def test_dnt_and_gpc_decide_as_for_wsgi(make_kero: Callable[..., Kero], tmp_path: Any, asks: Headers, tracked: bool) -> None:
    kero, ignoring = make_kero(), make_kero(ignore_dnt=True, db_path=tmp_path / "ignoring")
    scope = scope_of(CHROMIUM + asks)
    assert (kero.request_from_scope(scope, "/menu") is not None) is tracked
    assert kero.should_track(environ_of_server(scope)) is tracked
    assert ignoring.request_from_scope(scope, "/menu") is not None


def test_ignored_paths_are_not_captured(kero: Kero) -> None:
    kero.ignored_prefixes.append("/admin")
    kero.ignored_suffixes.append(".PDF")
    scope = scope_of(CHROMIUM, "/admin/users")
    assert kero.request_from_scope(scope, "/admin/users") is None
    assert kero.request_from_scope(scope, "/menu/list.pdf") is None
    assert kero.request_from_scope(scope, "/menu") is not None


@pytest.mark.parametrize("headers", [CHROMIUM, PROXIED, HUGE, LATIN1], ids=["chromium", "proxied", "huge", "latin1"])
def test_the_environ_of_a_scope_is_the_servers_for_what_kero_reads(headers: Headers) -> None:
    """What reads an environ of an ASGI request (custom events, the pixel, the dashboard's
    auth) sees what a WSGI server would give it: each header Kero reads under its WSGI name."""
    scope = scope_of(headers + [(b"dnt", b"1"), (b"sec-gpc", b"0"), (b"authorization", b"Basic eDp5")])
    server = environ_of_server(scope)
    unread = {"HTTP_CONNECTION", "HTTP_ACCEPT", "HTTP_SEC_FETCH_SITE", "HTTP_COOKIE"}
    assert environ_from_scope(scope) == {key: value for key, value in server.items() if key not in unread}
