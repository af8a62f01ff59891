"""System checks: every mistake in the ``KERO`` setting shows up in ``manage.py check`` (and when
runserver starts) with a stable id and a hint, instead of a traceback at the first request.

Errors: kero.E001 KERO is not a dict; E002 DB_PATH missing; E003 an invalid value (the core's
own validation, one error per key); E004 AUTH is not a callable; E005 ADMIN_USER/ADMIN_PASSWORD
incomplete; E006 both RETENTION and RETENTION_DAYS.
Warnings: kero.W001 unknown key; W002 the middleware is missing; W003 nobody can open the
dashboard; W004 DASHBOARD_PATH has no effect; W005 ``kero_django.urls`` is not included."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.urls import NoReverseMatch, reverse
from django.utils.module_loading import import_string

from kero_core.config import OPTIONS, KeroConfigError, make_config
from kero_core.app_identity import claim, resolve_db_path
from kero_django.conf import CORE_KEYS, KNOWN_KEYS, NOT_FOR_DJANGO, app_name, app_root, credentials_error, raw_settings

MIDDLEWARE = "kero_django.middleware.KeroMiddleware"
AUTH_MIDDLEWARE = "django.contrib.auth.middleware.AuthenticationMiddleware"
EXAMPLE = 'KERO = {"DB_PATH": BASE_DIR / "kero"}'
HELP = {o.name: o.help for o in OPTIONS}


@register()
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    try:
        raw = raw_settings()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), hint=f"For example: {EXAMPLE}", id="kero.E001")]
    return [*_unknown_keys(raw), *_values(raw), *_auth(raw), *_credentials(raw), *_setup(raw)]


@register(Tags.urls)
def check_urls(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    try:
        reverse("kero:dashboard", kwargs={"subpath": ""})
    except NoReverseMatch:
        return [Warning(
            "kero_django.urls is not included in the URLconf, so the dashboard is not served.",
            hint='Add path("_kero/", include("kero_django.urls")) to your urlpatterns.',
            id="kero.W005",
        )]
    return []


def _unknown_keys(raw: dict[str, Any]) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for key in raw:
        if key in NOT_FOR_DJANGO:
            messages.append(Warning(f"KERO[{key!r}] has no effect: {NOT_FOR_DJANGO[key]}.", id="kero.W004"))
        elif key not in KNOWN_KEYS:
            close = difflib.get_close_matches(str(key).upper(), KNOWN_KEYS, n=1)
            hint = f"Did you mean {close[0]!r}? " if close else ""
            messages.append(Warning(
                f"KERO[{key!r}] is not a Kero setting and is ignored.",
                hint=f"{hint}Known keys: {', '.join(KNOWN_KEYS)}.",
                id="kero.W001",
            ))
    return messages


def _values(raw: dict[str, Any]) -> list[CheckMessage]:
    """Each value goes through the core's validation on its own, so every bad key is reported
    at once (the core stops at the first). Validating DB_PATH creates the folder, as Kero would."""
    db_path = raw.get("DB_PATH")
    if db_path is None or db_path == "":
        return [Error("KERO['DB_PATH'] is required: the folder where Kero keeps its data.", hint=f"For example: {EXAMPLE}", id="kero.E002")]
    root = app_root()  # a relative DB_PATH is the project's, as for Kero itself (see conf.app_root)
    given = [(key, CORE_KEYS[key], resolve_db_path(value, root) if key == "DB_PATH" else value)
             for key, value in raw.items() if key in CORE_KEYS]
    if raw.get("RETENTION_DAYS") is not None:
        if "RETENTION" in raw:
            return [Error("KERO sets both RETENTION_DAYS and RETENTION.", hint="Keep one of them.", id="kero.E006")]
        given.append(("RETENTION_DAYS", "retention", raw["RETENTION_DAYS"]))
    base = {"db_path": resolve_db_path(db_path, root)}
    if (problem := _problem(base) or _claimed(base["db_path"])) is not None:
        return [_invalid("DB_PATH", "db_path", problem)]
    # lake_data_path alone is refused (it needs a lake): checked on its own, it gets a stand-in
    # lake, and the check of all options together reports a missing LAKE.
    alone = {name: {"lake": "postgres:"} if name == "lake_data_path" else {} for _, name, _ in given}
    errors = [_invalid(key, name, p) for key, name, value in given
              if (p := _problem({**base, **alone[name], name: value})) is not None]
    if not errors and (problem := _problem(dict((name, value) for _, name, value in given))) is not None:
        errors.append(_invalid("", "", problem))  # a rule between options (e.g. two equal paths)
    return errors


def _claimed(db_path: Any) -> KeroConfigError | None:
    """Another app's data in DB_PATH (see kero_core.app_identity)."""
    try:
        claim(Path(db_path), app_name())
    except KeroConfigError as exc:
        return exc
    return None


def _problem(options: dict[str, Any]) -> KeroConfigError | None:
    try:
        make_config(**options)
    except KeroConfigError as exc:
        return exc
    return None


def _invalid(key: str, name: str, problem: KeroConfigError) -> Error:
    where = f"KERO[{key!r}]: " if key else "KERO: "
    return Error(f"{where}{problem}", hint=HELP.get(name), id="kero.E003")


def _auth(raw: dict[str, Any]) -> list[CheckMessage]:
    auth = raw.get("AUTH")
    if auth is None or callable(auth):
        return []
    hint = 'A dotted path to a function taking the request and returning True or False, e.g. "myapp.kero.can_view".'
    if not isinstance(auth, str):
        return [Error(f"KERO['AUTH'] must be a dotted path, got {auth!r}.", hint=hint, id="kero.E004")]
    try:
        target = import_string(auth)
    except ImportError as exc:
        return [Error(f"KERO['AUTH'] {auth!r} cannot be imported ({exc}).", hint=hint, id="kero.E004")]
    if not callable(target):
        return [Error(f"KERO['AUTH'] {auth!r} is not callable.", hint=hint, id="kero.E004")]
    return []


def _credentials(raw: dict[str, Any]) -> list[CheckMessage]:
    problem = credentials_error(raw)
    if problem:
        hint = "Set both ADMIN_USER and ADMIN_PASSWORD to non-empty strings (the user name without ':'), or neither."
        return [Error(problem, hint=hint, id="kero.E005")]
    return []


def _setup(raw: dict[str, Any]) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    middleware = list(getattr(settings, "MIDDLEWARE", None) or [])
    if MIDDLEWARE not in middleware:
        messages.append(Warning(
            f"{MIDDLEWARE} is not in MIDDLEWARE, so no request is tracked and the pixel is not served.",
            hint="Add it to MIDDLEWARE, first (then it records the status each client received).",
            id="kero.W002",
        ))
    has_users = apps.is_installed("django.contrib.auth") and AUTH_MIDDLEWARE in middleware
    if raw.get("AUTH") is None and raw.get("ADMIN_USER") is None and not has_users:
        messages.append(Warning(
            "Nobody can open the Kero dashboard: it is for staff users, and this site has no "
            "django.contrib.auth with its AuthenticationMiddleware.",
            hint="Set KERO['ADMIN_USER'] and KERO['ADMIN_PASSWORD'], or KERO['AUTH'].",
            id="kero.W003",
        ))
    return messages
