"""The extension object: init_app once per app, one core per app (two apps in one process),
which app's core it answers for, custom events, the dashboard's auth choices, and the host
app's safety (no database or thread before the first request, kero failures swallowed)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable

import pytest
from flask import Flask, request, url_for
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from kero_flask import Kero
from tests.conftest import CHROME_UA
from tests.flask import hello_site
from tests.flask.conftest import client_get
from tests.flask.scenario import ADMIN


def writer_threads() -> int:
    return sum(t.name == "kero-writer" for t in threading.enumerate())


def test_init_app_twice_is_refused(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    with pytest.raises(RuntimeError, match="Kero is already registered on this Flask app"):
        hello_site.kero.init_app(app)
    with pytest.raises(RuntimeError, match="already registered"):
        Kero(app)


def test_registered_in_app_extensions(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    assert app.extensions["kero"] is hello_site.kero
    with app.test_request_context():
        assert url_for("kero.dashboard") == "/_kero/"
        assert url_for("kero.pixel") == "/visit.gif"


def test_two_apps_in_one_process_each_with_its_own_database(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    shop = make_app(KERO_DB_PATH=str(tmp_path / "shop"), KERO_ADMIN_PASSWORD="shop-secret")
    blog = make_app(KERO_DB_PATH=str(tmp_path / "blog"), KERO_DASHBOARD_PATH="/stats")
    shop_get, blog_get = client_get(shop.test_client()), client_get(blog.test_client())
    for i in range(3):
        shop_get(f"/hello/shop{i}")
    blog_get("/")
    with shop.app_context():
        assert sorted(e.path for e in hello_site.kero.query()) == ["/hello/shop0", "/hello/shop1", "/hello/shop2"]
        assert hello_site.kero.config.db_path == tmp_path / "shop"
    with blog.app_context():
        assert [e.path for e in hello_site.kero.query()] == ["/"]
    assert shop_get("/_kero/", Authorization=ADMIN["Authorization"]).status == 401  # shop's own password
    assert blog_get("/stats/", **ADMIN).status == 200 and blog_get("/_kero/", **ADMIN).status == 404


def test_which_core_outside_an_app_context(tmp_path: Path) -> None:
    bound_app, factory_app = Flask("bound"), Flask("factory")
    bound_app.config["KERO_DB_PATH"] = str(tmp_path / "bound")
    factory_app.config["KERO_DB_PATH"] = str(tmp_path / "factory")
    bound, factory = Kero(bound_app), Kero()
    factory.init_app(factory_app)
    assert bound.config.db_path == tmp_path / "bound"  # Kero(app): that app
    with pytest.raises(RuntimeError, match="Kero needs an app context"):
        factory.count()
    with factory_app.app_context():
        assert factory.count() == 0
    with bound_app.app_context(), pytest.raises(RuntimeError, match="Kero is not initialised on the current app 'bound'"):
        factory.count()
    with pytest.raises(AttributeError):
        factory._private_name  # noqa: B018 (attribute access is the test)


def test_track_outside_a_request(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    with app.app_context():
        hello_site.kero.track("import_done", {"rows": 12}, value=12.0)
        [event] = hello_site.kero.query(name="import_done")
    assert (event.labels, event.value, event.method, event.browser) == ({"rows": "12"}, 12.0, "", "")


def test_track_with_an_explicit_request(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    with app.test_request_context("/checkout", headers={"User-Agent": CHROME_UA}, environ_base={"REMOTE_ADDR": "81.2.69.142"}):
        hello_site.kero.track("purchase", {"sku": "A1"}, 19.5, request=request)
        [event] = hello_site.kero.query(name="purchase")
    assert (event.path, event.browser, event.value) == ("/checkout", "Chrome", 19.5)


def test_no_database_and_no_thread_before_the_first_request(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    before = writer_threads()
    app = make_app(KERO_DB_PATH=str(tmp_path / "lazy"))
    assert writer_threads() == before
    assert not (tmp_path / "lazy" / "kero.duckdb").exists()
    client_get(app.test_client())("/")
    assert writer_threads() == before + 1


def test_exception_propagated_by_flask_is_recorded_as_500(make_app: Callable[..., Flask]) -> None:
    app = make_app(TESTING=True)  # Flask re-raises view errors instead of answering 500
    with pytest.raises(RuntimeError, match="the host app failed"):
        client_get(app.test_client())("/boom")
    with app.app_context():
        [event] = hello_site.kero.query()
    assert (event.path, event.route, event.status) == ("/boom", "/boom", 500)


def test_a_flask_app_mounted_inside_lends_no_route(tmp_path: Path) -> None:
    """An app that hands its environ on to another Flask app (werkzeug's dispatcher, mounted
    before Kero) records those requests too, but not with the other app's URL rules."""
    inner = Flask("inner")
    inner.add_url_rule("/page/<n>", "page", lambda n: f"inner {n}")
    app = Flask("outer")
    app.add_url_rule("/own/<n>", "own", lambda n: f"outer {n}")
    app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {"/sub": inner})  # type: ignore[method-assign]
    app.config["KERO_DB_PATH"] = str(tmp_path / "kero")
    kero = Kero(app)
    get = client_get(app.test_client())
    assert (get("/sub/page/1").body, get("/own/2").body) == (b"inner 1", b"outer 2")
    with app.app_context():
        routes = sorted(e.route for e in kero.query())
        kero.close()
    assert routes == ["", "/own/<n>"]


