"""The writer process: builds and spools the events of one app process, beside it.

Enriching a batch (User-Agents, GeoIP, visitor ids, the Arrow columns) is Python work, and Python
work holds the GIL: done by a thread of the app's process it made the app's requests wait, even in
slices (p99 +1.2 to +1.5 ms under wrk, where the same app with a writer that builds nothing adds
+0.3 to +0.7 ms: RESULTS.md). So the background writer of an app process hands its raw hits to a
process of its own instead, and only pickles them (about 0.2 µs a hit) into a pipe.

One writer process per app process that records, started by that process's writer thread (never
before a fork) as ``python -m kero_core.writer_process <db_path>``. The raw hits (with their IP
addresses and User-Agents) pass through the pipe, never through a file. It reads frames from its
stdin and builds and spools each hand-over as soon as nothing more is waiting; it ends when its
stdin closes (the app process closed it, or ended, even killed), after spooling what it holds. It
ignores SIGINT and SIGTERM, and runs in a session of its own, so a Ctrl-C or a server's stop
reaches the app process, which hands over what it holds first. Ingesting the spool into the
database stays with the app processes, as before.

Frames are a kind byte and a length, then a pickle. The app sends ``C`` (the config and the
ignored User-Agents) once, ``H`` (its clock's time and a list of hit tuples) for each hand-over
and ``F`` to ask for a reply once everything sent is spooled; the writer process answers ``R`` when
ready and ``F`` with (events dropped so far, events still held)."""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import re
import select
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

log = logging.getLogger("kero")

HEADER = struct.Struct("!cI")
CHUNK = 256  # hits pickled between two pauses of the app's writer (about 60 µs of GIL each)
START_WITHIN = 60.0  # seconds a new writer process may take to import and warm up
REPLY_WITHIN = 120.0  # seconds to spool what it was sent (a full buffer: 100,000 hits, a few s)
CLOSE_WITHIN = 10.0  # seconds the app waits at exit for its writer process to finish
NICE = 5  # where SCHED_IDLE is missing: the writer process yields cores to the app's requests when both want them


def run_when_idle(thread: int = 0) -> bool:
    """Let ``thread`` (a native thread id; 0: the calling thread) run only when a
    core has nothing else to run (Linux's SCHED_IDLE; threads and processes it starts inherit
    it). Kero's background work then waits for the app's requests instead of taking turns with
    them: sharing a core, at nice 5 it took slices of a few ms from the worker serving them (on
    one core under wrk, p99 added +1.3 to +3.0 ms, against +0.1 to +1.6 ms; RESULTS.md). False
    where it cannot be had."""
    try:
        os.sched_setscheduler(thread, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):  # not Linux, or refused (a sandbox)
        return False
    return True


class WriterProcessGone(Exception):
    """The writer process could not start, or stopped answering."""

    sent = 0  # of the hits being handed over when it happened, those sent before


