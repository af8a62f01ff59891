"""The example project's one command, and runserver with its autoreloader, as real processes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import requests

from kero_core import Kero
from tests.conftest import CHROME_UA, free_port
from tests.django.servers import ROOT, fetch, stop
from tests.django.test_servers import wait_for_events

EXAMPLE = ROOT / "example_sites" / "django_site"


class _Form(HTMLParser):
    """The value of the CSRF token field and the page title."""

    def __init__(self) -> None:
        super().__init__()
        self.csrf, self.title, self._in_title = "", "", False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "input" and values.get("name") == "csrfmiddlewaretoken":
            self.csrf = values.get("value") or ""
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def parse(html: str) -> _Form:
    form = _Form()
    form.feed(html)
    return form


def wait_for_line(log: Path, pattern: str, process: subprocess.Popen[bytes], timeout: float = 90) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        found = re.search(pattern, log.read_text())
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"no {pattern!r} in the output: {log.read_text()}{stop(process)}")


def test_demo_command_seeds_a_week_and_serves_the_site(tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "out.log"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "demo_site.settings", "KERO_DB_PATH": str(tmp_path / "kero"),
           "DJANGO_DB_PATH": str(tmp_path / "db.sqlite3")}
    env.pop("DEMO_ADMIN_PASSWORD", None)
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, str(EXAMPLE / "manage.py"), "demo", "--port", str(port)],
                                   cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        found = wait_for_line(log, r"Dashboard: (\S+)  \(staff user '(\w+)', password '([^']+)'\)", process)
        dashboard, user, password = found.groups()
        assert dashboard == f"http://127.0.0.1:{port}/_kero/"
        wait_for_line(log, r"Quit the server with", process)
        base = f"http://127.0.0.1:{port}"
        with requests.Session() as browser:
            browser.headers["User-Agent"] = CHROME_UA
            visited = [browser.get(base + path).status_code for path in ["/", "/blog/", "/blog/hello-kero/", "/blog/nope/", "/about/"]]
            assert visited == [200, 200, 200, 404, 200]
            assert browser.get(base + "/static/blog/launch.html").status_code == 200
            assert browser.get(base + "/visit.gif", headers={"Referer": base + "/static/blog/launch.html"}).content[:6] == b"GIF89a"
            pricing = browser.get(base + "/pricing/")
            posted_at = time.time()  # the seeded week has signups of its own, up to now
            signup = browser.post(base + "/pricing/", data={"plan": "pro", "csrfmiddlewaretoken": parse(pricing.text).csrf},
                                  headers={"Referer": base + "/pricing/"}, allow_redirects=False)
            assert signup.status_code == 302
            assert browser.get(dashboard, allow_redirects=False).headers["Location"] == "/admin/login/?next=/_kero/"
            login = browser.get(base + "/admin/login/?next=/_kero/")
            page = browser.post(login.url, data={"username": user, "password": password, "next": "/_kero/",
                                                 "csrfmiddlewaretoken": parse(login.text).csrf}, headers={"Referer": login.url})
            assert (page.status_code, page.url) == (200, dashboard)
            assert "Django site stats" in parse(page.text).title
        wait_for_events(tmp_path / "kero", 20_000 + 7)
    finally:
        output = stop(process) + log.read_text()
    assert "Stored 20,000 events" in output and "Traceback" not in output, output
    with Kero(db_path=tmp_path / "kero") as kero:
        assert kero.count(name=None, start=time.time() - 8 * 86_400) >= 20_000
        assert kero.count_visitors(filters={"country!=": ""}) > 100  # seeded through the real GeoLite2 database
        live = {(e.path, e.route, e.status) for e in kero.query(start=time.time() - 600, filters={"browser": "Chrome", "os": "Windows"})}
        assert {("/blog/hello-kero/", "blog/<slug:slug>/", 200), ("/blog/nope/", "blog/<slug:slug>/", 404), ("/static/blog/launch.html", "", 200)} <= live
        [signup_event] = kero.query(name="signup", start=posted_at - 1, filters={"browser": "Chrome", "path": "/pricing/"})
        assert signup_event.labels == {"plan": "pro"}


def test_runserver_with_its_autoreloader(tmp_path: Path) -> None:
    """runserver runs a watching parent and a serving child; a code change starts a new child.
    The old child writes what it holds on its way out (the writer's interval is a minute here,
    so nothing else could have written it), and the new one records into the same folder."""
    port, db_path = free_port(), tmp_path / "kero"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.django.project.settings", "KERO_TEST_DB_PATH": str(db_path),
           "KERO_TEST_FLUSH_INTERVAL": "60"}
    process = subprocess.Popen([sys.executable, "-m", "django", "runserver", f"127.0.0.1:{port}"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        first = _wait_for_pid(base, None)
        assert fetch(base + "/hello/before")[0] == 200
        _wait_for_pid(base, first, touch=ROOT / "tests" / "django" / "project" / "views.py")
        assert wait_for_events(db_path, 1, timeout=5) == 1
        with Kero(db_path=db_path) as kero:
            assert [e.path for e in kero.query()] == ["/hello/before"]
        assert fetch(base + "/hello/after")[0] == 200
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the reloader's parent and its child
        output = stop(process)
    assert "Traceback" not in output and "lock" not in output.lower(), output


def _wait_for_pid(base: str, old: Any, touch: Path | None = None) -> str:
    """The pid of the serving child, once it differs from ``old``. While the old child still
    answers, ``touch`` (a source file) is saved again: the reloader misses changes made before
    its first look at the files."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            status, body = fetch(base + "/_pid/")
        except OSError:  # between two children
            status, body = 0, b""
        if status == 200 and body.decode() != old:
            return body.decode()
        if status == 200 and touch is not None:
            os.utime(touch)
        time.sleep(0.3)
    raise AssertionError("runserver did not (re)start")
