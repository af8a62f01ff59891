"""The requests every tracking test makes, once through Flask's test client and once through
a real gunicorn: the TrackingTest cases of Kero, statuses, durations, the pixel, the dashboard's
auth, a custom event and a burst of concurrent page views. Tests then assert on the replies and
on what was stored."""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from typing import Callable, Mapping, NamedTuple
from urllib.parse import urljoin

from tests.conftest import CHROME_UA


class Reply(NamedTuple):
    status: int
    headers: Mapping[str, str]
    body: bytes


Get = Callable[..., Reply]  # get(path, **headers) -> Reply

UNTRACKED = ["/favicon.ico", "/_kero/", "/visit.gif", "/static/app.css", "/wp-login.php", "/.env", "/private/secret"]
TRACKED = ["/hello/world", "/hello/earth", "/"]
BURST = 100  # concurrent page views of /hello/<name>
PIXEL_REFERER = "https://example.com/pricing?utm_source=mail"
MOUNT = "/_kero/"
MISSING_ASSET = "/_kero/assets/not-there.css"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


ADMIN = {"Authorization": basic("admin", "secret")}


def run(get: Get, *, parallel: int) -> dict[str, Reply]:
    """Make every request; return the replies the tests look at, by name."""
    replies: dict[str, Reply] = {}
    for path in UNTRACKED + TRACKED:
        replies[path] = get(path)
    for path in ["/slow", "/missing", "/boom", "/stream", "/signup"]:
        replies[path] = get(path)
    replies["pixel"] = get("/visit.gif", Referer=PIXEL_REFERER)
    replies["dashboard wrong password"] = get(MOUNT, Authorization=basic("admin", "wrong"))
    replies["dashboard"] = get(MOUNT, **ADMIN)
    replies["dashboard mount"] = get(MOUNT.rstrip("/"), **ADMIN)
    replies["missing asset"] = get(MISSING_ASSET)
    replies["missing asset authorized"] = get(MISSING_ASSET, **ADMIN)
    for url in dashboard_assets(replies["dashboard"].body):
        replies[f"asset {url}"] = get(url)
        replies[f"asset {url} authorized"] = get(url, **ADMIN)
    with ThreadPoolExecutor(parallel) as pool:
        burst = list(pool.map(lambda i: get(f"/hello/n{i}"), range(BURST)))
    assert [r.status for r in burst] == [200] * BURST
    return replies


def dashboard_assets(page: bytes) -> list[str]:
    """The dashboard's own files its page links to (styles, scripts, images), as absolute paths."""
    finder = _LinkFinder()
    finder.feed(page.decode("utf-8", "replace"))
    absolute = (urljoin(MOUNT, link) for link in finder.links)
    return sorted({url.split("#")[0] for url in absolute if url.startswith(MOUNT) and url != MOUNT})


class _LinkFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"link": "href", "script": "src", "img": "src"}.get(tag)
        for name, value in attrs:
            if name == wanted and value and "://" not in value:
                self.links.append(value)


def default_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {"User-Agent": CHROME_UA, "Accept-Language": "en-GB,en;q=0.9", **headers}
