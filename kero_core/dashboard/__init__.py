"""The dashboard, rendered by the core so every adapter serves the same page.

Adapters authenticate, then call :func:`respond` with the part of the URL below the dashboard's
mount point and the query parameters, and send back the :class:`DashboardResponse`."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Mapping, Sequence

if TYPE_CHECKING:
    from kero_core.kero import Kero


@dataclass
class DashboardResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


def respond(kero: "Kero", subpath: str, params: Mapping[str, Sequence[str]], *, request_path: str) -> DashboardResponse:
    """Answer a dashboard request. ``subpath`` is what follows the mount point ("" or "/...")."""
    if subpath == "":
        # Assets are linked relatively, so the page must live at ".../mount/".
        last = request_path.rstrip("/").rsplit("/", 1)[-1]
        return DashboardResponse(308, [("Location", f"{last}/")])
    if subpath != "/":
        return DashboardResponse(404, [("Content-Type", "text/plain; charset=utf-8")], b"Not found")
    now = kero.now()
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    views = kero.count(start=start, end=now + timedelta(seconds=1))
    visitors = kero.count_visitors(start=start, end=now + timedelta(seconds=1))
    title = html.escape(kero.config.title)
    body = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>"
        f"<body><h1>{title}</h1><p>Today: <strong id='views'>{views}</strong> page views, "
        f"<strong id='visitors'>{visitors}</strong> visitors.</p></body></html>"
    )
    return DashboardResponse(200, [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store")], body.encode())
