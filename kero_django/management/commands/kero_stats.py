"""``manage.py kero_stats``: today's key figures (or the last N days') in the terminal."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from kero_django.management import command_kero

TOP = (("Top pages", "path"), ("Top referrers", "referrer_domain"), ("Top countries", "country"), ("Top browsers", "browser"))


class Command(BaseCommand):
    help = "Show Kero's key figures for today (UTC), or for the last --days days."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=0, help="the last N days instead of today (since 00:00 UTC)")
        parser.add_argument("--limit", type=int, default=5, help="rows in each top list (default: 5)")

    def handle(self, *args: Any, days: int, limit: int, **options: Any) -> None:
        kero = command_kero()
        now = kero.now()
        start = now - timedelta(days=days) if days > 0 else now.replace(hour=0, minute=0, second=0, microsecond=0)
        end = now + timedelta(seconds=1)  # include what was recorded this very second
        views = kero.count(start=start, end=end)
        visitors = kero.count_visitors(start=start, end=end)
        period = f"last {days} days" if days > 0 else "today"
        self.stdout.write(self.style.MIGRATE_HEADING(f"Kero: {period} ({start:%Y-%m-%d %H:%M} to {now:%Y-%m-%d %H:%M} UTC)"))
        self._row("Page views", views)
        self._row("Visitors", visitors)
        self._row("Views per visitor", f"{views / visitors:.1f}" if visitors else "-")
        slowest = kero.top("route", start=start, end=end, metric="p95_duration", limit=1)
        if slowest:
            route, p95 = slowest[0]
            self._row(f"Slowest route, p95: {route}", f"{p95:.0f} ms")
        for title, dimension in TOP:
            rows = kero.top(dimension, start=start, end=end, limit=limit)
            self.stdout.write("")
            self.stdout.write(self.style.MIGRATE_HEADING(f"{title} (visitors)"))
            for value, count in rows or [("(none yet)", "")]:
                self._row(value, count)

    def _row(self, label: str, value: Any) -> None:
        self.stdout.write(f"  {label[:48]:<48} {value:>10}")
