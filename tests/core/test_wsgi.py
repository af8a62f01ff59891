"""KeroMiddleware through real WSGI requests (werkzeug's test client): what is tracked, the
pixel, the dashboard's auth, statuses, durations and streamed responses."""

from __future__ import annotations

import base64
import time
from typing import Any, Callable, Iterable, Iterator

import pytest
from werkzeug.test import Client

from kero_core import Kero
from kero_core.http import PIXEL_GIF
from kero_core.wsgi import KeroMiddleware
from tests.conftest import CHROME_UA


def hello_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    path = environ["PATH_INFO"]
    if path == "/boom":
        raise RuntimeError("the host app failed")
    if path == "/slow":
        time.sleep(0.123)
    if path == "/stream":
        def chunks() -> Iterator[bytes]:
            yield b"a"
            time.sleep(0.05)
            yield b"b"
        start_response("200 OK", [("Content-Type", "text/plain")])
        return chunks()
    if path == "/stream-fails":
        def failing() -> Iterator[bytes]:
            yield b"a"
            raise RuntimeError("failed mid-stream")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return failing()
    status = "404 Not Found" if path == "/missing" else "200 OK"
    start_response(status, [("Content-Type", "text/plain")])
    return [b"hello"]


@pytest.fixture
def kero(make_kero: Callable[..., Kero]) -> Kero:
    return make_kero(pixel_path="/visit.gif", measure_requests=True, ignore_web_assets=True)


@pytest.fixture
def client(kero: Kero) -> Client:
    return Client(KeroMiddleware(hello_app, kero, users={"admin": "secret"}))


def get(client: Client, path: str, **headers: str) -> Any:
    headers.setdefault("User-Agent", CHROME_UA)
    return client.get(path, headers=headers, environ_base={"REMOTE_ADDR": "81.2.69.142"}, buffered=True)


def paths(kero: Kero) -> list[str]:
    return sorted(e.path for e in kero.query())


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_tracking_cases_of_kero(client: Client, kero: Kero) -> None:
    for path in ["/favicon.ico", "/_kero/", "/visit.gif", "/hello/world", "/hello/earth", "/", "/static/app.css", "/wp-login.php"]:
        get(client, path)
    assert paths(kero) == ["/", "/hello/earth", "/hello/world"]


def test_recorded_fields(client: Client, kero: Kero) -> None:
    get(client, "/hello/world?utm_source=news&utm_campaign=spring", Referer="https://www.Google.com/search?q=x")
    [event] = kero.query()
    assert (event.method, event.path, event.status, event.name) == ("GET", "/hello/world", 200, "http_req")
    assert (event.browser, event.os, event.form_factor, event.is_bot) == ("Chrome", "Windows", "desktop", False)
    assert (event.referrer_domain, event.utm_source, event.utm_campaign) == ("google.com", "news", "spring")
    assert event.visitor_id > 0
    assert event.duration_ms is not None and event.duration_ms >= 0


def test_status_and_duration(client: Client, kero: Kero) -> None:
    get(client, "/missing")
    get(client, "/slow")
    with pytest.raises(RuntimeError, match="the host app failed"):
        get(client, "/boom")
    by_path = {e.path: e for e in kero.query()}
    assert by_path["/missing"].status == 404
    assert by_path["/boom"].status == 500
    assert by_path["/slow"].duration_ms >= 123


def test_streamed_response_duration_covers_the_whole_body(client: Client, kero: Kero) -> None:
    response = get(client, "/stream")
    assert response.data == b"ab"
    [event] = kero.query()
    assert event.duration_ms >= 50


def test_exception_while_streaming_counts_as_500(client: Client, kero: Kero) -> None:
    with pytest.raises(RuntimeError, match="failed mid-stream"):
        get(client, "/stream-fails")
    assert [e.status for e in kero.query()] == [500]


def test_pixel_is_a_gif_and_records_the_referer_path(client: Client, kero: Kero) -> None:
    response = get(client, "/visit.gif", Referer="https://example.com/pricing?utm_source=mail")
    assert response.status_code == 200
    assert response.data == PIXEL_GIF and response.data.startswith(b"GIF89a")
    assert response.headers["Content-Type"] == "image/gif"
    assert "no-cache" in response.headers["Cache-Control"]
    [event] = kero.query()
    assert (event.path, event.referrer, event.utm_source) == ("/pricing", "", "mail")


@pytest.mark.parametrize("referer", [None, "", "not a url", "javascript:alert(1)", "https://"])
def test_pixel_without_usable_referer_records_nothing(client: Client, kero: Kero, referer: str | None) -> None:
    headers = {} if referer is None else {"Referer": referer}
    assert get(client, "/visit.gif", **headers).status_code == 200
    assert kero.count() == 0


