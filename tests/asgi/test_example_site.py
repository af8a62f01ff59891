"""The FastAPI example site: under the literal ``uvicorn app:app`` from its folder (pages, routes,
the JSON API, the background task's custom event, the dashboard's auth, nothing lost at
SIGTERM), and its runner (``make demo-fastapi``) end to end: seed, serve, print credentials
that open the dashboard."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from kero_core import Kero
from tests.asgi.servers import BIN, ROOT, get
from tests.conftest import CHROME_UA, free_port

SITE = ROOT / "example_sites" / "fastapi_site"


def post_json(url: str, body: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": CHROME_UA})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status


def start(command: list[str], cwd: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(command, cwd=cwd, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def wait_for(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            get(url)
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(log.read_text())


def stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def authorization(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_the_site_under_uvicorn(tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "uvicorn.log"
    env = {"KERO_DB_PATH": str(tmp_path / "kero"), "KERO_ADMIN_USER": "admin", "KERO_ADMIN_PASSWORD": "secret"}
    process = start([str(BIN / "uvicorn"), "--port", str(port), "--host", "127.0.0.1", "app:app"], SITE, env, log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(base + "/_kero/", process, log)
        assert [get(base + p) for p in ("/", "/items/2", "/items/99", "/pricing", "/api/items", "/api/items/3")] == [200, 200, 404, 200, 200, 200]
        assert post_json(base + "/api/signup", {"plan": "pro"}) == 200
        request = urllib.request.Request(base + "/_kero/", headers={"Authorization": authorization("admin", "secret")})
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.status == 200
        assert get(base + "/_kero/") == 401
    finally:
        assert stop(process) == -signal.SIGTERM  # uvicorn's own exit: the signal, re-raised
    with Kero(db_path=tmp_path / "kero") as kero:
        assert sorted((e.path, e.route, e.status) for e in kero.query()) == [
            ("/", "/", 200), ("/api/items", "/api/items", 200), ("/api/items/3", "/api/items/{item_id}", 200),
            ("/items/2", "/items/{item_id}", 200), ("/items/99", "/items/{item_id}", 404), ("/pricing", "/pricing", 200),
        ]
        assert [(e.method, e.path, e.status) for e in kero.query("http_other")] == [("POST", "/api/signup", 200)]  # no page view
        [signup] = kero.query(name="signup")
        assert signup.labels == {"plan": "pro"} and signup.browser == "Chrome"


def test_the_runner_seeds_serves_and_prints_working_credentials(tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "run.log"
    env = {k: v for k, v in os.environ.items() if k not in ("KERO_ADMIN_USER", "KERO_ADMIN_PASSWORD", "KERO_DB_PATH")}
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, str(SITE / "run.py"), "--port", str(port), "--db-path", str(tmp_path / "kero")],
                                   cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(base + "/_kero/", process, log)
        text = log.read_text()
        assert "Stored 20,000 events" in text and f"Site:      {base}/" in text
        password = text.split("password '")[1].split("'")[0]
        request = urllib.request.Request(base + "/_kero/api/stats?period=7d", headers={"Authorization": authorization("admin", password)})
        with urllib.request.urlopen(request, timeout=60) as response:
            stats = json.load(response)
        assert stats["figures"] and stats["cards"]
    finally:
        stop(process)