def test_do_not_track_is_respected(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    get = client_get(app.test_client())
    get("/hello/dnt", DNT="1")
    get("/hello/gpc", **{"Sec-GPC": "1"})
    get("/signup", DNT="1")
    get("/hello/ok")
    with app.app_context():
        assert [e.path for e in hello_site.kero.query(name=None)] == ["/hello/ok"]


def test_a_kero_failure_never_reaches_the_app(make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app()

    def broken(hit: Any) -> None:
        raise OSError("injected fault")

    with app.app_context():
        monkeypatch.setattr(hello_site.kero.pipeline, "record", broken)
    get = client_get(app.test_client())
    assert get("/hello/world") == get("/hello/world")._replace(status=200, body=b"hello world")
    assert get("/signup").body == b"welcome"
    assert get("/visit.gif", Referer="https://example.com/a").status == 200


def test_dashboard_without_credentials_is_forbidden_to_everyone(make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KERO_ADMIN_USER", raising=False)
    monkeypatch.delenv("KERO_ADMIN_PASSWORD", raising=False)
    get = client_get(make_app(KERO_ADMIN_USER=None, KERO_ADMIN_PASSWORD=None).test_client())
    for headers in ({}, ADMIN, {"Authorization": "Basic Og=="}):  # "Og==" is ":"
        reply = get("/_kero/", **headers)
        assert reply.status == 403 and "WWW-Authenticate" not in reply.headers
        assert b"KERO_ADMIN_USER" in reply.body
    assert get("/_kero/assets/app.css").status == 403


def auth_app(tmp_path: Path, auth: Callable[[], bool]) -> Flask:
    app = Flask(__name__)
    app.config.update(KERO_DB_PATH=str(tmp_path / "kero"), KERO_ADMIN_USER="admin", KERO_ADMIN_PASSWORD="secret")
    Kero(app, auth=auth)
    return app


def test_auth_callable_decides_instead_of_basic_auth(tmp_path: Path) -> None:
    app = auth_app(tmp_path, lambda: request.headers.get("X-Role") == "admin")
    get = client_get(app.test_client())
    assert get("/_kero/").status == 403
    assert get("/_kero/", **ADMIN).status == 403  # the configured credentials no longer apply
    assert get("/_kero/", **{"X-Role": "admin"}).status == 200
    assert get("/_kero/assets/none.css", **{"X-Role": "admin"}).status == 404
    assert get("/_kero/assets/none.css").status == 403


def test_failing_auth_callable_refuses_and_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> bool:
        raise KeyError("no session")

    get = client_get(auth_app(tmp_path, broken).test_client())
    assert get("/_kero/").status == 403
    assert "the dashboard auth callable failed" in caplog.text


def test_dashboard_head_request(make_app: Callable[..., Flask]) -> None:
    response = make_app().test_client().head("/_kero/", headers=ADMIN)
    assert response.status_code == 200 and response.data == b""


def test_init_app_after_the_first_request_changes_nothing(tmp_path: Path) -> None:
    app = Flask(__name__)
    app.config["KERO_DB_PATH"] = str(tmp_path / "kero")
    app.test_client().get("/")
    wsgi_app = app.wsgi_app
    with pytest.raises(AssertionError, match="already handled its first request"):
        Kero(app)
    assert "kero" not in app.extensions and app.wsgi_app == wsgi_app


def test_a_shared_link_opens_without_credentials_and_only_for_reading(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    with app.app_context():
        core = app.extensions["kero"].core
    link, token = core.create_share("path=/pricing")
    client = app.test_client()
    page = client.get(f"/_kero/share/{token}/")
    assert page.status_code == 200 and page.headers["X-Robots-Tag"] == "noindex, nofollow"
    assert client.get(f"/_kero/share/{token}/api/stats").status_code == 200
    assert client.post(f"/_kero/share/{token}/api/stats").status_code == 405
    assert client.get("/_kero/").status_code == 401  # the dashboard itself still asks for credentials
    core.revoke_share(link.id)
    assert client.get(f"/_kero/share/{token}/").status_code == 403
