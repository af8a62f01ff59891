"""Real gunicorn servers for the reliability tests, and their worker processes.

Each server runs in its own process group (its workers die with it), answers on a free
127.0.0.1 port, is waited for with a bounded, load-tolerant probe, and is stopped with SIGTERM
(then SIGKILL after a bound) when the block ends. Its output goes to a file the test can read."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import requests

from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")
USER, PASSWORD = "admin", "correct horse battery staple"
START_TIMEOUT = 60.0  # seconds: two busy cores shared with other test runs
STOP_TIMEOUT = 40.0  # more than --graceful-timeout


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    log_file: Path

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")

    def stop(self) -> None:
        """SIGTERM the master (it stops its workers gracefully) and wait; SIGKILL what is left."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
        finally:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait()


@contextmanager
def gunicorn(app: str, tmp_path: Path, *options: str, workers: int = 4, db_path: Path | None = None,
             env: dict[str, str] | None = None) -> Iterator[Server]:
    """``gunicorn -w <workers> <options> <app>`` from the repository root, on a free port, with
    the WSGI example's settings in its environment; stopped when the block ends."""
    port = free_port()
    args = [str(GUNICORN), "-w", str(workers), "-b", f"127.0.0.1:{port}", "--graceful-timeout", "20",
            "--no-control-socket", *options, app]
    environment = {**os.environ, "KERO_DB_PATH": str(db_path or tmp_path / "kero"), "KERO_ADMIN_USER": USER,
                   "KERO_ADMIN_PASSWORD": PASSWORD, **(env or {})}
    log_file = tmp_path / "gunicorn.log"
    with open(log_file, "wb") as out:
        process = subprocess.Popen(args, cwd=REPO, env=environment, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    server = Server(process, f"http://127.0.0.1:{port}", log_file)
    try:
        _wait_until_up(server)
        yield server
    finally:
        server.stop()


def _wait_until_up(server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"gunicorn exited with {server.process.returncode}:\n{server.log()}")
        try:
            requests.get(server.url + "/favicon.ico", timeout=5)  # not tracked: waiting adds no page view
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise AssertionError(f"gunicorn did not answer within {START_TIMEOUT:.0f} s:\n{server.log()}")


def worker_pids(master: int) -> list[int]:
    """The pids of ``master``'s children (gunicorn's workers), from /proc."""
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:  # exited meanwhile
                continue
            # "pid (comm) state ppid ...": comm may hold spaces, so split after its ")".
            if int(stat.rpartition(")")[2].split()[1]) == master:
                children.append(int(entry))
    return sorted(children)
