"""Real ASGI servers on 127.0.0.1 for the tests, started the way their documentation says, on a
free port, each in its own process group; waited for with a bounded probe and stopped with one
signal (then SIGKILL to the group after a bound, which a test treats as a failure)."""

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

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
START_TIMEOUT = 90.0  # four workers importing FastAPI and DuckDB on two busy cores
STOP_TIMEOUT = 60.0


def command(kind: str, app: str, port: int) -> list[str]:
    """The command line a user would type to serve ``app`` with ``kind``."""
    bind = f"127.0.0.1:{port}"
    return {
        "uvicorn": [str(BIN / "uvicorn"), "--host", "127.0.0.1", "--port", str(port), "--no-access-log", app],
        "uvicorn-workers": [str(BIN / "uvicorn"), "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
                            "--workers", "4", app],
        "gunicorn-uvicorn": [str(BIN / "gunicorn"), "-w", "4", "-k", "uvicorn.workers.UvicornWorker", "-b", bind,
                             "--no-control-socket", app],
        "hypercorn": [str(BIN / "hypercorn"), "-b", bind, app],
        "daphne": [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), app],
        "granian": [str(BIN / "granian"), "--interface", "asgi", "--host", "127.0.0.1", "--port", str(port),
                    "--no-ws", app],
    }[kind]


@dataclass
class Running:
    process: subprocess.Popen[bytes]
    url: str
    log_file: Path
    returncode: int | None = None

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")

    def stop(self, signum: int = signal.SIGTERM, *, group: bool = False) -> int:
        """Send ``signum`` once, to the server's main process or, with ``group``, to all its
        processes (as a terminal's Ctrl+C and systemd do), and wait for the server to end; its
        return code. A server that does not end within STOP_TIMEOUT is killed, and
        AssertionError raised."""
        if self.process.poll() is None:
            if group:
                os.killpg(self.process.pid, signum)
            else:
                self.process.send_signal(signum)
        try:
            self.returncode = self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"the server did not stop on one {signal.Signals(signum).name}:\n{self.log()}")
        self.kill()  # workers a master left behind would be a failure to stop too; see the tests
        return self.returncode

    def kill(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()


@contextmanager
def serve(kind: str, app: str, tmp_path: Path, env: dict[str, str] | None = None) -> Iterator[Running]:
    """Serve ``app`` (``module:attribute``) with the server ``kind`` until the block ends."""
    port = free_port()
    log_file = tmp_path / f"{kind}.log"
    environ = {**os.environ, "KERO_DB_PATH": str(tmp_path / "kero"), **(env or {})}
    with open(log_file, "wb") as out:
        process = subprocess.Popen(command(kind, app, port), cwd=ROOT, env=environ, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    running = Running(process, f"http://127.0.0.1:{port}", log_file)
    try:
        _wait_until_up(running)
        yield running
    finally:
        if running.returncode is None:
            running.kill()


def get(url: str) -> int:
    """GET ``url`` as a browser would, on a new connection; the status."""
    request = urllib.request.Request(url, headers={"User-Agent": CHROME_UA, "Accept-Language": "en-GB,en;q=0.9"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        with error:
            return error.code


def _wait_until_up(running: Running) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if running.process.poll() is not None:
            raise AssertionError(f"the server exited with {running.process.returncode}:\n{running.log()}")
        try:
            get(running.url + "/_kero/")  # Kero's own path, never tracked: waiting adds no page view
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"the server did not answer within {START_TIMEOUT:.0f} s:\n{running.log()}")
