"""Shared by the HTTP benchmarks: a gunicorn server of one benchmark app on 127.0.0.1, and wrk.

Every server is bounded: it binds a free port, is waited for at most ``READY_TIMEOUT`` seconds,
and is stopped with SIGTERM (Kero and the peers write what they hold at exit), then SIGKILL."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

APPS = Path(__file__).resolve().parent / "http_apps"
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
# wrk sends no User-Agent; a browser's makes every variant do its usual work (parsing, not skipping).
USER_AGENT = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/131.0.0.0 Safari/537.36")
TARGETS = {"flask": "flask_app:app", "django": "django_site.wsgi:application"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def children(pid: int) -> list[int]:
    """The child processes of ``pid``, whichever of its threads started them (Kero's writer
    thread starts the writer process)."""
    found = []
    for task in sorted(Path(f"/proc/{pid}/task").iterdir()):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except FileNotFoundError:  # the thread ended meanwhile
            continue
    return found


@dataclass
class Server:
    """One gunicorn master and its workers, serving ``framework``'s app in ``variant``."""

    framework: str
    variant: str
    workers: int
    data: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    probes: int = 0  # requests the readiness check made (they are recorded too)
    kero_from: str | None = None  # a folder whose kero_* packages replace this checkout's (a "before" run)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hello"

    def start(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "BENCH_VARIANT": "kero" if self.kero_from else self.variant,
               "BENCH_DATA": str(self.data), "DJANGO_SETTINGS_MODULE": "django_site.settings"}
        if self.kero_from:
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [self.kero_from, env.get("PYTHONPATH")]))
        if self.variant == "peer":  # the peer's tables, made once: 4 workers racing to make them can fail
            setup = (["-m", "django", "migrate", "-v", "0"] if self.framework == "django"
                     else ["-c", "import flask_app; flask_app.app.test_client().get('/hello')"])
            subprocess.run([sys.executable, *setup], cwd=APPS, env=env, check=True, timeout=120,
                           capture_output=True)
        self.port = free_port()
        log = open(self.data / "gunicorn.log", "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", str(self.workers), "-b", f"127.0.0.1:{self.port}",
             "--graceful-timeout", "20", TARGETS[self.framework]],
            cwd=APPS, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{self} exited: see {self.data / 'gunicorn.log'}")
            try:
                request = urllib.request.Request(self.url, headers={"User-Agent": USER_AGENT})
                with urllib.request.urlopen(request, timeout=2) as answer:
                    self.probes += 1
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{self} not ready after {READY_TIMEOUT:.0f} s")

    def worker_pids(self) -> list[int]:
        assert self.process is not None
        return children(self.process.pid)

    def cpu_seconds(self) -> float:
        """CPU time (user + system, every thread) the workers and their children (Kero's writer
        processes) have used so far."""
        total = 0
        for worker in self.worker_pids():
            for pid in [worker, *children(worker)]:
                fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
        return total / os.sysconf("SC_CLK_TCK")

    def pin(self, cpu: int) -> None:
        """Keep every thread of the server (master, workers, Kero's writer processes) on ``cpu``;
        threads and processes they start later inherit it."""
        assert self.process is not None
        for pid in _tree(self.process.pid):
            for task in _tasks(pid):
                with contextlib.suppress(ProcessLookupError):  # the thread ended meanwhile
                    os.sched_setaffinity(task, {cpu})

    def stop(self) -> None:
        """SIGTERM (a graceful stop: workers finish and run their exit hooks), then SIGKILL."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)

    def __str__(self) -> str:
        return f"{self.framework}/{self.variant} (gunicorn -w {self.workers})"


@dataclass
class Load:
    """What one wrk run reports."""

    requests: int
    rate: float  # requests per second
    latency_ms: float  # median latency
    p99_ms: float  # 99th percentile of latency
    errors: str  # socket errors and non-2xx answers, '' when none
    cpu_us: float = 0.0  # CPU the server's workers used per request (set by the caller)


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    return [pid, *(descendant for child in children(pid) for descendant in _tree(child))]


def _tasks(pid: int) -> list[int]:
    try:
        return [int(task.name) for task in Path(f"/proc/{pid}/task").iterdir()]
    except FileNotFoundError:  # the process ended meanwhile
        return []


def wrk(url: str, seconds: float, connections: int, threads: int = 1, cpu: int | None = None) -> Load:
    """Drive ``url`` with wrk for ``seconds`` (on ``cpu`` alone, if given); every answer must be a 2xx."""
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency", "-H", f"User-Agent: {USER_AGENT}", url],
        capture_output=True, text=True, check=True, timeout=seconds + 30,
        preexec_fn=None if cpu is None else lambda: os.sched_setaffinity(0, {cpu}),
    ).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = "; ".join(m.strip() for m in re.findall(r"(Socket errors:.*|Non-2xx or 3xx responses:.*)", out))
    return Load(requests, rate, _latency_ms(out, 50), _latency_ms(out, 99), errors)


def _latency_ms(out: str, percentile: int) -> float:
    """A percentile of latency from wrk's ``--latency`` table."""
    value, unit = re.search(rf"{percentile}%\s+([\d.]+)(us|ms|s)\b", out).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
