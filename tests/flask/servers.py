"""Real servers for the Flask tests: a subprocess on a free 127.0.0.1 port, waited for until
it answers, always stopped (SIGTERM, then SIGKILL after a bound), its output kept in a file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping

import requests

from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
START_TIMEOUT = 60.0  # seconds; the seeding runner and 4 gunicorn workers share 2 busy cores
STOP_TIMEOUT = 30.0


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    log_file: Path

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")

    def stop(self, *, group: bool = False) -> None:
        """SIGTERM the server (its whole process group with ``group``) and wait for it."""
        if self.process.poll() is None:
            if group:
                os.killpg(self.process.pid, signal.SIGTERM)
            else:
                self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT)
        finally:
            _kill_leftovers(self.process.pid)


def _kill_leftovers(group: int) -> None:
    try:
        os.killpg(group, signal.SIGKILL)
    except ProcessLookupError:
        pass


@contextmanager
def serving(args: list[str], log_file: Path, *, port: int, env: Mapping[str, str] | None = None,
            cwd: Path = REPO, ready_path: str = "/favicon.ico", group_stop: bool = False) -> Iterator[Server]:
    """Start ``args`` (which must listen on ``port``), wait until it answers ``ready_path`` (a path
    Kero does not track, so that waiting adds no page view), yield, stop it."""
    with open(log_file, "wb") as out:
        process = subprocess.Popen(
            args, cwd=cwd, env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: workers and reloader children die with it
        )
    server = Server(process, f"http://127.0.0.1:{port}", log_file)
    try:
        _wait_until_up(server, ready_path)
        yield server
    finally:
        server.stop(group=group_stop)


def _wait_until_up(server: Server, path: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"the server exited with {server.process.returncode}:\n{server.log()}")
        try:
            requests.get(server.url + path, timeout=5)
            return
        except (requests.ConnectionError, requests.Timeout):  # not listening yet; workers still booting
            time.sleep(0.1)
    raise AssertionError(f"the server did not answer within {START_TIMEOUT:.0f} s:\n{server.log()}")


def gunicorn_args(app: str, chdir: Path, workers: int = 4) -> tuple[list[str], int]:
    """The command line of ``gunicorn -w <workers> '<app>'`` on a free port, and that port."""
    port = free_port()
    args = [str(BIN / "gunicorn"), "-w", str(workers), "-b", f"127.0.0.1:{port}", "--chdir", str(chdir),
            "--graceful-timeout", "10", app]
    return args, port
