"""Log lines that a flood of bad requests cannot multiply: each kind of problem is logged at most
once per interval, with how many times it happened since its last line.

Whatever a client sends (a malformed Referer, odd labels) is Kero's input, not Kero's bug: it is
reported in one line naming the error, never with a traceback. An unexpected error keeps its
traceback on the lines that are written, so a bug in Kero can still be found."""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

log = logging.getLogger("kero")

REPORT_EVERY = 60.0  # seconds between two lines about the same problem
# What bad input raises (a malformed URL or address, text that is not text, a label that is no
# mapping); anything else is unexpected.
INPUT_ERRORS = (ValueError, TypeError, UnicodeError, LookupError)


class Problems:
    """The problems of one Kero instance (two apps in a process keep their own counts).

    >>> problems = Problems()
    >>> problems.report("pixel", "kero: could not record a pixel request", ValueError("bad URL"))  # doctest: +SKIP
    """

    def __init__(self, every: float = REPORT_EVERY, clock: Callable[[], float] = time.monotonic) -> None:
        self.every = every
        self.clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}  # problem -> when it was last logged
        self._since: dict[str, int] = {}  # problem -> occurrences not logged since

    def report(self, kind: str, message: str, error: BaseException) -> None:
        """Log ``message`` and ``error`` unless ``kind`` was logged less than ``every`` seconds
        ago; then only count it, and say the count on its next line."""
        now = self.clock()
        with self._lock:
            last = self._last.get(kind)
            if last is not None and now - last < self.every:
                self._since[kind] = self._since.get(kind, 0) + 1
                return
            skipped = self._since.pop(kind, 0)
            self._last[kind] = now
        more = f" ({skipped} more in the last {now - last:.0f} s)" if skipped and last is not None else ""
        text = f"{message}: {type(error).__name__}: {error}"[:500]
        if isinstance(error, INPUT_ERRORS):
            log.warning("%s%s", text, more)
        else:
            log.error("%s%s", text, more, exc_info=error)
