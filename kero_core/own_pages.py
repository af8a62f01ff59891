"""Kero's own answers, for every middleware to send: the pixel, and the dashboard behind its auth.

The WSGI and the ASGI middlewares differ only in how they read a request and send an answer;
what they answer is decided here, from plain values (the path, the query string, the
``Authorization`` header and the verdict of a user's ``auth`` callable)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable, Mapping
from urllib.parse import parse_qs

from kero_core.dashboard import DashboardResponse, is_shared, respond
from kero_core.http import PIXEL_GIF, PIXEL_HEADERS, REALM, basic_auth_ok, checked_users

if TYPE_CHECKING:
    from kero_core.kero import Kero

log = logging.getLogger("kero")
TEXT = "text/plain; charset=utf-8"
REASONS = {
    200: "OK", 308: "Permanent Redirect", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable",
}
PIXEL = DashboardResponse(200, list(PIXEL_HEADERS), PIXEL_GIF)
_CHALLENGE = DashboardResponse(
    401, [("Content-Type", TEXT), ("WWW-Authenticate", REALM)], b"Kero dashboard: log in with the dashboard credentials."
)
_FORBIDDEN = DashboardResponse(403, [("Content-Type", TEXT)], b"Kero dashboard: access is not configured (set users= or auth=).")
READ_ONLY = DashboardResponse(405, [("Content-Type", TEXT), ("Allow", "GET, HEAD")], b"A shared link is read-only.")
SAFE_METHODS = ("GET", "HEAD")


def dashboard_users(kero: "Kero", users: Mapping[str, str] | None, *, claim: bool) -> dict[str, str]:
    """What both middlewares do when made: check the dashboard's ``users`` (KeroConfigError for
    one that cannot protect it), then, with ``claim``, claim ``db_path`` for the app (see
    :mod:`kero_core.app_identity`); checked first, so a refused setup leaves no trace."""
    checked = checked_users(users)
    if claim:
        kero.claim()
    return checked


def status_line(status: int) -> str:
    """``"404 Not Found"``: the WSGI status line of a status code."""
    return f"{status} {REASONS.get(status, 'OK')}"


def ask_auth(auth: Callable[[Any], Any], request: Any) -> Any:
    """The user's ``auth(request)``; a failing callable refuses access (logged), never a 500."""
    try:
        verdict = auth(request)
    except Exception:
        log.exception("kero: the dashboard auth callable failed; access refused")
        return False
    return verdict


def is_shared_path(kero: "Kero", path: str) -> bool:
    """Whether ``path`` (under ``dashboard_path``) is a shared link's, served without the auth
    check (its token is checked instead), to GET and HEAD only (READ_ONLY to the others)."""
    return is_shared(path[len(kero.config.dashboard_path):])


def denial(users: Mapping[str, str], authorization: str | None, verdict: bool | None = None) -> DashboardResponse | None:
    """None when the request may see the dashboard, else the answer refusing it. ``verdict`` is
    what the user's ``auth`` callable answered (None: there is none); without one, HTTP Basic
    against ``users`` (401 with a challenge); with neither, 403 to everyone, so the dashboard is
    never open by default."""
    if verdict is not None:
        return None if verdict else _FORBIDDEN
    if basic_auth_ok(authorization, users):
        return None
    return _CHALLENGE if users else _FORBIDDEN


def dashboard(kero: "Kero", path: str, query_string: str, request_path: str) -> DashboardResponse:
    """The dashboard's answer to ``path`` (under ``dashboard_path``). ``query_string`` is the raw
    query as latin-1 text (WSGI's ``QUERY_STRING``); ``request_path`` the full path the browser
    asked for (mount point included), for the redirect to the trailing slash. Reads the database:
    an async caller runs this in a thread."""
    subpath = path[len(kero.config.dashboard_path):]
    query = query_string.encode("latin-1", "replace").decode("utf-8", "replace")
    return respond(kero, subpath, parse_qs(query, keep_blank_values=True), request_path=request_path)
