"""The in-process buffer and the background writer that drains it into the spool.

The request thread only appends to a bounded deque (O(1), no lock, no I/O). A daemon thread,
started lazily in the process that records (so never before a fork), wakes about once per
``flush_interval`` or when the buffer is large, hands the batch to this process's writer process
(see ``writer_process``; or enriches and spools it itself, when there is none), and ingests the
spool when no other process is doing so. After ``fork()`` the child starts with an empty buffer
and no thread (the parent keeps and writes its own events). At exit every live pipeline writes
what it holds, and so does every one when the process is told to stop (see ``shutdown``), even
by a server that then ends it without running exit handlers."""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
import time
import weakref
from collections import deque
from typing import Any, Callable

import pyarrow as pa

from kero_core import shutdown, writer_process
from kero_core.batch import EventBuilder
from kero_core.capture import Hit, as_hit
from kero_core.enrich import SaltUnavailable
from kero_core.store import Store
from kero_core.writer_process import WriterProcess, WriterProcessGone

log = logging.getLogger("kero")

WAKE_AT = 5_000  # buffered hits that wake the writer before its interval ends
BATCH = 50_000  # hits per spool file at most
# Seconds between two background ingests by the processes sharing a folder (at least one
# flush_interval). A spooled event is already safe, and every read ingests what is pending first,
# so ingesting less often than spooling hides nothing from readers; it saves a DuckDB session
# (about 50 ms of CPU: open, insert, checkpoint) per interval, which at 1 s would take 5% of a
# core from the app.
INGEST_EVERY = 5.0
# And at most this share of the time goes to background ingests: after a session that took t
# seconds (a big database, today's rollups kept current, a visitor with thousands of events
# today), the next waits t / INGEST_SHARE seconds, at most INGEST_AT_MOST. DuckDB's work runs
# beside the app's requests on the same cores; readers ingest what is pending first, so they
# see every event whatever the period.
INGEST_SHARE = 0.05
INGEST_AT_MOST = 30.0
LOG_EVERY = 60.0  # seconds between two log lines about the same problem
# The writer's work comes in slices of at most SLICE seconds, each followed by a PAUSE-second sleep
# (see Slices): the request thread waits for the GIL at most about one slice.
SLICE = 0.0002
PAUSE = 0.00005


def ingest_period(took: float) -> float:
    """Seconds from a background ingest that took ``took`` seconds to the next (see INGEST_SHARE)."""
    return min(max(INGEST_EVERY, took / INGEST_SHARE), INGEST_AT_MOST)


class Slices:
    """The background writer's pause between two small steps of its work.

    A thread that wants the GIL waits for its holder to release it: a blocking call does, and
    otherwise only a request after ``sys.getswitchinterval()`` (5 ms by default) makes it. So a
    request arriving while the writer enriches a batch waited up to 5 ms (p99 +4 ms under wrk).
    Called between steps, this sleeps once the writer has run ``SLICE`` seconds (or the switch
    interval, if shorter): the sleep releases the GIL, long enough for a waiting thread to take it.
    A no-op call costs one clock read."""

    def __init__(self) -> None:
        self._since = time.perf_counter()

    def __call__(self) -> None:
        if time.perf_counter() - self._since >= min(SLICE, sys.getswitchinterval()):
            time.sleep(PAUSE)
            self._since = time.perf_counter()


