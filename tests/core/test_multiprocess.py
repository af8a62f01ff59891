"""The WSGI example under a real `gunicorn -w 4` on 127.0.0.1: every worker records, none fails
on the database lock, and after SIGTERM exactly the requests sent are stored."""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from kero_core import Kero
from tests.conftest import free_port
from tests.django.servers import stop

SITE = Path(__file__).parents[2] / "example_sites" / "wsgi_site"
GUNICORN = Path(sys.executable).with_name("gunicorn")


def start_gunicorn(db_path: Path, *extra: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {**os.environ, "KERO_DB_PATH": str(db_path), "KERO_ADMIN_PASSWORD": "pw"}
    process = subprocess.Popen(
        [str(GUNICORN), "-w", "4", "-b", f"127.0.0.1:{port}", "--chdir", str(SITE), *extra, "app:create_app()"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,  # see stop
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_kero/", timeout=1)
        except urllib.error.HTTPError:  # 401: the server answers
            return process, port
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("gunicorn did not start")


def fetch(url: str) -> int:
    request = urllib.request.Request(url, headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"})
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()
        return response.status


@pytest.mark.parametrize("preload", [pytest.param(False, marks=pytest.mark.slow), True], ids=["fork-then-init", "preload"])
def test_gunicorn_four_workers_store_exactly_what_was_sent(tmp_path: Path, preload: bool) -> None:
    db_path = tmp_path / "kero"
    process, port = start_gunicorn(db_path, *(["--preload"] if preload else []))
    sent = 400
    try:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(fetch, [f"http://127.0.0.1:{port}/hello/{i % 7}" for i in range(sent)]))
    finally:
        stderr = stop(process)
    assert statuses == [200] * sent
    assert "Traceback" not in stderr and "lock" not in stderr.lower(), stderr
    with Kero(db_path=db_path) as kero:
        assert kero.count() == sent
        assert kero.count(filters={"path": "/hello/3"}) == len([i for i in range(sent) if i % 7 == 3])