def test_dnt_and_gpc_are_respected(client: Client, kero: Kero) -> None:
    get(client, "/a", DNT="1")
    get(client, "/b", **{"Sec-GPC": "1"})
    get(client, "/visit.gif", DNT="1", Referer="https://example.com/c")
    get(client, "/d", DNT="0")
    assert paths(kero) == ["/d"]


def test_ignore_dnt_records_them(make_kero: Callable[..., Kero], tmp_path: Any) -> None:
    kero = make_kero(ignore_dnt=True)
    client = Client(KeroMiddleware(hello_app, kero))
    get(client, "/a", DNT="1")
    assert paths(kero) == ["/a"]


def test_user_added_prefix_and_suffix(client: Client, kero: Kero) -> None:
    kero.ignored_prefixes.append("/admin")
    kero.ignored_suffixes.append(".pdf")
    for path in ["/admin/users", "/report.PDF", "/ok"]:
        get(client, path)
    assert paths(kero) == ["/ok"]


def test_user_added_prefix_applies_without_ignore_web_assets(make_kero: Callable[..., Kero]) -> None:
    kero = make_kero()
    kero.ignored_prefixes.append("/health")
    client = Client(KeroMiddleware(hello_app, kero))
    for path in ["/health", "/style.css", "/favicon.ico"]:
        get(client, path)
    assert paths(kero) == ["/favicon.ico", "/style.css"]


def test_bots_recorded_or_ignored(make_kero: Callable[..., Kero], tmp_path: Any) -> None:
    keep = make_kero(db_path=tmp_path / "keep")
    drop = make_kero(db_path=tmp_path / "drop", ignore_bots=True)
    for kero in (keep, drop):
        client = Client(KeroMiddleware(hello_app, kero))
        get(client, "/a", **{"User-Agent": "curl/8.5.0"})
        get(client, "/b", **{"User-Agent": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"})
        get(client, "/c")
    assert [e.is_bot for e in sorted(keep.query(), key=lambda e: e.path)] == [True, True, False]
    assert paths(drop) == ["/c"]


def test_dashboard_requires_credentials(client: Client) -> None:
    response = client.get("/_kero/")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert client.get("/_kero/", headers={"Authorization": basic("admin", "wrong")}).status_code == 401
    assert client.get("/_kero/", headers={"Authorization": "Basic !!!"}).status_code == 401
    ok = client.get("/_kero/", headers={"Authorization": basic("admin", "secret")})
    assert ok.status_code == 200 and b"page views" in ok.data


def test_dashboard_redirects_to_its_trailing_slash(client: Client) -> None:
    response = client.get("/_kero", headers={"Authorization": basic("admin", "secret")})
    assert response.status_code == 308 and response.headers["Location"].endswith("_kero/")


@pytest.mark.parametrize("user,password", [("admïn", "secret"), ("admin", "sécret"), ("☃", "☃")])
def test_non_ascii_credentials_get_401_not_500(client: Client, user: str, password: str) -> None:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    assert client.get("/_kero/", headers={"Authorization": f"Basic {token}"}).status_code == 401


def test_dashboard_without_credentials_is_forbidden(make_kero: Callable[..., Kero]) -> None:
    client = Client(KeroMiddleware(hello_app, make_kero()))
    assert client.get("/_kero/").status_code == 403
    assert client.get("/_kero/", headers={"Authorization": basic("", "")}).status_code == 403


def test_auth_callable(make_kero: Callable[..., Kero]) -> None:
    client = Client(KeroMiddleware(hello_app, make_kero(), auth=lambda env: env.get("HTTP_X_ADMIN") == "yes"))
    assert client.get("/_kero/").status_code == 403
    assert client.get("/_kero/", headers={"X-Admin": "yes"}).status_code == 200


def test_failing_auth_callable_refuses(make_kero: Callable[..., Kero]) -> None:
    def broken(environ: Any) -> bool:
        raise KeyError("no session")

    client = Client(KeroMiddleware(hello_app, make_kero(), auth=broken))
    assert client.get("/_kero/").status_code == 403


def test_dashboard_is_not_tracked(client: Client, kero: Kero) -> None:
    client.get("/_kero/", headers={"Authorization": basic("admin", "secret")})
    client.get("/_kero/static/x.css")
    assert kero.count() == 0


def test_a_kero_failure_never_reaches_the_app(client: Client, kero: Kero, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(hit: Any) -> None:
        raise OSError("injected fault")

    monkeypatch.setattr(kero.pipeline, "record", broken)
    response = get(client, "/hello/world")
    assert response.status_code == 200 and response.data == b"hello"