class Frames:
    """Reads frames from a pipe's file descriptor, with a deadline."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._data = bytearray()

    def waiting(self) -> bool:
        """Whether a frame (or the end of the pipe) can be read at once."""
        return self._complete() or bool(select.select([self.fd], [], [], 0)[0])

    def read(self, within: float | None = None) -> tuple[bytes, bytes] | None:
        """The next frame (kind, payload); None at the end of the pipe. Raises TimeoutError."""
        deadline = None if within is None else time.monotonic() + within
        while not self._complete():
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and (left <= 0 or not select.select([self.fd], [], [], left)[0]):
                raise TimeoutError("no answer from the writer process")
            data = os.read(self.fd, 1 << 20)
            if not data:
                return None
            self._data += data
        kind, size = HEADER.unpack_from(self._data)
        payload = bytes(self._data[HEADER.size:HEADER.size + size])
        del self._data[:HEADER.size + size]
        return kind, payload

    def _complete(self) -> bool:
        return len(self._data) >= HEADER.size and len(self._data) >= HEADER.size + HEADER.unpack_from(self._data)[1]


def write_frame(fd: int, kind: bytes, payload: bytes) -> None:
    """One frame, whole (a pipe may take a long one in parts)."""
    data = memoryview(HEADER.pack(kind, len(payload)) + payload)
    while data:
        data = data[os.write(fd, data):]


class WriterProcess:
    """The app's side: starts the writer process, hands hits over, waits for their spooling,
    and takes its news (log lines, the events it dropped or still holds)."""

    def __init__(self, config: Any, ignored_agents: Sequence[str], clock: Callable[[], float]) -> None:
        self.clock = clock
        self.unconfirmed = 0  # hits handed over since the last answer: lost if the process dies
        self.dropped = 0  # events the writer process dropped so far (a full spool, unusable hits)
        self.held = 0  # events it holds because it cannot spool them yet
        if not re.fullmatch(r"python[\w.-]*", Path(sys.executable).name):
            # Embedded interpreters (uWSGI, mod_wsgi) name their server's binary here: started
            # with these arguments it would be a second server, not Python.
            raise WriterProcessGone(f"sys.executable is {sys.executable!r}, not a Python interpreter")
        package_root = str(Path(__file__).resolve().parent.parent)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])))
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "kero_core.writer_process", str(config.db_path)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0, env=env, start_new_session=True,
            )
        except (OSError, ValueError) as exc:
            raise WriterProcessGone(f"cannot run {sys.executable!r}: {exc}") from exc
        _reap()
        _STARTED.append(self.process)
        assert self.process.stdin is not None and self.process.stdout is not None
        self._out = self.process.stdin.fileno()
        self._replies = Frames(self.process.stdout.fileno())
        try:
            self._send(b"C", pickle.dumps((config, list(ignored_agents), os.getpid())))
            self._expect(b"R", START_WITHIN)
        except WriterProcessGone:
            self.kill()
            raise

    def hand_over(self, rows: list[tuple[Any, ...]], pause: Callable[[], None]) -> None:
        """Send ``rows`` (hit tuples) to be built and spooled (in one spool file, as the
        writer thread would: the last chunk says so)."""
        for start in range(0, len(rows), CHUNK):
            chunk, last = rows[start:start + CHUNK], start + CHUNK >= len(rows)
            try:
                data = pickle.dumps((self.clock(), chunk, last), pickle.HIGHEST_PROTOCOL)
            except Exception:  # noqa: BLE001  a field pickle refuses (a custom event's value of a local class)
                data = pickle.dumps((self.clock(), [_portable(row) for row in chunk], last), pickle.HIGHEST_PROTOCOL)
            try:
                self._send(b"H", data)
            except WriterProcessGone as exc:
                exc.sent = start
                raise
            self.unconfirmed += len(chunk)
            pause()

    def confirm(self) -> None:
        """Wait until everything handed over is spooled (or held: see :attr:`held`)."""
        self._send(b"F", b"")
        self._expect(b"F", REPLY_WITHIN)
        self.unconfirmed = 0

    def news(self) -> None:
        """Take what the writer process said meanwhile, without waiting."""
        while self._replies.waiting():
            self._take(self._read(1.0))

    def close(self, within: float = CLOSE_WITHIN) -> None:
        """Close the pipe: the writer process spools what it holds and ends. Waits ``within``
        seconds for that; past them it finishes on its own."""
        self._close_pipes()
        try:
            self.process.wait(within)
        except subprocess.TimeoutExpired:
            log.warning("kero: the writer process %d is still spooling; it will end when done", self.process.pid)

    def abandon(self) -> None:
        """In a forked child: close this process's copies of the pipes (the parent keeps its
        writer process; the child starts its own)."""
        self._close_pipes()
        self.process.returncode = 0  # not this process's child: nothing to wait for

    def kill(self) -> None:
        """End it now (it failed or stopped answering); what it held is lost."""
        self._close_pipes()
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def _close_pipes(self) -> None:
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()

    def _send(self, kind: bytes, payload: bytes) -> None:
        try:
            write_frame(self._out, kind, payload)
        except (OSError, ValueError) as exc:
            raise WriterProcessGone(f"the writer process {self.process.pid} stopped ({exc})") from exc

    def _expect(self, kind: bytes, within: float) -> bytes:
        """Read frames until one of ``kind``, taking the news on the way."""
        deadline = time.monotonic() + within
        while True:
            got, payload = self._take(self._read(max(deadline - time.monotonic(), 0)))
            if got == kind:
                return payload

    def _read(self, within: float) -> tuple[bytes, bytes]:
        try:
            frame = self._replies.read(within)
        except (OSError, ValueError, TimeoutError) as exc:
            raise WriterProcessGone(f"the writer process {self.process.pid} stopped answering ({exc})") from exc
        if frame is None:
            code = self.process.poll()
            raise WriterProcessGone(f"the writer process {self.process.pid} ended"
                                    + (f" (exit code {code})" if code is not None else ""))
        return frame

    def _take(self, frame: tuple[bytes, bytes]) -> tuple[bytes, bytes]:
        """Act on a frame from the writer process: relay its log line, note its counts."""
        kind, payload = frame
        if kind == b"E":
            raise WriterProcessGone(f"the writer process {self.process.pid} failed: "
                                    f"{payload.decode(errors='replace')[:300]}")
        if kind == b"L":
            level, message = pickle.loads(payload)
            log.log(level, "%s", message)
        elif kind in (b"S", b"F"):
            self.dropped, self.held = pickle.loads(payload)
        return frame


# Every writer process this process started and that may still run: a Kero dropped without
# close() closes its pipes when collected, and its writer process ends on its own once it has
# spooled; the exit handler waits for them (see wait_for_all).
_STARTED: list[subprocess.Popen[bytes]] = []


def _reap() -> None:
    _STARTED[:] = [process for process in _STARTED if process.poll() is None]


def wait_for_all(within: float = CLOSE_WITHIN) -> None:
    """At exit: wait (``within`` seconds in all) for the writer processes still spooling."""
    deadline = time.monotonic() + within
    for process in _STARTED:  # their apps' Keros may still be alive, never closed
        if process.stdin is not None:
            process.stdin.close()
    for process in _STARTED:
        try:
            process.wait(max(deadline - time.monotonic(), 0))
        except subprocess.TimeoutExpired:
            log.warning("kero: the writer process %d is still spooling; it will end when done", process.pid)
    _reap()


def _portable(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """``row`` with each field pickle refuses as its text."""
    return tuple(field if _picklable(field) else _text(field) for field in row)


def _picklable(value: Any) -> bool:
    try:
        pickle.dumps(value)
    except Exception:  # noqa: BLE001
        return False
    return True


def _text(value: Any) -> str:
    try:
        return str(value)
    except Exception:  # noqa: BLE001
        return ""


class Replies:
    """The writer process's side of the answers; once the app is gone (a broken pipe), they
    are dropped, and the spooling goes on to the end of the input."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._said: tuple[int, int] | None = None

    def send(self, kind: bytes, payload: bytes) -> None:
        if self.fd < 0:
            return
        try:
            write_frame(self.fd, kind, payload)
        except OSError:
            os.close(self.fd)
            self.fd = -1

    def counts(self, pipeline: Any, kind: bytes = b"S") -> None:
        """The events dropped so far and still held: always for an answer (``F``), else when
        they changed."""
        counts = (pipeline.dropped, pipeline.buffered)
        if kind == b"F" or counts != self._said:
            self.send(kind, pickle.dumps(counts))
            self._said = counts


