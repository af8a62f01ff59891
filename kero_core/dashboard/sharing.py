"""Shared links, served: ``<dashboard_path>/share/<token>/...`` is the dashboard, read-only,
without credentials, limited to the link's locked filters, while the link is neither expired nor
revoked. Adapters send these URLs here without their auth check (:func:`kero_core.dashboard.is_shared`).

A viewer may add filters (which only narrow the view) but never drop or change a locked one:
query parameters on a locked dimension, "is" or "is not", are replaced by the lock. Requests are
rate-limited per process: per link, and for tokens that match no link (guessing is hopeless with
256-bit tokens; the limit keeps it from costing database reads)."""

from __future__ import annotations

import re
import threading
import time
import weakref
from collections import deque
from typing import TYPE_CHECKING, Mapping, Sequence

from kero_core import shares
from kero_core.dashboard import SHARED_HEADERS, DashboardResponse, _answer, error_page, route, slash_redirect, unavailable
from kero_core.dashboard.view import BadRequest, Filter, locked_filters
from kero_core.store import StoreUnavailable

if TYPE_CHECKING:
    from kero_core.kero import Kero

PREFIX = "/share/"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,100}")
LINK_REQUESTS = 300  # per link and WINDOW: a page is four requests, and the open page polls every 30 s
UNKNOWN_REQUESTS = 30  # per WINDOW, for all tokens that match no link together
ALL_REQUESTS = 2000  # per WINDOW, all shared links' requests together: bounds the reads they cost
WINDOW = 60.0  # seconds


class RateLimit:
    """At most ``limit`` events per ``window`` seconds per key (a sliding window of timestamps)."""

    def __init__(self, limit: int, window: float = WINDOW) -> None:
        self.limit, self.window = limit, window
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            seen = self._seen.setdefault(key, deque())
            while seen and now - seen[0] >= self.window:
                seen.popleft()
            if len(seen) >= self.limit:
                return False
            seen.append(now)
            return True


# Per Kero (two apps in one process keep their own counts), dropped with it.
_LIMITS: "weakref.WeakKeyDictionary[Kero, tuple[RateLimit, RateLimit, RateLimit]]" = weakref.WeakKeyDictionary()
_LIMITS_LOCK = threading.Lock()


def _limits(kero: "Kero") -> tuple[RateLimit, RateLimit, RateLimit]:
    """The limits of all requests, of each link's and of unknown tokens'."""
    with _LIMITS_LOCK:
        found = _LIMITS.get(kero)
        if found is None:
            found = _LIMITS[kero] = (RateLimit(ALL_REQUESTS), RateLimit(LINK_REQUESTS), RateLimit(UNKNOWN_REQUESTS))
        return found


def respond(kero: "Kero", subpath: str, params: Mapping[str, Sequence[str]], *, request_path: str) -> DashboardResponse:
    """Answer ``subpath`` (``/share/<token>/...``) for the holder of a shared link."""
    token, slash, rest = subpath[len(PREFIX):].partition("/")
    every, links, unknown = _limits(kero)
    if not _TOKEN.fullmatch(token):
        return _unknown(kero)
    if not every.allow(""):  # before any read
        return _too_many()
    try:
        with kero.read(shared=True) as con:
            share = shares.find(con, token)
    except (TimeoutError, StoreUnavailable):
        return unavailable()
    if share is None:
        return _unknown(kero) if unknown.allow("") else _too_many()
    if not links.allow(share.id):
        return _too_many()
    status = share.status(kero.now())
    if status == "revoked":
        return _refused(kero, 403, "This shared link was revoked", "Ask the site's owner for a new link.")
    if status == "expired":
        return _refused(kero, 403, "This shared link has expired",
                        f"It expired on {share.expires_at:%d %b %Y at %H:%M} UTC; ask the site's owner for a new link.")
    if not slash:
        return slash_redirect(request_path, params)
    try:
        locked = locked_filters(share.filters)
    except BadRequest:  # a lock no filter of this Kero can express (a dimension gone since): fail closed
        return _refused(kero, 403, "This shared link cannot be shown", "Ask the site's owner for a new link.")
    return route(kero, "/" + rest, within(params, locked), request_path=request_path, shared=True, locked=locked)


def within(params: Mapping[str, Sequence[str]], locked: Sequence[Filter]) -> dict[str, Sequence[str]]:
    """``params`` without any parameter on a locked dimension (the lock is added to the view)."""
    dimensions = {f.dimension for f in locked}
    return {key: values for key, values in params.items() if key.rstrip("!") not in dimensions}


def _unknown(kero: "Kero") -> DashboardResponse:
    return _refused(kero, 404, "This shared link does not exist",
                    "Check that the whole link was copied; the site's owner can create a new one.")


def _refused(kero: "Kero", status: int, heading: str, message: str) -> DashboardResponse:
    return error_page(kero, status, heading, message, *SHARED_HEADERS, back=False)


def _too_many() -> DashboardResponse:
    return _answer(429, "text/plain; charset=utf-8", b"Too many requests for shared links; try again in a minute.",
                   ("Retry-After", str(int(WINDOW))), *SHARED_HEADERS)
