"""kero_core.asgi.KeroMiddleware through real ASGI requests (httpx's ASGITransport): the WSGI
middleware's contract (what is tracked, the pixel, the dashboard's auth), statuses from
``http.response.start``, exceptions as 500, streamed responses, scopes other than ``http``,
and bad input."""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from typing import Any, Callable

import pytest

from kero_core import Kero
from kero_core.asgi import KeroMiddleware
from kero_core.capture import environ_from_scope
from kero_core.http import PIXEL_GIF
from tests.asgi.conftest import call, get

Scope = dict[str, Any]


async def hello(scope: Scope, receive: Any, send: Any) -> None:
    """A bare ASGI app: /boom raises before answering, /late-boom after its first chunk,
    /stream sends two chunks 50 ms apart, /missing answers 404, /quiet returns without a body."""
    assert scope["type"] == "http"
    path = scope["path"]
    if path == "/boom":
        raise RuntimeError("the host app failed")
    if path == "/quiet":
        await send({"type": "http.response.start", "status": 204, "headers": []})
        return
    status = 404 if path == "/missing" else 200
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
    if path in ("/stream", "/late-boom"):
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        await asyncio.sleep(0.05)
        if path == "/late-boom":
            raise RuntimeError("failed mid-stream")
    await send({"type": "http.response.body", "body": b"hello"})


@pytest.fixture
def kero(make_kero: Callable[..., Kero]) -> Kero:
    return make_kero(pixel_path="/visit.gif", measure_requests=True, ignore_web_assets=True)


@pytest.fixture
def app(kero: Kero) -> KeroMiddleware:
    return KeroMiddleware(hello, kero, users={"admin": "secret"})


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def paths(kero: Kero) -> list[str]:
    return sorted(e.path for e in kero.query())


def test_tracking_rules_are_the_wsgi_middlewares(app: KeroMiddleware, kero: Kero) -> None:
    get(app, "/favicon.ico", "/_kero/", "/visit.gif", "/hello/world", "/hello/earth", "/", "/static/app.css", "/wp-login.php")
    assert paths(kero) == ["/", "/hello/earth", "/hello/world"]


def test_dnt_and_gpc_are_respected(app: KeroMiddleware, kero: Kero, make_kero: Callable[..., Kero], tmp_path: Any) -> None:
    get(app, "/a", DNT="1")
    get(app, "/b", **{"Sec-GPC": "1"})
    get(app, "/visit.gif", DNT="1", Referer="https://example.com/c")
    get(app, "/d", DNT="0")
    assert paths(kero) == ["/d"]
    ignoring = make_kero(ignore_dnt=True, db_path=tmp_path / "ignoring")
    get(KeroMiddleware(hello, ignoring), "/a", DNT="1")
    assert paths(ignoring) == ["/a"]


def test_recorded_fields(app: KeroMiddleware, kero: Kero) -> None:
    get(app, "/hello/world?utm_source=news&utm_campaign=spring", Referer="https://www.Google.com/search?q=x")
    [event] = kero.query()
    assert (event.method, event.path, event.status, event.name, event.route) == ("GET", "/hello/world", 200, "http_req", "")
    assert (event.browser, event.os, event.form_factor, event.is_bot) == ("Chrome", "Windows", "desktop", False)
    assert (event.referrer_domain, event.utm_source, event.utm_campaign) == ("google.com", "news", "spring")
    assert event.visitor_id > 0 and event.duration_ms is not None


def test_the_same_request_gets_the_same_visitor_as_under_wsgi(make_kero: Callable[..., Kero], tmp_path: Any) -> None:
    """The visitor hash reads the same fields from a scope as from a WSGI environ."""
    from werkzeug.test import Client

    from kero_core.wsgi import KeroMiddleware as WSGIMiddleware
    from tests.asgi.conftest import BROWSER

    def wsgi_hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        return [b"hello"]

    kero = make_kero()
    get(KeroMiddleware(hello, kero), "/a")
    Client(WSGIMiddleware(wsgi_hello, kero)).get(
        "/b", headers=BROWSER, environ_base={"REMOTE_ADDR": "81.2.69.142"}).close()
    assert len({e.visitor_id for e in kero.query()}) == 1


async def receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


def direct(app: KeroMiddleware, scope: Scope) -> list[str]:
    """Call the middleware with ``scope`` as a server would; the types of the messages sent."""
    sent: list[str] = []

    async def send(message: Any) -> None:
        sent.append(message["type"])

    asyncio.run(app(scope, receive, send))
    return sent