class Pipeline:
    """Bounded buffer + background writer for one :class:`~kero_core.Kero` instance."""

    def __init__(
        self,
        store: Store,
        make_builder: Callable[[], EventBuilder],
        interval: float,
        max_buffer: int,
        *,
        hand_to: Callable[[], WriterProcess] | None = None,
        background: bool = True,
    ) -> None:
        """``hand_to`` starts the writer process that builds and spools the hits (None, or when
        it cannot start or dies: the writer thread builds them here). Without ``background``
        (the writer process's own pipeline) nothing runs behind the caller: no thread, no
        pauses, no signal or exit handlers; the caller writes."""
        self.store = store
        self.interval = interval
        self.max_buffer = max_buffer
        self.dropped = 0  # hits dropped because the buffer (or the retry list) was full
        self._reported_drops = 0
        self._make_builder = make_builder
        self._hand_to = hand_to
        self._background = background
        self._pause: Callable[[], None] = Slices() if background else _no_pause
        self._logged: dict[str, float] = {}
        self._closed = False
        self._reset()
        if background:
            _LIVE.add(self)
            watch_signals()

    def _reset(self) -> None:
        """Fresh per-process state (also what a forked child starts with)."""
        self._buffer: deque[tuple[Any, ...]] = deque()  # Hit fields, as plain tuples (see record)
        self._unspooled: list[pa.Table] = []  # built batches the spool refused (disk full, read-only)
        self._wake = threading.Event()
        self._write_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._terminating = False  # the process was told to stop: write each hit at once
        self._writing: int | None = None  # the thread inside write(), if any
        self._builder: EventBuilder | None = None  # parsers, caches, GeoIP handle: made per process
        self._process: WriterProcess | None = None  # this process's writer process, once started
        self._process_dropped = 0  # what it dropped, as of its last reply

    @property
    def buffered(self) -> int:
        """Events held in memory (waiting for the writer, or for the spool, here or in the
        writer process as of its last word): never more than ``max_buffer`` each, what the
        memory benchmark watches."""
        return len(self._buffer) + sum(t.num_rows for t in self._unspooled) + self._held

    @property
    def _held(self) -> int:
        """Events the writer process could not spool yet, as of its last word."""
        return self._process.held if self._process is not None else 0

    # -- request thread ----------------------------------------------------------------------------
    def record(self, hit: tuple[Any, ...]) -> None:
        """Buffer ``hit``: a :class:`Hit`, or its fields as a plain tuple (what the request path
        gives: ``tuple()`` of a plain tuple is that tuple, no copy)."""
        buffer = self._buffer
        if len(buffer) >= self.max_buffer or self._closed:
            self.dropped += 1
            return
        # A plain tuple: the collector stops tracking a tuple of numbers and strings, never a
        # tuple subclass (Hit), and thousands of buffered Hits reaching its oldest generation
        # made a Flask worker run full collections (15-22 ms each, about every 13,000 requests).
        buffer.append(tuple(hit))
        if self._thread is None and self._background:
            self._start()
        if self._terminating:
            # The server is stopping and may end the process as soon as this request is done,
            # without exit handlers: write now (after the response, on the stopping process).
            self.write()
        elif len(buffer) >= WAKE_AT and not self._wake.is_set():
            # set() takes the event's lock and notifies (several µs); while the writer drains a
            # large buffer every request would pay that again.
            self._wake.set()

    def _start(self) -> None:
        with self._write_lock:
            if self._thread is None:
                thread = threading.Thread(target=self._run, name="kero-writer", daemon=True)
                thread.start()
                self._thread = thread
        watch_signals()

    def terminate(self) -> None:
        """The process was told to stop: write what is held now, and each later hit as it is
        recorded. Called by the signal handler, on the main thread, which may have been
        interrupted inside write() itself: then that write goes on until the buffer is empty."""
        self._terminating = True
        if self._writing == threading.get_ident():
            return
        if self._write_lock.acquire(timeout=5.0):
            try:
                self._write_locked()
            finally:
                self._write_lock.release()

    # -- writer thread -------------------------------------------------------------------------------
    def _run(self) -> None:
        writer_process.run_when_idle(threading.get_native_id())  # and so the writer process it starts
        self.warm_up()
        period = INGEST_EVERY
        next_ingest = time.monotonic() + max(self.interval, period)
        while not self._stopping:
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stopping:
                break
            self.write(confirm=False)
            # Ingest only once a spool file has waited about a period: under gunicorn -w 4 each
            # worker ingesting on its own clock made four sessions per period, each with a
            # quarter of the files; now whichever worker comes first takes every file.
            if time.monotonic() >= next_ingest and self.store.waited() >= period - self.interval:
                started = time.monotonic()
                if self.store.pending() and self._ingest(wait=0):  # a session ran: its cost sets the period
                    period = ingest_period(time.monotonic() - started)
                next_ingest = time.monotonic() + max(self.interval, period)

    def warm_up(self) -> None:
        """Start the writer process, or ready the builder, while the first interval runs, not
        after it (see EventBuilder.warm_up)."""
        with self._write_lock:
            self._start_process()
            if self._process is not None:
                return
            try:
                self._ready_builder().warm_up()
            except Exception as exc:  # a broken GeoIP file or parser must not stop the writer
                self._log_once("warm_up", "kero: could not prepare the writer (%s); will retry", _describe(exc))

    def write(self, confirm: bool = True) -> bool:
        """Drain the buffer into the spool; True when nothing is left in memory. Hits handed to
        the writer process are spooled when this returns, unless ``confirm`` is False (the
        background writer's writes, which nothing waits for)."""
        with self._write_lock:
            return self._write_locked(confirm)

    def _write_locked(self, confirm: bool = True) -> bool:
        """write(), its lock held."""
        self._writing = threading.get_ident()
        try:
            self._spool_retries()
            # Only what was buffered when this write began: draining until the buffer is
            # empty would, under steady traffic, chase each request with a batch of a few
            # events, each paying a Parquet file (measured: 1,000 files in 10 s of load,
            # 300 µs of CPU per request). Later hits go in the next interval's batch.
            left = len(self._buffer)
            while left > 0:
                rows = [self._buffer.popleft() for _ in range(min(left, BATCH))]
                left -= len(rows)
                if not self._put(rows):
                    return False
                if left <= 0 and self._terminating:  # stopping: leave nothing behind
                    left = len(self._buffer)
            self._hear_from_process(confirm)
            self._report_drops()
            return not self._unspooled and not self._held
        except Exception as exc:  # never let a disk failure kill the writer
            self._log_once("write", "kero: could not write events (%s); will retry", _describe(exc))
            return False
        finally:
            self._writing = None

    def _put(self, rows: list[tuple[Any, ...]]) -> bool:
        """Hand ``rows`` to the writer process, or build and spool them here; False when they
        went back to the buffer (the salts are unavailable)."""
        self._start_process()
        if self._process is not None:
            try:
                self._process.hand_over(rows, self._pause)
                return True
            except WriterProcessGone as exc:
                rows = rows[exc.sent:]  # the writer process never got these: built here
                self._lose_process(exc)
        try:
            table = self._build([as_hit(row) for row in rows])
        except SaltUnavailable as exc:  # kept, in order, for the next write
            self._buffer.extendleft(reversed(rows))
            self._log_once("salt", "kero: holding events in memory (%s); will retry", _describe(exc))
            return False
        if table is not None:
            self._spool(table)
        return True

    def _start_process(self) -> None:
        if self._hand_to is None or self._process is not None:
            return
        try:
            self._process = self._hand_to()
        except WriterProcessGone as exc:
            self._hand_to = None
            log.warning("kero: could not start the writer process (%s); building events in this process", exc)

    def _hear_from_process(self, confirm: bool) -> None:
        """Take the writer process's news (log lines, counts); with ``confirm``, first wait
        until it has spooled everything handed over."""
        process = self._process
        if process is None:
            return
        try:
            if confirm and (process.unconfirmed or process.held):
                process.confirm()
            else:
                process.news()
        except WriterProcessGone as exc:
            self._lose_process(exc)
            return
        dropped_there = process.dropped - self._process_dropped
        self.dropped += dropped_there  # logged here with the others (_report_drops), not there
        self._process_dropped = process.dropped

    def _lose_process(self, exc: WriterProcessGone) -> None:
        """The writer process died: what it had not confirmed is lost (counted); this process
        builds its events from now on."""
        process, self._process, self._hand_to = self._process, None, None
        assert process is not None
        lost = process.unconfirmed + process.held
        self.dropped += lost
        self._reported_drops += lost  # logged here, not as a full buffer's
        process.kill()
        log.warning("kero: %s; up to %d events it had not spooled are lost; building events in this process",
                    exc, lost)

    def _report_drops(self) -> None:
        """The request thread counts the hits a full buffer refuses but cannot log (no I/O
        there), and so does a full retry list: the writer logs the count, at most once per
        LOG_EVERY. A writer process's pipeline leaves it to the app's, which adds the drops
        it hears of to its own (two processes logging each its own made two lines)."""
        if self._background and self.dropped > self._reported_drops:
            self._reported_drops = self.dropped
            self._log_once("dropped", "kero: buffer full, %d events dropped so far", self.dropped)

    def _ready_builder(self) -> EventBuilder:
        if self._builder is None:
            self._builder = self._make_builder()
            if self._background:
                self._builder.pace(self._pause)
        return self._builder

    def _build(self, hits: list[Hit]) -> pa.Table | None:
        """The batch of ``hits``; the hits it cannot hold are dropped and counted, not retried
        (they would fail again, and hold up everything behind them)."""
        builder = self._ready_builder()
        rejected = builder.rejected
        try:
            table = builder.build(hits)
        except SaltUnavailable:
            builder.rejected = rejected
            raise
        except Exception as exc:  # noqa: BLE001  a bug in enrichment: lose this batch, not the writer
            builder.rejected = rejected + len(hits)
            table, reason = None, _describe(exc)
        else:
            reason = "unusable time or labels"
        if builder.rejected != rejected:
            self.dropped += builder.rejected - rejected
            self._log_once("rejected", "kero: %d events could not be stored and were dropped (%s)",
                           builder.rejected - rejected, reason)
        return table

    def _spool(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        try:
            self.store.spool(table)
        except OSError as exc:
            self._keep_for_retry(table)
            self._log_once("spool", "kero: cannot write to the spool (%s); holding events in memory", _describe(exc))

    def _spool_retries(self) -> None:
        waiting, self._unspooled = self._unspooled, []
        for table in waiting:
            self._spool(table)

    def _keep_for_retry(self, table: pa.Table) -> None:
        held = sum(t.num_rows for t in self._unspooled)
        room = self.max_buffer - held
        if room < table.num_rows:
            self.dropped += table.num_rows - max(room, 0)  # logged by _report_drops
            table = table.slice(0, max(room, 0))
        if table.num_rows:
            self._unspooled.append(table)

    def _ingest(self, wait: float | None) -> bool:
        if not self.store.pending():
            return True
        try:
            if wait == 0:
                return self.store.try_ingest()
            with self.store.session(wait=wait):
                return True
        except TimeoutError:
            return False
        except Exception as exc:  # StoreUnavailable, disk errors, DuckDB errors: retried next time
            self._log_once("ingest", "kero: could not ingest events into the database (%s); will retry", _describe(exc))
            return False

    def _log_once(self, key: str, message: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._logged.get(key, -LOG_EVERY) >= LOG_EVERY:
            self._logged[key] = now
            log.warning(message, *args)

    # -- flush and shutdown ----------------------------------------------------------------------
    def flush(self, timeout: float | None = None) -> bool:
        """Write and ingest everything recorded so far; False if it could not finish in time."""
        return self.write() and self._ingest(wait=timeout)

    def close(self, timeout: float = 5.0) -> None:
        if self._closed:
            return
        self._stopping = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self.write()
        lost = self._held
        if self._process is not None:
            self._process.close()
            self._process = None
        self._ingest(wait=timeout)
        self._closed = True
        lost += len(self._buffer) + sum(t.num_rows for t in self._unspooled)
        if lost:  # the spool still refuses them, and memory ends here: say so, and count them
            self.dropped += lost
            self._unspooled = []
            log.warning("kero: %d events could not be written before closing (the spool refused them)", lost)
        self.close_builder()
        _LIVE.discard(self)

    def close_builder(self) -> None:
        if self._builder is not None:
            self._builder.close()

    def _after_fork_in_child(self) -> None:
        if self._process is not None:
            self._process.abandon()
        self._reset()
        self._logged = {}
        self.store.after_fork_in_child()


def _describe(exc: BaseException) -> str:
    """An exception as one log-safe line: its message may quote request data, so CR, LF and
    other control characters are escaped (no forged log lines) and its length is bounded."""
    text = f"{type(exc).__name__}: {exc}"
    return text.encode("unicode_escape").decode("ascii")[:300] if not text.isprintable() else text[:300]


def _no_pause() -> None:
    """The writer process's pipeline: nothing waits for its GIL."""


_LIVE: "weakref.WeakSet[Pipeline]" = weakref.WeakSet()


def watch_signals() -> None:
    """Put Kero in front of this process's SIGTERM and SIGINT handlers, so every pipeline writes
    what it holds when the process is told to stop (see ``shutdown``). Pipelines call it when
    made and when their writer starts; an adapter that makes its Kero lazily calls it when the
    server loads the app."""
    shutdown.watch(_terminate_all)


def _terminate_all() -> None:
    for pipeline in list(_LIVE):
        pipeline.terminate()


def _after_fork_in_child() -> None:
    for pipeline in list(_LIVE):
        pipeline._after_fork_in_child()


def _close_all_at_exit() -> None:
    for pipeline in list(_LIVE):
        try:
            pipeline.close()
        except Exception:  # at exit, one broken pipeline must not stop the others
            log.exception("kero: error while writing events at exit")
    writer_process.wait_for_all()


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_close_all_at_exit)
