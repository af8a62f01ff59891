"""A real server on 127.0.0.1 serving a KeroMiddleware app seeded with synthetic traffic (and a
few hostile page views), and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
from werkzeug.serving import make_server

from kero_core import Kero
from kero_core.capture import hit_from_environ
from kero_core.synthetic import generate
from kero_core.wsgi import KeroMiddleware
from tests.conftest import environ

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
USER, PASSWORD = "admin", "secret"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
XSS = ['<script>alert("path")</script>', '"><svg onload=alert("svg")>', '<img src=x onerror=alert("img")>']


def _site(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


def hostile_hits(now: float) -> list[Any]:
    """Page views whose path, referrer, campaign and event name are script payloads."""
    hits = []
    for i, payload in enumerate(XSS):
        ip = f"81.2.69.{200 + i}"
        query = f"utm_source={quote(payload, safe='')}&utm_medium={quote(payload, safe='')}"
        hits.append(hit_from_environ(environ("/" + payload, REMOTE_ADDR=ip, QUERY_STRING=query,
                                             HTTP_REFERER=f"https://x{i}.example.com/{payload}"),
                                     now - 60 - i, status=200, duration_ms=12.0))
        hits.append(hit_from_environ(environ("/e", REMOTE_ADDR=ip), now - 60 - i, name=payload, labels={"k": payload}))
    return hits


class Server:
    def __init__(self, kero: Kero) -> None:
        self.kero = kero
        self.httpd = make_server("127.0.0.1", 0, KeroMiddleware(_site, kero, users={USER: PASSWORD}), threaded=True)
        self.origin = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="dashboard-test-server", daemon=True)

    @property
    def dashboard(self) -> str:
        return self.origin + "/_kero/"

    @classmethod
    @contextmanager
    def running(cls, kero: Kero) -> Iterator[Server]:
        """The dashboard of ``kero`` served until the block ends; ``kero`` is closed then."""
        srv = cls(kero)
        srv.thread.start()
        try:
            yield srv
        finally:
            srv.httpd.shutdown()
            srv.httpd.server_close()
            srv.thread.join(5)
            kero.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Seeded once: a week of a small site (6,000 page views) ending now, plus hostile strings."""
    from _maxminddb_geolite2 import geolite2_database

    kero = Kero(db_path=tmp_path_factory.mktemp("browser") / "kero", geoip_db=geolite2_database(),
                measure_requests=True, title="Demo shop")
    now = time.time()
    kero.ingest(generate(6000, days=7, seed=11, end=now - 1))
    kero.ingest(hostile_hits(now))
    with Server.running(kero) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Module-scoped: Playwright's sync API keeps an event loop running in the main thread while
    it is started, which would break asyncio.run() in the test modules that follow."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    expect.set_options(timeout=15_000)  # a shared 2-core machine can be slow; a real failure still fails
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Watched:
    """A page, with what went wrong on it: console errors, script errors, dialogs, and requests
    to anything but the test server."""

    def __init__(self, page: Page, origin: str) -> None:
        self.page = page
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.foreign: list[str] = []
        self.requests: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))

        def request(r: Any) -> None:
            self.requests.append(r.url)
            if not (r.url.startswith(origin + "/") or r.url.startswith("data:")):
                self.foreign.append(r.url)

        page.on("request", request)

    def assert_clean(self) -> None:
        assert (self.errors, self.dialogs, self.foreign) == ([], [], [])


@pytest.fixture
def make_page(browser: Browser, server: Server) -> Iterator[Callable[..., Watched]]:
    contexts: list[BrowserContext] = []

    def make(**options: Any) -> Watched:
        options.setdefault("viewport", {"width": 1280, "height": 900})
        context = browser.new_context(http_credentials={"username": USER, "password": PASSWORD}, **options)
        contexts.append(context)
        return Watched(context.new_page(), server.origin)

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def watched(make_page: Callable[..., Watched]) -> Watched:
    return make_page()
