"""``manage.py kero_export``: the stored events (never IPs nor User-Agents: they are not
stored) as CSV or JSON, for a spreadsheet, a notebook or another tool."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import sys
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from kero_core.dashboard.export import safe_cell
from kero_core.schema import Event
from kero_django.management import command_kero

FIELDS = [f.name for f in dataclasses.fields(Event)]


class Command(BaseCommand):
    help = "Export Kero's events (all names: page views and custom events) as CSV or JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", choices=("csv", "json"), default="csv", help="output format (default: csv)")
        parser.add_argument("--from", dest="start", metavar="YYYY-MM-DD", help="first day (UTC) to export; default: the oldest event")
        parser.add_argument("--to", dest="end", metavar="YYYY-MM-DD", help="last day (UTC) to export, included; default: today")
        parser.add_argument("-o", "--output", help="file to write (default: standard output)")

    def handle(self, *args: Any, format: str, start: str | None, end: str | None, output: str | None, **options: Any) -> None:
        first, last = _day("--from", start), _day("--to", end)
        if first and last and last < first:
            raise CommandError("--to must not be before --from.")
        kero = command_kero()
        events = kero.query(
            name=None,
            start=_midnight(first) if first else None,
            end=_midnight(last + timedelta(days=1)) if last else None,
            limit=sys.maxsize,
        )
        events.reverse()  # oldest first, as a log reads
        text = _render(format, events)
        if output is None:
            self.stdout.write(text, ending="")
            return
        try:
            with open(output, "w", encoding="utf-8", newline="") as out:
                out.write(text)
        except OSError as exc:
            raise CommandError(f"cannot write {output}: {exc.strerror}.") from None
        self.stderr.write(f"Wrote {len(events):,} events to {output}.")


def _day(option: str, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{option} must be a date like 2026-11-01, got {value!r}.") from None


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=timezone.utc)


def _record(event: Event) -> dict[str, Any]:
    record = dataclasses.asdict(event)
    record["ts"] = event.ts.isoformat()
    if event.duration_ms is not None:  # stored as float32: its other digits are noise
        record["duration_ms"] = round(event.duration_ms, 3)
    return record


def _render(format: str, events: list[Event]) -> str:
    out = io.StringIO()
    if format == "json":
        json.dump([_record(e) for e in events], out, ensure_ascii=False, indent=1)
        out.write("\n")
        return out.getvalue()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(FIELDS)
    for event in events:
        record = _record(event)
        record["labels"] = json.dumps(record["labels"], ensure_ascii=False) if record["labels"] else ""
        writer.writerow([safe_cell(record[f]) for f in FIELDS])
    return out.getvalue()
