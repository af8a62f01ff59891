"""The writer process: an app process hands its hits to a process of Kero's own, which builds and
spools them; it survives its app's Ctrl-C and death long enough to spool what it got, and when it
cannot start or dies, the app's writer thread builds the events itself."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Callable

import pytest

from kero_core import Kero, writer_process
from tests.conftest import environ


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_until_gone(pid: int, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not alive(pid)


def record(kero: Kero, n: int, path: str = "/") -> None:
    for i in range(n):
        kero.record_request(environ(path, REMOTE_ADDR=f"81.2.69.{i % 200}"), status=200)


def test_the_app_hands_its_hits_to_a_writer_process_that_builds_and_spools_them(make_kero: Callable[..., Kero]) -> None:
    kero = make_kero(flush_interval=3600)
    record(kero, 100)
    assert kero.pipeline.write()  # handed over, and spooled when this returns
    process = kero.pipeline._process
    assert process is not None and alive(process.process.pid)
    with open(f"/proc/{process.process.pid}/cmdline", "rb") as cmdline:
        assert cmdline.read().split(b"\0")[1:4] == [b"-m", b"kero_core.writer_process", str(kero.config.db_path).encode()]
    spooled = kero.store.pending()
    assert spooled and all(f"-{os.getpid()}-" in path.name for path in spooled)  # named after the app process
    assert kero.pipeline._builder is None  # which never built a batch
    assert os.getsid(process.process.pid) != os.getsid(0)  # a terminal's Ctrl-C does not reach it
    assert kero.count() == 100 and kero.dropped == 0
    kero.close()
    wait_until_gone(process.process.pid)  # close() ends it


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="SCHED_IDLE is Linux's")
def test_the_background_work_runs_only_on_an_idle_core(make_kero: Callable[..., Kero]) -> None:
    """The writer thread and the writer process run under SCHED_IDLE (they wait for the app's
    requests instead of taking turns with them); the app's own threads keep their policy."""
    kero = make_kero(flush_interval=3600)
    record(kero, 5)
    assert kero.pipeline.write()
    thread, process = kero.pipeline._thread, kero.pipeline._process
    assert thread is not None and thread.native_id is not None and process is not None
    deadline = time.monotonic() + 10
    while os.sched_getscheduler(thread.native_id) != os.SCHED_IDLE and time.monotonic() < deadline:
        time.sleep(0.01)  # the thread sets it first thing, once it runs
    assert os.sched_getscheduler(thread.native_id) == os.SCHED_IDLE
    assert os.sched_getscheduler(process.process.pid) == os.SCHED_IDLE
    assert os.sched_getscheduler(0) == os.SCHED_OTHER  # this (the request) thread: untouched
    assert kero.count() == 5


def test_cores_busy_to_the_last_one_hold_the_events_back_without_losing_any(make_kero: Callable[..., Kero]) -> None:
    """docs/reliability.md: while every core runs something else the background work waits (it
    runs when a core is idle); once cores are free again every event is stored."""
    kero = make_kero(flush_interval=0.05)
    busy = textwrap.dedent("""
        import os, sys, time
        os.sched_setaffinity(0, {int(sys.argv[1])})
        end = time.monotonic() + 3
        while time.monotonic() < end:
            pass
    """)
    hogs = [subprocess.Popen([sys.executable, "-c", busy, str(cpu)]) for cpu in sorted(os.sched_getaffinity(0))]
    try:
        for _ in range(20):
            record(kero, 25)
            time.sleep(0.1)
    finally:
        for hog in hogs:
            assert hog.wait(30) == 0
    assert kero.count() == 500 and kero.dropped == 0


def test_where_sched_idle_is_refused_run_when_idle_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "sched_setscheduler", refuse, raising=False)
    assert writer_process.run_when_idle() is False


def test_writer_process_false_builds_in_the_apps_writer_thread(make_kero: Callable[..., Kero]) -> None:
    kero = make_kero(flush_interval=3600, writer_process=False)
    record(kero, 10)
    assert kero.count() == 10
    assert kero.pipeline._process is None and kero.pipeline._builder is not None


def test_a_read_only_kero_starts_no_writer_process(make_kero: Callable[..., Kero]) -> None:
    kero = make_kero()
    record(kero, 1)
    kero.close()
    reader = make_kero(read_only=True)
    assert reader.count() == 1 and reader.pipeline._hand_to is None


def test_a_value_pickle_refuses_travels_as_its_text(make_kero: Callable[..., Kero]) -> None:
    class Amount:  # a local class: pickle cannot name it
        def __str__(self) -> str:
            return "2.5"

        def __float__(self) -> float:
            return 2.5

    kero = make_kero(flush_interval=3600)
    kero.track("paid", value=Amount())
    kero.track("paid", value=3)
    assert sorted(event.value for event in kero.query(name="paid")) == [2.5, 3.0]
    assert kero.dropped == 0


