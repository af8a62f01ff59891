"""Writing what a process holds when its server is told to stop, with nothing to set up.

Why: uvicorn (alone, with ``--workers``, and as gunicorn's ``UvicornWorker``) stops gracefully
on SIGTERM, then puts back the signal's default action and raises it again, so the process
ends without running exit handlers: Kero's ``atexit`` write never ran, and every restart lost
the events of the last flush interval. Django's ASGI handler has no lifespan to hook either.

How: when a pipeline's writer starts on the main thread, Kero puts :func:`_on_signal` in front
of the SIGTERM and SIGINT handlers in place (the server's own, installed before it loads the
app). On a signal it tells the pipelines the process is stopping (they write what they hold at
once, and from then on each event as it is recorded: requests the server finishes during its
graceful stop are on disk before it ends the process), then calls the handler it replaced, so
the server stops exactly as it would have. Where that was the default action, it re-raises
the signal with the default action, as the process would have ended anyway. The server
putting its saved handler back later removes Kero's, as it should: by then all is written.

Only Python-level handlers are chained; an ignored signal (``SIG_IGN``) or one handled outside
Python is left alone."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any, Callable

SIGNALS = (signal.SIGTERM, signal.SIGINT)
_on_stop: list[Callable[[], None]] = []


def watch(on_stop: Callable[[], None]) -> None:
    """Run ``on_stop`` first when this process is told to stop (SIGTERM, SIGINT). Called when a
    Kero is made and when a writer starts, so that Kero is in front of a server's handler
    before the first request ends (a signal arriving between a process's first response and its
    recording would otherwise pass Kero by). Does nothing off the main thread (only it may set
    handlers) or when Kero's handler is already in place."""
    if threading.current_thread() is not threading.main_thread():
        return
    if on_stop not in _on_stop:
        _on_stop.append(on_stop)
    for signum in SIGNALS:
        current = signal.getsignal(signum)
        if getattr(current, "_kero", False) or current is None or current == signal.SIG_IGN:
            continue
        signal.signal(signum, _handler(current))


def _handler(previous: Any) -> Callable[[int, FrameType | None], None]:
    """A handler in front of ``previous``: one per install, so that a chain stays exact when a
    server saves Kero's handler, installs its own (Kero goes in front of it again), and later
    puts the saved one back and re-raises the signal."""

    def on_signal(signum: int, frame: FrameType | None) -> None:
        for on_stop in list(_on_stop):
            try:
                on_stop()
            except Exception:  # noqa: BLE001  the server's own handling must run whatever happens here
                pass
        if callable(previous):
            previous(signum, frame)
            return
        signal.signal(signum, signal.SIG_DFL)  # the default action: end the process, as it would have
        signal.raise_signal(signum)

    on_signal._kero = True  # type: ignore[attr-defined]
    return on_signal
