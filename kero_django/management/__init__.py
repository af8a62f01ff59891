"""Helpers shared by the ``kero_*`` management commands."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError

from kero_core import Kero
from kero_django.runtime import get_kero


def command_kero() -> Kero:
    """The process's Kero, a bad ``KERO`` setting becoming a one-line command error."""
    try:
        return get_kero()
    except ImproperlyConfigured as exc:
        raise CommandError(str(exc)) from None
