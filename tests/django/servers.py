"""Real servers for the tests: gunicorn and uvicorn on 127.0.0.1, a free port, bounded waits,
and SIGTERM at the end (the servers' workers then write what they buffered)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from tests.conftest import CHROME_UA, free_port

ROOT = Path(__file__).parents[2]
BIN = Path(sys.executable).parent


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def fetch(url: str, **headers: str) -> tuple[int, bytes]:
    """GET ``url`` like a browser would; redirects are not followed."""
    request = urllib.request.Request(url, headers={"User-Agent": CHROME_UA, "Accept-Language": "en-GB,en;q=0.9", **headers})
    try:
        with _opener.open(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


@dataclass
class Server:
    url: str
    stderr: str = ""  # filled in once the server has stopped


@contextmanager
def server(kind: str, settings: str, db_path: Path, *args: str, app: str = "", env: dict[str, str] | None = None) -> Iterator[Server]:
    """Run ``gunicorn`` (default app: the WSGI one) or ``uvicorn`` (default: the ASGI one,
    without lifespan) on the test project until the block ends."""
    port = free_port()
    if kind == "gunicorn":
        command = [str(BIN / "gunicorn"), "-b", f"127.0.0.1:{port}", *args, app or "tests.django.project.wsgi:application"]
    else:
        lifespan = "on" if app else "off"
        command = [str(BIN / "uvicorn"), "--host", "127.0.0.1", "--port", str(port), "--lifespan", lifespan, "--no-access-log",
                   *args, app or "tests.django.project.asgi:application"]
    environ = {**os.environ, "DJANGO_SETTINGS_MODULE": settings, "KERO_TEST_DB_PATH": str(db_path), **(env or {})}
    process = subprocess.Popen(command, cwd=ROOT, env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True)  # its workers too are killed if it hangs (see stop)
    running = Server(f"http://127.0.0.1:{port}")
    try:
        _wait_until_up(running.url, process)
        yield running
    finally:
        running.stderr = stop(process)


def _wait_until_up(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            fetch(base + "/_kero/")  # any answer means the server is up; the dashboard is not tracked
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the server did not start: {stop(process)}")


def stop(process: subprocess.Popen[bytes]) -> str:
    """SIGTERM, then wait (bounded) and return what the server wrote on stderr; a server (or a
    worker of it) still there 30 s later is killed, and fails the test."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        _, stderr = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:  # a worker that hangs at exit keeps stderr open: kill them all
        try:
            os.killpg(process.pid, signal.SIGKILL)  # started in a session of its own (see server)
        except ProcessLookupError:  # one that was not
            process.kill()
        _, stderr = process.communicate(timeout=30)
        raise AssertionError(f"the server did not stop within 30 s of SIGTERM (killed): {stderr.decode(errors='replace')}")
    return (stderr or b"").decode(errors="replace")
