"""The ``kero`` blueprint: the dashboard (page, assets, CSV and JSON API, all below one mount
point and so behind one auth check) and the tracking pixel.

They are Flask views rather than part of the WSGI wrap so that an ``auth`` callable runs inside
the request context, where ``flask.request`` and Flask-Login's ``current_user`` work."""

from __future__ import annotations

import logging
from typing import Callable, Mapping

from flask import Blueprint, Response, request

from kero_core import Kero as CoreKero
from kero_core.dashboard import is_shared, respond
from kero_core.http import PIXEL_GIF, PIXEL_HEADERS, REALM, basic_auth_ok

AuthCheck = Callable[[], bool]
log = logging.getLogger("kero")


def make_blueprint(kero: CoreKero, users: Mapping[str, str], auth: AuthCheck | None) -> Blueprint:
    """A blueprint serving ``kero``'s dashboard and pixel at their configured paths.

    Made per app, because each app has its own paths, core and credentials."""
    blueprint = Blueprint("kero", __name__)
    mount = kero.config.dashboard_path

    def dashboard(subpath: str = "") -> Response:
        below = request.path[len(mount):]
        # A shared link's URL checks its token instead (the routes take GET and HEAD only).
        if not is_shared(below) and not _allowed(users, auth):
            return _denied(users, auth)
        answer = respond(
            kero,
            below,
            request.args.to_dict(flat=False),
            request_path=request.script_root + request.path,
        )
        return Response(answer.body, status=answer.status, headers=answer.headers)

    # The page lives at "<mount>/" (its assets are linked relatively); "<mount>" is answered by
    # the core too (a redirect), after the auth check like every other dashboard URL.
    # No automatic OPTIONS: Flask would answer it before the view, so before the auth check.
    private = {"provide_automatic_options": False}
    blueprint.add_url_rule(mount + "/", "dashboard", dashboard, **private)
    blueprint.add_url_rule(mount, "dashboard_mount", dashboard, **private)
    blueprint.add_url_rule(mount + "/<path:subpath>", "dashboard_files", dashboard, **private)
    if kero.config.pixel_path:

        def pixel() -> Response:
            kero.record_pixel(request.environ)
            return Response(PIXEL_GIF, headers=PIXEL_HEADERS)

        blueprint.add_url_rule(kero.config.pixel_path, "pixel", pixel)
    return blueprint


def _allowed(users: Mapping[str, str], auth: AuthCheck | None) -> bool:
    if auth is not None:
        try:
            return bool(auth())
        except Exception:  # a broken check must neither open the dashboard nor become a 500
            log.exception("kero: the dashboard auth callable failed; access refused")
            return False
    return basic_auth_ok(request.environ.get("HTTP_AUTHORIZATION"), users)


def _denied(users: Mapping[str, str], auth: AuthCheck | None) -> Response:
    if auth is not None:
        return Response("Kero dashboard: access denied.", 403, mimetype="text/plain")
    if users:
        return Response(
            "Kero dashboard: log in with the dashboard credentials.", 401,
            {"WWW-Authenticate": REALM}, mimetype="text/plain",
        )
    return Response(
        "Kero dashboard: access is not configured (set KERO_ADMIN_USER and KERO_ADMIN_PASSWORD, or pass auth=).",
        403, mimetype="text/plain",
    )