def test_statuses_and_exceptions(app: KeroMiddleware, kero: Kero) -> None:
    get(app, "/missing")
    # An app that returns without finishing its body (no HTTP client accepts that): recorded at its return.
    assert direct(app, {"type": "http", "method": "GET", "path": "/quiet", "headers": []}) == ["http.response.start"]
    for path in ("/boom", "/late-boom"):
        with pytest.raises(RuntimeError):
            get(app, path)
    assert sorted((e.path, e.status) for e in kero.query()) == [("/boom", 500), ("/late-boom", 500), ("/missing", 404), ("/quiet", 204)]


def test_a_streamed_response_is_timed_to_its_last_chunk(app: KeroMiddleware, kero: Kero) -> None:
    [response] = get(app, "/stream")
    assert response.content == b"ahello"
    [event] = kero.query()
    assert event.duration_ms is not None and event.duration_ms >= 50


@pytest.mark.alone
def test_recorded_at_the_last_chunk_not_when_background_work_ends(kero: Kero) -> None:
    """Work after the response (Starlette's BackgroundTasks run there) is not the request's
    duration, and the request is recorded before it."""
    seen: list[int] = []

    async def with_background(scope: Scope, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        seen.append(len(kero.pipeline._buffer))  # recorded already?
        await asyncio.sleep(0.3)

    get(KeroMiddleware(with_background, kero), "/")
    [event] = kero.query()
    assert seen == [1]
    assert event.duration_ms is not None and event.duration_ms < 300


def test_the_pixel(app: KeroMiddleware, kero: Kero) -> None:
    [response] = get(app, "/visit.gif", Referer="https://example.com/pricing?utm_source=mail")
    assert response.status_code == 200 and response.content == PIXEL_GIF
    assert response.headers["content-type"] == "image/gif"
    [event] = kero.query()
    assert (event.path, event.utm_source) == ("/pricing", "mail")


def test_dashboard_behind_basic_auth(app: KeroMiddleware) -> None:
    denied, wrong, bad, ok, head = call(
        app, ("GET", "/_kero/"), ("GET", "/_kero/"), ("GET", "/_kero/"), ("GET", "/_kero/"), ("HEAD", "/_kero/"),
    )[0], *[
        get(app, "/_kero/", Authorization=value)[0]
        for value in (basic("admin", "wrong"), "Basic !!!", basic("admin", "secret"))
    ], call(app, ("HEAD", "/_kero/"), headers={"Authorization": basic("admin", "secret")})[0]
    assert denied.status_code == 401 and denied.headers["www-authenticate"].startswith("Basic")
    assert (wrong.status_code, bad.status_code) == (401, 401)
    assert ok.status_code == 200 and ok.headers["content-type"] == "text/html; charset=utf-8"
    assert "Content-Security-Policy" in ok.headers and b"<html" in ok.content
    assert head.status_code == 200 and head.content == b""


def test_dashboard_redirects_to_its_slash_and_serves_its_api(app: KeroMiddleware) -> None:
    auth = basic("admin", "secret")
    [redirect] = get(app, "/_kero", Authorization=auth)
    assert redirect.status_code == 308 and redirect.headers["location"] == "_kero/"
    [stats] = get(app, "/_kero/api/stats?period=7d", Authorization=auth)
    assert stats.status_code == 200 and "visitors" in stats.text
    [bad] = get(app, "/_kero/api/stats?period=forever", Authorization=auth)
    assert bad.status_code == 400 and "period" in bad.json()["error"]


def test_dashboard_without_credentials_is_forbidden(make_kero: Callable[..., Kero]) -> None:
    app = KeroMiddleware(hello, make_kero())
    assert [r.status_code for r in get(app, "/_kero/")] == [403]
    assert [r.status_code for r in get(app, "/_kero/", Authorization=basic("", ""))] == [403]


def test_auth_callables_sync_async_and_failing(make_kero: Callable[..., Kero], caplog: pytest.LogCaptureFixture) -> None:
    kero = make_kero()

    def admin_header(scope: Scope) -> bool:
        return (b"x-admin", b"yes") in scope["headers"]

    async def admin_header_async(scope: Scope) -> bool:
        await asyncio.sleep(0)
        return admin_header(scope)

    async def broken(scope: Scope) -> bool:
        raise RuntimeError("auth backend down")

    for auth in (admin_header, admin_header_async):
        app = KeroMiddleware(hello, kero, auth=auth)
        assert [r.status_code for r in get(app, "/_kero/")] == [403]
        assert [r.status_code for r in get(app, "/_kero/", **{"X-Admin": "yes"})] == [200]
    with caplog.at_level(logging.ERROR, logger="kero"):
        assert [r.status_code for r in get(KeroMiddleware(hello, kero, auth=broken), "/_kero/", **{"X-Admin": "yes"})] == [403]
    assert "auth callable failed" in caplog.text


@pytest.mark.alone
def test_the_dashboard_renders_off_the_event_loop(app: KeroMiddleware, monkeypatch: pytest.MonkeyPatch) -> None:
    """A slow dashboard (an injected 1 s render) does not stall a request served meanwhile."""
    from kero_core import own_pages

    render = own_pages.dashboard
    monkeypatch.setattr(own_pages, "dashboard", lambda *args: (time.sleep(1.0), render(*args))[1])

    async def both() -> tuple[float, int]:
        import httpx

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://example.com") as client:
            started = time.perf_counter()
            slow = asyncio.create_task(client.get("/_kero/", headers={"Authorization": basic("admin", "secret")}))
            await asyncio.sleep(0.1)  # the render is under way (or, were it on the loop, blocking it)
            await client.get("/hello")
            took = time.perf_counter() - started
            return took, (await slow).status_code

    took, status = asyncio.run(both())
    assert status == 200
    assert took < 0.6, f"a tracked request waited {took:.2f} s for the dashboard"


def test_websocket_and_lifespan_pass_through_untouched(kero: Kero) -> None:
    seen: list[tuple[str, Any, Any]] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        seen.append((scope["type"], receive, send))

    middleware = KeroMiddleware(app, kero)

    async def receive() -> dict[str, Any]:
        return {}

    async def send(message: Any) -> None:
        pass

    for kind in ("websocket", "lifespan"):
        asyncio.run(middleware({"type": kind, "path": "/ws", "headers": []}, receive, send))
    assert seen == [("websocket", receive, send), ("lifespan", receive, send)]
    assert kero.query() == []


def test_root_path_is_the_mount_point(kero: Kero) -> None:
    """Served under a prefix (``--root-path /app``; servers put it in front of ``path``): the
    recorded path and the dashboard are the app's own, as with WSGI's SCRIPT_NAME."""
    app = KeroMiddleware(hello, kero, users={"admin": "secret"})
    [page, dashboard] = call(app, ("GET", "/app/hello"), ("GET", "/app/_kero"), headers={"Authorization": basic("admin", "secret")},
                             root_path="/app")
    assert page.status_code == 200 and dashboard.status_code == 308
    assert paths(kero) == ["/hello"]


# -- bad input: every one gets a clear outcome, never an error in the host app -------------------
def test_non_utf8_and_encoded_paths_are_stored_readably(app: KeroMiddleware, kero: Kero) -> None:
    """Servers decode the percent-encoded path as UTF-8, bytes that are not become U+FFFD."""
    get(app, "/caf%C3%A9", "/%FF%FE")
    assert paths(kero) == ["/café", "/\ufffd\ufffd"]


def test_huge_and_repeated_headers_are_bounded_and_joined(app: KeroMiddleware, kero: Kero) -> None:
    scope = {"type": "http", "method": "GET", "path": "/", "query_string": b"", "client": None,
             "headers": [(b"x-forwarded-for", b"203.0.113.1"), (b"x-forwarded-for", b"198.51.100.2"), (b"user-agent", b"x" * 100_000)]}
    environ = environ_from_scope(scope)
    assert environ["HTTP_X_FORWARDED_FOR"] == "203.0.113.1,198.51.100.2" and environ["REMOTE_ADDR"] == ""
    get(app, "/long", **{"User-Agent": "y" * 100_000})
    [event] = kero.query()
    assert event.path == "/long"


def test_a_malformed_scope_is_logged_and_the_response_still_sent(kero: Kero, caplog: pytest.LogCaptureFixture) -> None:
    scope = {"type": "http", "method": "GET", "path": "/", "headers": [(b"user-agent", "a str, not bytes")]}
    with caplog.at_level(logging.ERROR, logger="kero"):
        assert direct(KeroMiddleware(hello, kero), scope) == ["http.response.start", "http.response.body"]
    assert "could not record a request" in caplog.text
    assert kero.query() == []


def test_a_kero_failure_never_reaches_the_app(app: KeroMiddleware, kero: Kero, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(kero.pipeline, "record", broken)
    assert [r.status_code for r in get(app, "/hello")] == [200]


def test_a_shared_link_opens_without_credentials_and_only_for_reading(app: KeroMiddleware, kero: Kero) -> None:
    link, token = kero.create_share("path=/pricing")
    [page] = get(app, f"/_kero/share/{token}/")
    assert page.status_code == 200 and page.headers["x-robots-tag"] == "noindex, nofollow"
    [write] = call(app, ("POST", f"/_kero/share/{token}/api/stats"))
    assert write.status_code == 405 and write.headers["allow"] == "GET, HEAD"
    assert [r.status_code for r in get(app, "/_kero/")] == [401]
    kero.revoke_share(link.id)
    assert [r.status_code for r in get(app, f"/_kero/share/{token}/")] == [403]
