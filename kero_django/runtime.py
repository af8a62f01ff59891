"""The process's one :class:`kero_core.Kero`, built on first use and never before.

Building lazily (not at import, not in ``AppConfig.ready()``) means nothing is opened or started
in a process that will fork: gunicorn's master with ``--preload``, runserver's autoreloader
parent and management commands that never track build nothing. The core writes what is buffered
at exit (its own ``atexit`` hook), so the instance needs no shutdown code here."""

from __future__ import annotations

import logging
import os
import threading
from typing import Any, Mapping

from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest
from django.urls import get_script_prefix, reverse

from kero_core import Kero, KeroConfigError
from kero_django import conf

log = logging.getLogger("kero")

_lock = threading.Lock()
# None: not built yet; a Kero; or the configuration error that stopped it being built.
_state: Kero | ImproperlyConfigured | None = None


def get_kero() -> Kero:
    """The process's Kero, with the whole core API (``track``, ``flush``, ``count``, ``query``,
    ``top``, ...). Raises ImproperlyConfigured when the ``KERO`` setting is wrong.

    >>> get_kero().count(filters={"path": "/pricing"})  # doctest: +SKIP
    """
    state = _state if _state is not None else _build()
    if isinstance(state, ImproperlyConfigured):
        raise ImproperlyConfigured(str(state))
    return state


def built() -> bool:
    """Whether :func:`get_kero` answers without building (so without any I/O)."""
    return _state is not None


def tracker() -> Kero | None:
    """The Kero for tracking code, or None when it cannot be built: tracking never raises."""
    try:
        return get_kero()
    except ImproperlyConfigured:
        return None  # logged once, when the build failed
    except Exception:
        log.exception("kero: could not start; this request is not tracked")
        return None


def track(name: str, labels: Mapping[str, Any] | None = None, request: HttpRequest | None = None, *, value: float = 1.0) -> None:
    """Record a custom event, enriched (browser, country, visitor) from ``request`` when given.

    >>> kero_django.track("signup", {"plan": "pro"}, request=request)  # doctest: +SKIP
    """
    kero = tracker()
    if kero is not None:
        kero.track(name, labels, value, request=request)


def reset() -> None:
    """Close and forget the instance, so the next use builds one from the current settings."""
    global _state
    with _lock:
        state, _state = _state, None
    if isinstance(state, Kero):
        state.close()


def _build() -> Kero | ImproperlyConfigured:
    global _state
    with _lock:
        if _state is None:
            try:
                kero = Kero(root_path=conf.app_root(), **{**conf.get_settings().options, **_mount_point()})
                kero.claim(conf.app_name())
                _state = kero
            except (KeroConfigError, ImproperlyConfigured) as exc:
                _state = ImproperlyConfigured(f"KERO setting: {exc}")
                log.error("kero: not tracking: %s (run `manage.py check` for details)", exc)
        return _state


def _mount_point() -> dict[str, str]:
    """The core's ``dashboard_path``: where the site includes ``kero_django.urls`` (as seen in
    ``PATH_INFO``), so the core never tracks it as a page of the site."""
    try:
        url = reverse("kero:dashboard", kwargs={"subpath": ""})
    except Exception:  # not included, or get_kero() called while the URLconf is importing
        return {}
    prefix = get_script_prefix()
    path = ("/" + url[len(prefix):] if url.startswith(prefix) else url).rstrip("/")
    return {"dashboard_path": path} if len(path) >= 2 else {}


@receiver(setting_changed)
def _setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "KERO":
        reset()


def _after_fork_in_child() -> None:
    # A lock held by another thread at fork time would stay held forever in the child.
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)
