"""The ``KERO`` settings dict, read once and cached until Django's ``setting_changed`` says it
changed (``override_settings`` in tests).

Accepted keys are the core's options upper-cased (derived from :data:`kero_core.config.OPTIONS`,
so a new core option is a new Django key with no change here), plus the Django-only keys below.
Values are validated by the core (and reported by ``checks.py``), never here."""

from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver

from kero_core.config import OPTIONS
from kero_core.http import credentials_problem

APP_NAME = "kero"  # the URL namespace of kero_django.urls

# The dashboard lives wherever the site includes ``kero_django.urls``, so the core's option that
# places it has no Django key: the mount point is found with ``reverse`` (see ``runtime``).
NOT_FOR_DJANGO = {"DASHBOARD_PATH": "the dashboard is served where you include kero_django.urls"}
CORE_KEYS: dict[str, str] = {o.name.upper(): o.name for o in OPTIONS if o.name.upper() not in NOT_FOR_DJANGO}
# Django-only keys and their defaults.
DJANGO_DEFAULTS: dict[str, Any] = {
    "RETENTION_DAYS": None,  # shorthand for RETENTION as a number of days
    "AUTH": None,  # dotted path to a callable(request) -> bool replacing the is_staff check
    "ADMIN_USER": None,  # HTTP Basic credentials, for sites without django.contrib.auth
    "ADMIN_PASSWORD": None,
}
KNOWN_KEYS = (*CORE_KEYS, *DJANGO_DEFAULTS)


@dataclass(frozen=True)
class KeroSettings:
    """The ``KERO`` dict split into what the core gets and what the adapter uses."""

    options: dict[str, Any] = field(default_factory=dict)  # keyword arguments of kero_core.Kero
    auth: Any = None  # a dotted path or a callable
    users: dict[str, str] = field(default_factory=dict)  # Basic auth: {ADMIN_USER: ADMIN_PASSWORD}


def raw_settings() -> dict[str, Any]:
    """``settings.KERO`` as given; ImproperlyConfigured when it is not a dict."""
    raw = getattr(settings, "KERO", None)
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ImproperlyConfigured(f"The KERO setting must be a dict, got {type(raw).__name__}.")
    return raw


@functools.cache
def get_settings() -> KeroSettings:
    """The parsed ``KERO`` setting (cached; cleared when the setting changes)."""
    raw = raw_settings()
    merged = {**DJANGO_DEFAULTS, **raw}
    options = {CORE_KEYS[key]: value for key, value in raw.items() if key in CORE_KEYS}
    if merged["RETENTION_DAYS"] is not None:
        if "retention" in options:
            raise ImproperlyConfigured("KERO sets both RETENTION_DAYS and RETENTION; keep one.")
        options["retention"] = merged["RETENTION_DAYS"]
    problem = credentials_error(raw)
    if problem:  # never a silent fallback to staff users: the site asked for Basic auth
        raise ImproperlyConfigured(problem)
    user, password = merged["ADMIN_USER"], merged["ADMIN_PASSWORD"]
    return KeroSettings(options=options, auth=merged["AUTH"], users={user: password} if user is not None else {})


def credentials_error(raw: dict[str, Any]) -> str | None:
    """What is wrong with ``ADMIN_USER``/``ADMIN_PASSWORD`` (one sentence), None when both are
    unset or both usable: an empty password would let anyone open the dashboard."""
    user, password = raw.get("ADMIN_USER"), raw.get("ADMIN_PASSWORD")
    if user is None and password is None:
        return None
    if user is None or password is None:
        given, missing = ("ADMIN_USER", "ADMIN_PASSWORD") if password is None else ("ADMIN_PASSWORD", "ADMIN_USER")
        return f"KERO['{given}'] is set but KERO['{missing}'] is not: set both, or neither."
    problem = credentials_problem(user, password)
    return f"KERO['ADMIN_USER'] and KERO['ADMIN_PASSWORD']: {problem}." if problem else None


def app_root() -> Path:
    """The folder a relative ``DB_PATH`` is resolved against: ``BASE_DIR`` when the settings define
    it (as ``startproject`` does), else the folder of the settings module, else (settings made
    with ``settings.configure()``) the working directory."""
    base_dir = getattr(settings, "BASE_DIR", None)
    if isinstance(base_dir, (str, os.PathLike)) and base_dir:
        return Path(base_dir)
    module = sys.modules.get(getattr(settings, "SETTINGS_MODULE", None) or "")
    module_file = getattr(module, "__file__", None)
    return Path(module_file).resolve().parent if module_file else Path.cwd()


def app_name() -> str:
    """The name this site claims its ``DB_PATH`` under: its root URLconf (the same for the
    development and production settings of one project)."""
    return f"django:{getattr(settings, 'ROOT_URLCONF', None) or getattr(settings, 'SETTINGS_MODULE', None) or 'settings'}"


@receiver(setting_changed)
def _setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "KERO":
        get_settings.cache_clear()
