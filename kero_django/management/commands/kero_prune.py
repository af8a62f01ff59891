"""``manage.py kero_prune``: delete events older than the retention now, instead of waiting for
the hourly pass."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from kero_django.management import command_kero


class Command(BaseCommand):
    help = "Delete Kero events older than the retention (KERO['RETENTION_DAYS'], 15 days by default) now."

    def handle(self, *args: Any, **options: Any) -> None:
        kero = command_kero()
        removed = kero.prune()
        self.stdout.write(f"Removed {removed:,} events older than {kero.config.retention.days} days.")
