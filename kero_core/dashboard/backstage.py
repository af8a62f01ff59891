"""Where the dashboard renders: a few threads of its own, at a lower CPU priority than the app's.

A render reads the database through DuckDB, which runs its query on every core. On a server
whose cores the app's requests also need (two cores, measured: tests/asgi/test_dashboard_latency.py),
the request threads then waited for a core, not for the GIL: a probe thread's wake-ups waited
for the CPU 37-43 ms at p99 during renders, for the GIL 0.3-0.7 ms. So every render runs on these
threads, each lowered by NICENESS when it starts; DuckDB's worker threads, made by the thread that
opens the database (a read session opens it), inherit it. Where the cores are idle a render is as
fast as before; where they are busy, the app's requests come first.

Every adapter's dashboard goes through here: :func:`run` waits for the render (a WSGI request
thread), :func:`submit` hands back a future (the ASGI middleware awaits it). The threads are
made lazily, in the process that renders, and afresh in a forked child."""

from __future__ import annotations

import concurrent.futures
import logging
import os
import sys
import threading
from typing import Any, Callable, TypeVar

log = logging.getLogger("kero")
T = TypeVar("T")
NICENESS = 10  # added to the process's own: the scheduler then gives a render about a tenth of a contended core
RENDERS = 4  # renders at once per process; more wait for a thread

_here = threading.local()  # .on is True on a dashboard thread
_lock = threading.Lock()
_pool: concurrent.futures.ThreadPoolExecutor | None = None
_pool_pid = 0


def _start() -> None:
    _here.on = True
    lower_priority()


def lower_priority() -> None:
    """Lower the calling thread's CPU priority by NICENESS (Linux, where a thread's niceness is
    its own; elsewhere ``setpriority`` would lower the whole process, so nothing is done)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        thread = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + NICENESS))
    except OSError as exc:  # a sandbox may refuse it: render at the app's priority
        log.debug("kero: could not lower the dashboard thread's priority (%s)", exc)


def submit(function: Callable[..., T], *args: Any) -> concurrent.futures.Future[T]:
    """``function(*args)`` on a dashboard thread."""
    global _pool, _pool_pid
    with _lock:
        if _pool is None or _pool_pid != os.getpid():  # a forked child has the object, not its threads
            _pool = concurrent.futures.ThreadPoolExecutor(RENDERS, "kero-dashboard", initializer=_start)
            _pool_pid = os.getpid()
        pool = _pool
    return pool.submit(function, *args)


def run(function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` on a dashboard thread, waited for (its exception raised here); called
    on one, at once."""
    if getattr(_here, "on", False):
        return function(*args)
    return submit(function, *args).result()
