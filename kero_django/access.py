"""Who may open the dashboard. By default active staff users (like ``staff_member_required``);
``KERO["AUTH"]`` replaces that check; ``ADMIN_USER``/``ADMIN_PASSWORD`` add HTTP Basic
credentials for sites without ``django.contrib.auth``. Never open by default."""

from __future__ import annotations

import functools
import logging
from typing import Any, Callable

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.urls import NoReverseMatch, reverse
from django.utils.module_loading import import_string

from kero_core.http import REALM, basic_auth_ok
from kero_django.conf import get_settings

log = logging.getLogger("kero")


def allows(request: HttpRequest) -> bool:
    """Whether the request's user passes the check (``AUTH``, else ``is_staff``)."""
    try:
        auth = get_settings().auth
    except ImproperlyConfigured:  # reported by the checks; the admin index must still render
        return False
    if auth is None:
        user = getattr(request, "user", None)
        return bool(user is not None and user.is_active and user.is_staff)
    try:
        return bool(_callable(auth)(request))
    except Exception:
        log.exception("kero: the KERO['AUTH'] check failed; access refused")
        return False


def denial(request: HttpRequest) -> HttpResponse | None:
    """None when the request may see the dashboard, else the response refusing it."""
    try:
        users = get_settings().users
    except ImproperlyConfigured:  # e.g. an empty ADMIN_PASSWORD: refuse everyone, staff included
        return HttpResponseForbidden("Kero dashboard: the KERO setting is invalid; run `manage.py check`.",
                                     content_type="text/plain; charset=utf-8")
    if users and basic_auth_ok(request.META.get("HTTP_AUTHORIZATION"), users):
        return None
    if allows(request):
        return None
    if users:  # the site chose passwords: let the browser ask for them
        response = HttpResponse("Kero dashboard: log in with the dashboard credentials.", status=401, content_type="text/plain; charset=utf-8")
        response["WWW-Authenticate"] = REALM
        return response
    user = getattr(request, "user", None)
    if user is not None and not user.is_authenticated:
        # Imported here: this module must load on sites without django.contrib.auth.
        from django.contrib.auth.views import redirect_to_login

        return redirect_to_login(request.get_full_path(), _admin_login())
    return HttpResponseForbidden("Kero dashboard: you are not allowed to see it.", content_type="text/plain; charset=utf-8")


def _admin_login() -> str | None:
    """The admin's login page, like ``staff_member_required``; None (LOGIN_URL) without it."""
    if apps.is_installed("django.contrib.admin"):
        try:
            return reverse("admin:login")
        except NoReverseMatch:  # the admin is installed but not in this URLconf
            pass
    return None


@functools.lru_cache(maxsize=8)
def _import(path: str) -> Callable[[HttpRequest], Any]:
    return import_string(path)


def _callable(auth: Any) -> Callable[[HttpRequest], Any]:
    return _import(auth) if isinstance(auth, str) else auth
