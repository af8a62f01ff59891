"""The dashboard, rendered by the core so every adapter serves the same page.

Adapters authenticate, then call :func:`respond` with the part of the URL below the dashboard's
mount point and the query parameters, and send back the :class:`DashboardResponse`. Routes:

- ``/`` the page (``?format=csv``: the same view as CSV; ``?show=<card>``: with its full list)
- ``/api/stats`` the same view as JSON; ``/api/realtime`` visitors of the last five minutes
- ``/static/<file>`` the stylesheet, the script and the icon
- ``/share/<token>/...`` the same, read-only, for the holder of a shared link: adapters serve
  these without their auth check (:func:`is_shared`; :mod:`kero_core.dashboard.sharing` checks
  the token)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Mapping, Sequence
from urllib.parse import urlencode

from kero_core.dashboard import export, model, render
from kero_core.dashboard.cards import PANELS
from kero_core.dashboard.view import BadRequest, Filter, View, control, limit, parse_view
from kero_core.store import StoreUnavailable

if TYPE_CHECKING:
    from kero_core.kero import Kero

log = logging.getLogger("kero")

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# On every answer: the page links nothing but itself, and leaks its URL to no one (referrer
# links open other sites).
SECURITY_HEADERS = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
)
# A shared link's answers: search engines must neither index nor follow them.
SHARED_HEADERS = (("X-Robots-Tag", "noindex, nofollow"),)
HTML = "text/html; charset=utf-8"
JSON = "application/json"
EXPORT_ROWS, MAX_EXPORT_ROWS = 100, model.MODAL_ROWS


@dataclass
class DashboardResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


def _answer(status: int, content_type: str, body: bytes, *headers: tuple[str, str], cache: str = "no-store") -> DashboardResponse:
    return DashboardResponse(
        status, [("Content-Type", content_type), ("Cache-Control", cache), *SECURITY_HEADERS, *headers], body
    )


def is_shared(subpath: str) -> bool:
    """Whether a dashboard URL is a shared link's, which opens without credentials (its token
    is checked instead); ``subpath`` as for :func:`respond`."""
    return subpath == "/share" or subpath.startswith("/share/")


def respond(kero: "Kero", subpath: str, params: Mapping[str, Sequence[str]], *, request_path: str) -> DashboardResponse:
    """Answer a dashboard request. ``subpath`` is what follows the mount point ("" or "/...")."""
    if is_shared(subpath):
        from kero_core.dashboard import sharing

        return sharing.respond(kero, subpath, params, request_path=request_path)
    return route(kero, subpath, params, request_path=request_path)


def slash_redirect(request_path: str, params: Mapping[str, Sequence[str]]) -> DashboardResponse:
    """Assets and links are relative, so the page must live at ".../mount/". The query string
    goes along: "/_kero?period=7d" must land on the 7-day view."""
    last = request_path.rstrip("/").rsplit("/", 1)[-1]
    query = urlencode([(key, value) for key, values in params.items() for value in values])
    return DashboardResponse(308, [("Location", f"{last}/?{query}" if query else f"{last}/")])


def route(kero: "Kero", subpath: str, params: Mapping[str, Sequence[str]], *, request_path: str,
          shared: bool = False, locked: tuple[Filter, ...] = ()) -> DashboardResponse:
    """The dashboard's routes; ``shared``: seen through a shared link, limited to its ``locked``
    filters."""
    headers = SHARED_HEADERS if shared else ()
    if subpath == "":
        return slash_redirect(request_path, params)
    api = subpath.startswith("/api/")
    try:
        if subpath == "/":
            return _page(kero, params, locked, shared)
        if subpath == "/api/stats":
            return _stats(kero, params, locked, shared)
        if subpath == "/api/realtime":
            body = export.json_bytes({"visitors": model.realtime(kero, locked), "minutes": 5})
            return _answer(200, JSON, body, *headers)
        if subpath.startswith("/static/"):
            return _static(subpath[len("/static/"):])
    except BadRequest as exc:
        if api:
            return _answer(400, JSON, export.json_bytes({"error": str(exc)}), *headers)
        return error_page(kero, 400, "This view cannot be shown", str(exc), *headers)
    except (TimeoutError, StoreUnavailable) as exc:
        log.warning("kero: dashboard could not read the database (%s)", exc)
        return unavailable()
    return _answer(404, "text/plain; charset=utf-8", b"Not found", *headers)


def unavailable() -> DashboardResponse:
    message = "The Kero database is busy or unavailable; try again in a moment."
    return _answer(503, "text/plain; charset=utf-8", message.encode(), ("Retry-After", "5"))


def error_page(kero: "Kero", status: int, heading: str, message: str, *headers: tuple[str, str], back: bool = True) -> DashboardResponse:
    body = render.render("kero/error.html", title=kero.config.title, heading=heading, message=message, back=back)
    return _answer(status, HTML, body, *headers)


def _view(kero: "Kero", params: Mapping[str, Sequence[str]], controls: Sequence[str], locked: tuple[Filter, ...],
          shared: bool) -> View:
    view = parse_view(params, kero.now(), controls=controls, goals=kero.config.goals, funnels=kero.config.funnels)
    return replace(view, filters=view.filters + locked, locked=locked, shared=shared)


def _page(kero: "Kero", params: Mapping[str, Sequence[str]], locked: tuple[Filter, ...], shared: bool) -> DashboardResponse:
    headers = SHARED_HEADERS if shared else ()
    view = _view(kero, params, ("format", "show", "partial", "limit"), locked, shared)
    fmt = control(params, "format", ("csv",))
    show = control(params, "show", tuple(PANELS))
    partial = control(params, "partial", ("modal",))
    if "limit" in params and fmt != "csv":
        raise BadRequest("'limit' applies to the CSV export (format=csv) and api/stats only.")
    if partial and not show:
        raise BadRequest("'partial=modal' needs 'show' (the card to list).")
    if fmt == "csv":
        dashboard = model.build(kero, view, rows=limit(params, EXPORT_ROWS, MAX_EXPORT_ROWS))
        name = f"kero-{view.timeframe}-{kero.now():%Y%m%d-%H%M}.csv"
        return _answer(200, "text/csv; charset=utf-8", export.to_csv(dashboard).encode("utf-8"),
                       ("Content-Disposition", f'attachment; filename="{name}"'), *headers)
    view = replace(view, show=show)
    if partial and show:
        panel = model.build_modal(kero, view, show)
        return _answer(200, HTML, render.render("kero/modal.html", panel=panel, view=view, open=False), *headers)
    dashboard = model.build(kero, view)
    return _answer(200, HTML, render.render("kero/dashboard.html", d=dashboard, view=view), *headers)


def _stats(kero: "Kero", params: Mapping[str, Sequence[str]], locked: tuple[Filter, ...], shared: bool) -> DashboardResponse:
    view = _view(kero, params, ("limit",), locked, shared)
    dashboard = model.build(kero, view, rows=limit(params, EXPORT_ROWS, MAX_EXPORT_ROWS))
    return _answer(200, JSON, export.json_bytes(export.to_json(dashboard)), *(SHARED_HEADERS if shared else ()))


def _static(name: str) -> DashboardResponse:
    files = render.static_files()
    if name not in files:
        return _answer(404, "text/plain; charset=utf-8", b"Not found")
    content_type = render.CONTENT_TYPES[name[name.rfind("."):]]
    # URLs carry a content hash (render.asset), so a browser may keep a file for good.
    return _answer(200, content_type, files[name], cache="private, max-age=31536000, immutable")