class RelayedLog(logging.Handler):
    """The writer process's log lines, logged again by the app (its handlers, its format);
    once the app is gone, written to the stderr they share."""

    def __init__(self, replies: Replies) -> None:
        super().__init__(logging.INFO)
        self.replies = replies

    def emit(self, record: logging.LogRecord) -> None:
        if self.replies.fd >= 0:
            self.replies.send(b"L", pickle.dumps((record.levelno, record.getMessage())))
        if self.replies.fd < 0:  # the app is gone: its stderr, which this process shares
            sys.stderr.write(f"kero writer process {os.getpid()}: {record.getMessage()}\n")


def main() -> None:
    """The writer process (see the module's docstring)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    replies = Replies(os.dup(1))
    os.dup2(2, 1)  # a stray print() of a library goes to stderr, not into the replies
    log.addHandler(RelayedLog(replies))
    log.setLevel(logging.INFO)
    log.propagate = False
    if not run_when_idle():
        with contextlib.suppress(OSError):
            os.nice(NICE)
    frames = Frames(0)
    try:
        first = frames.read()
        if first is None:
            return
        config, ignored_agents, app_pid = pickle.loads(first[1])
        pipeline, now = _writer(config, ignored_agents, app_pid)
    except Exception as exc:  # noqa: BLE001  the app's side logs it and builds in its own thread
        replies.send(b"E", f"{type(exc).__name__}: {exc}".encode())
        return
    replies.send(b"R", b"")
    while True:
        try:  # what it could not spool is retried every flush_interval, as the writer thread does
            frame = frames.read(config.flush_interval if pipeline.buffered else None)
        except TimeoutError:
            frame = (b"", b"")
        if frame is None:
            break
        kind, payload = frame
        if kind == b"H":
            now[0], rows, last = pickle.loads(payload)
            for row in rows:
                pipeline.record(row)
            if last and not frames.waiting():
                pipeline.write()
        else:
            pipeline.write()
        replies.counts(pipeline, b"F" if kind == b"F" else b"S")
    if not pipeline.write():
        log.warning("kero: %d events could not be spooled before the writer process ended", pipeline.buffered)
    pipeline.close_builder()


def _writer(config: Any, ignored_agents: list[str], app_pid: int) -> tuple[Any, list[float]]:
    """A pipeline that builds and spools in this process, on the app's clock (the last time it
    sent: it guards the visitor salts against events from far in the future), naming its spool
    files after the app process (whose events they are)."""
    from kero_core.batch import EventBuilder
    from kero_core.kero import make_store
    from kero_core.pipeline import Pipeline

    now = [time.time()]
    clock: Callable[[], float] = lambda: now[0]  # noqa: E731
    store = make_store(config, clock)
    store.spooled_for = app_pid
    pipeline = Pipeline(store, lambda: EventBuilder(config, ignored_agents, store.salts(), clock),
                        config.flush_interval, config.max_buffer, background=False)
    pipeline.warm_up()
    return pipeline, now


if __name__ == "__main__":
    main()
