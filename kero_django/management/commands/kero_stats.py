"""``manage.py kero_stats``: the key figures of one of the dashboard's periods in the terminal."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from kero_core.dashboard.view import DEFAULT_TIMEFRAME, TIMEFRAMES, parse_view
from kero_django.management import command_kero

TOP = (("Top pages", "path"), ("Top referrers", "referrer_domain"), ("Top countries", "country"), ("Top browsers", "browser"))


class Command(BaseCommand):
    help = "Show Kero's key figures for one of the dashboard's periods (by default the dashboard's own)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--timeframe", choices=list(TIMEFRAMES), default=DEFAULT_TIMEFRAME,
                            help=f"the dashboard's period: {', '.join(TIMEFRAMES)} (default: {DEFAULT_TIMEFRAME}, as the dashboard)")
        parser.add_argument("--limit", type=int, default=5, help="rows in each top list (default: 5)")

    def handle(self, *args: Any, timeframe: str, limit: int, **options: Any) -> None:
        kero = command_kero()
        view = parse_view({"period": [timeframe]}, kero.now())
        start, end = view.start, view.end
        views = kero.count(start=start, end=end)
        visitors = kero.count_visitors(start=start, end=end)
        self.stdout.write(self.style.MIGRATE_HEADING(f"Kero: {view.label} ({start:%Y-%m-%d %H:%M} to {view.now:%Y-%m-%d %H:%M} UTC)"))
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