def test_ctrl_c_and_sigterm_leave_the_writer_process_spooling(make_kero: Callable[..., Kero]) -> None:
    """A server's stop or a Ctrl-C reaches the app, which hands over what it holds first; the
    writer process ends when its app closes the pipe, not on the signal."""
    kero = make_kero(flush_interval=3600)
    record(kero, 5)
    kero.pipeline.write()
    pid = kero.pipeline._process.process.pid  # type: ignore[union-attr]
    os.kill(pid, signal.SIGINT)
    os.kill(pid, signal.SIGTERM)
    record(kero, 5, "/after")
    assert kero.count() == 10 and alive(pid)


def test_a_writer_process_that_dies_leaves_the_building_to_the_thread(
    make_kero: Callable[..., Kero], caplog: pytest.LogCaptureFixture
) -> None:
    kero = make_kero(flush_interval=3600)
    record(kero, 100)
    assert kero.flush()
    process = kero.pipeline._process
    assert process is not None
    os.kill(process.process.pid, signal.SIGSTOP)  # it cannot read what comes next
    record(kero, 7, "/lost")
    kero.pipeline.write(confirm=False)  # handed over, never spooled
    os.kill(process.process.pid, signal.SIGKILL)
    process.process.wait(30)  # every thread gone (its leader is a zombie before they are), the pipe closed
    with caplog.at_level(logging.WARNING, logger="kero"):
        record(kero, 3, "/later")
        assert kero.flush()
    assert f"the writer process {process.process.pid} stopped" in caplog.text
    assert "up to 7 events it had not spooled are lost" in caplog.text
    assert kero.dropped == 7  # counted, as a full buffer's drops are
    assert kero.count() == 103 and kero.count(filters={"path": "/later"}) == 3
    assert kero.pipeline._process is None and kero.pipeline._builder is not None


@pytest.mark.parametrize("python", ["/nonexistent/python3", "/bin/false", "/usr/bin/python3-but-exits"])
def test_a_writer_process_that_cannot_start_leaves_the_building_to_the_thread(
    make_kero: Callable[..., Kero], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, python: str,
    tmp_path: Path,
) -> None:
    """A Python that is not there, or that fails at once."""
    if python.endswith("-but-exits"):
        python = str(tmp_path / "python3-but-exits")
        Path(python).write_text("#!/bin/sh\nexit 3\n")
        os.chmod(python, 0o755)
    monkeypatch.setattr(sys, "executable", python)
    kero = make_kero(flush_interval=3600)
    with caplog.at_level(logging.WARNING, logger="kero"):
        record(kero, 4)
        assert kero.count() == 4
    assert "could not start the writer process" in caplog.text
    assert kero.pipeline._process is None and kero.pipeline._builder is not None


def test_hits_handed_over_are_stored_though_the_app_is_killed(tmp_path: Path) -> None:
    """SIGKILL ends the app without exit handlers; its writer process reads to the end of the
    pipe, spools, and ends."""
    app = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import os, signal
        from kero_core import Kero
        kero = Kero(db_path={str(tmp_path)!r}, flush_interval=3600)
        for i in range(50):
            kero.record_request({{"PATH_INFO": "/x", "REMOTE_ADDR": "1.2.3.4"}}, status=200)
        kero.pipeline.write(confirm=False)
        print(kero.pipeline._process.process.pid, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)], capture_output=True, text=True, timeout=60, cwd=Path(__file__).parents[2])
    assert app.returncode == -signal.SIGKILL, app.stderr
    wait_until_gone(int(app.stdout))
    with Kero(db_path=tmp_path) as kero:
        assert kero.count() == 50


@pytest.mark.parametrize("server", ["/usr/local/bin/uwsgi", "/usr/sbin/httpd"])
def test_an_embedded_interpreter_starts_no_writer_process(
    make_kero: Callable[..., Kero], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, server: str,
    tmp_path: Path,
) -> None:
    """Under uWSGI or mod_wsgi sys.executable is the server's binary: started with Kero's
    arguments it would be a second server. It is not run at all (a stand-in that would leave
    a mark shows it), and the thread builds the events."""
    binary = tmp_path / Path(server).name
    binary.write_text(f"#!/bin/sh\ntouch {tmp_path / 'ran'}\n")
    os.chmod(binary, 0o755)
    monkeypatch.setattr(sys, "executable", str(binary))
    kero = make_kero(flush_interval=3600)
    with caplog.at_level(logging.WARNING, logger="kero"):
        record(kero, 2)
        assert kero.count() == 2
    assert f"sys.executable is {str(binary)!r}, not a Python interpreter" in caplog.text
    assert not (tmp_path / "ran").exists()
