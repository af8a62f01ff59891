"""The Flask example site: its pages and links, what it records, under the literal
``gunicorn -w 4 'app:create_app()'``, and its runner (the README's main job) end to end."""

from __future__ import annotations

import importlib.util
import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from types import ModuleType
from typing import Iterator

import pytest
import requests
from flask import Flask

from tests.conftest import CHROME_UA, free_port
from tests.flask.conftest import client_get
from tests.flask.scenario import basic
from tests.flask.servers import BIN, REPO, gunicorn_args, serving
from kero_core import Kero as CoreKero

SITE = REPO / "example_sites" / "flask_site"
HEADERS = {"User-Agent": CHROME_UA}


def load_site(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The site's app.py as a module of its own name (Flask finds templates from the module)."""
    spec = importlib.util.spec_from_file_location("flask_example_site", SITE / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ModuleType, Flask]]:
    module = load_site(monkeypatch)
    app = module.create_app({"KERO_DB_PATH": str(tmp_path / "kero"), "KERO_ADMIN_USER": "admin", "KERO_ADMIN_PASSWORD": "secret"})
    yield module, app
    with app.app_context():
        module.kero.close()


class Page(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__()
        self.links: list[str] = []
        self.images: list[str] = []
        self.title = ""
        self._in_title = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a" and values.get("href"):
            self.links.append(str(values["href"]))
        if tag == "img" and values.get("src"):
            self.images.append(str(values["src"]))
        self._in_title = tag == "title" and not self.title  # the page's; SVG charts have their own

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False


def test_every_internal_link_works(site: tuple[ModuleType, Flask]) -> None:
    _, app = site
    get = client_get(app.test_client())
    seen: dict[str, int] = {}
    todo = ["/"]
    while todo:
        path = todo.pop()
        reply = get(path)
        seen[path] = reply.status
        if reply.headers.get("Content-Type", "").startswith("text/html"):
            for link in Page(reply.body.decode()).links:
                if link.startswith("/") and link not in seen and link not in todo:
                    todo.append(link)
    assert seen.pop("/_kero/") == 401  # the footer links the dashboard
    assert set(seen.values()) == {200}, seen
    assert {"/", "/blog", "/blog/hello-kero", "/pricing", "/about", "/api/posts", "/launch.html"} <= set(seen)


def test_what_the_site_records(site: tuple[ModuleType, Flask]) -> None:
    module, app = site
    client = app.test_client()
    get = client_get(client)
    assert Page(get("/blog/privacy-by-design").body.decode()).title == "Privacy by design · Flask site"
    assert get("/blog/no-such-post").status == 404
    assert [p["slug"] for p in app.json.loads(get("/api/posts").body)] == [p.slug for p in module.POSTS]
    assert get("/static/style.css").headers["Content-Type"].startswith("text/css")
    assert b"/visit.gif" in get("/launch.html").body
    assert get("/visit.gif", Referer="http://localhost/launch.html").status == 200
    signup = client.post("/pricing", data={"plan": "pro"}, headers=HEADERS, buffered=True)
    assert signup.status_code == 303 and signup.headers["Location"] == "/thanks?plan=pro"
    assert client.post("/pricing", data={"plan": "free-forever"}, headers=HEADERS, buffered=True).status_code == 400
    with app.app_context():
        views = sorted((e.method, e.path, e.route, e.status) for e in module.kero.query())
        posts = sorted((e.method, e.path, e.route, e.status) for e in module.kero.query("http_other"))
        [event] = module.kero.query(name="signup")
    assert views == [
        ("GET", "/api/posts", "/api/posts", 200),
        ("GET", "/blog/no-such-post", "/blog/<slug>", 404),
        ("GET", "/blog/privacy-by-design", "/blog/<slug>", 200),
        ("GET", "/launch.html", "", 200),  # once, through its pixel: Flask never served it
    ]
    assert posts == [("POST", "/pricing", "/pricing", 303), ("POST", "/pricing", "/pricing", 400)]  # no page views
    assert event.labels == {"plan": "pro"} and event.browser == "Chrome"


def test_launch_page_embeds_the_configured_pixel(site: tuple[ModuleType, Flask]) -> None:
    _, app = site
    page = Page((SITE / "public" / "launch.html").read_text())
    assert page.images == [app.config["KERO_PIXEL_PATH"]]


def test_under_gunicorn_every_request_is_stored_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's production command, literally: gunicorn -w 4 'app:create_app()'."""
    db_path = tmp_path / "kero"
    monkeypatch.setenv("KERO_ADMIN_USER", "boss")
    monkeypatch.setenv("KERO_ADMIN_PASSWORD", "s3cret")
    args, port = gunicorn_args("app:create_app()", SITE)
    pages = ["/", "/blog", "/blog/hello-kero", "/about", "/api/posts"] * 8
    with requests.Session() as session:
        with serving(args, tmp_path / "gunicorn.log", port=port, env={"FLASK_KERO_DB_PATH": str(db_path)}, ready_path="/static/style.css") as server:
            for path in pages:
                assert session.get(server.url + path, headers=HEADERS, timeout=30).status_code == 200
            assert session.get(server.url + "/launch.html", timeout=30).status_code == 200
            pixel = session.get(server.url + "/visit.gif", headers={**HEADERS, "Referer": server.url + "/launch.html"}, timeout=30)
            assert pixel.content.startswith(b"GIF89a")
            assert session.get(server.url + "/_kero/", timeout=30).status_code == 401
            assert session.get(server.url + "/_kero/", auth=("boss", "s3cret"), timeout=30).status_code == 200
    with CoreKero(db_path=db_path) as reader:
        assert reader.count() == len(pages) + 1
        assert reader.count(filters={"path": "/launch.html"}) == 1
    assert "kero:" not in server.log() and "Traceback" not in server.log()


DASHBOARD_LINE = re.compile(r"Dashboard: (http://\S+)  \(user '([^']+)', password '([^']+)'\)")


def run_demo(tmp_path: Path, db_path: Path, log_name: str) -> tuple[str, str]:
    """Run the runner as `make demo` does, fetch a page and the dashboard; return its log."""
    port = free_port()
    args = [str(BIN / "python"), "example_sites/flask_site/run.py", "--port", str(port), "--db-path", str(db_path)]
    with serving(args, tmp_path / log_name, port=port, ready_path="/static/style.css") as server:
        assert requests.get(server.url + "/", headers=HEADERS, timeout=30).status_code == 200
        found = DASHBOARD_LINE.search(server.log())
        assert found, server.log()
        url, user, password = found.groups()
        assert url == f"{server.url}/_kero/"
        assert requests.get(url, timeout=30).status_code == 401
        dashboard = requests.get(url, auth=(user, password), timeout=30)
        assert dashboard.status_code == 200 and Page(dashboard.text).title.startswith("Flask site stats")
        # the site's goals and its funnel, walked through the real routes by the runner
        stats = requests.get(url + "api/stats?period=24h&funnel=Sign-up", auth=(user, password), timeout=30).json()
        assert [g["goal"] for g in stats["goals"]] == ["signup", "/thanks", "/blog/*"]
        steps = [s["visitors"] for s in stats["funnel"]["steps"]]
        assert steps == sorted(steps, reverse=True) and steps[0] >= 40 and steps[-1] >= 10, steps
    return server.log(), password


@pytest.mark.slow
def test_runner_seeds_an_empty_database_then_serves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KERO_ADMIN_USER", raising=False)
    monkeypatch.delenv("KERO_ADMIN_PASSWORD", raising=False)
    db_path = tmp_path / "kero"
    log, password = run_demo(tmp_path, db_path, "first.log")
    assert "Site:      http://127.0.0.1:" in log and "Stored 20,000 events" in log
    assert len(password) >= 12  # made up for the run
    with CoreKero(db_path=db_path) as reader:
        assert reader.count(name=None) >= 20_000
        assert len(reader.top("country", limit=50)) >= 20  # located through the real GeoLite2 database
        assert reader.count(filters={"is_bot": True}) > 0 and reader.top("utm_campaign")
    log, second_password = run_demo(tmp_path, db_path, "second.log")
    assert "Empty database" not in log  # seeded once only
    assert second_password != password
