"""Commands that write or read data in bulk: ``seed``, ``import``, ``export`` and ``prune``."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import click

from kero_core import export as exports
from kero_core.cli import short_help
from kero_core.cli.common import (
    OPTION_HELP, Moment, Progress, Span, brisk_thread_switches, bundled_geolite2, days_view, db_option,
    describe_span, open_kero, rate, synthetic_geoip_option, table, unwinding_on_sigterm,
)
from kero_core.dashboard import model
from kero_core.dashboard.model import MODAL_ROWS
from kero_core.importer import FORMATS, MALFORMED, STDIN, FileReport, ImportReport, Importer
from kero_core.kero import Kero
from kero_core.synthetic import generate


def seed_database(kero: Kero, events: int, days: int, seed: int, end: datetime | None = None) -> tuple[int, float]:
    """Write ``events`` synthetic events through :meth:`Kero.ingest` (the batch path of live
    events) with a progress bar, switching threads briskly (:func:`brisk_thread_switches`);
    returns (events stored, seconds taken)."""
    started = time.perf_counter()
    hits = generate(events, days=days, seed=seed, end=None if end is None else end.timestamp())
    with Progress("Seeding", events, "events") as bar, brisk_thread_switches():
        done = [0]

        def advance(count: int) -> None:
            done[0] += count
            bar.update(count, done[0])

        stored = kero.ingest(hits, progress=advance)
    return stored, time.perf_counter() - started


@click.command("seed", short_help=short_help("seed"))
@db_option(existing=False)
@click.option("--events", type=click.IntRange(min=0), default=1_000_000, show_default=True,
              help="How many events (page views, bots, custom events) to write.")
@click.option("--days", type=click.IntRange(min=1), default=30, show_default=True,
              help="How many days they spread over, ending at --end.")
@click.option("--seed", "seed_value", type=int, default=1, show_default=True,
              help="Random seed: the same seed and --end write the same traffic.")
@click.option("--end", type=Moment(), default=None, help="End of the history (UTC, YYYY-MM-DD[THH:MM]); default: now.")
@synthetic_geoip_option()
def seed(db_path: Path, events: int, days: int, seed_value: int, end: datetime | None, geoip: Path | None) -> None:
    """Write a realistic synthetic history (pages, referrers, campaigns, browsers, bots, and
    countries with a GeoLite2 file) into a database, through the same batch path as live events."""
    geoip = geoip or bundled_geolite2()
    with open_kero(db_path, geoip_db=geoip) as kero:
        stored, seconds = seed_database(kero, events, days, seed_value, end)
    click.echo(f"Stored {stored:,} events in {seconds:.1f} s ({rate(stored, seconds)} events/s) in {db_path}.")
    if geoip is None:
        click.echo("No locations: pass --geoip FILE.mmdb, or pip install maxminddb-geolite2.")


@click.command("import", short_help=short_help("import"))
@db_option(existing=False)
@click.option("--format", "log_format", type=click.Choice(("auto", *FORMATS)), default="auto", show_default=True,
              help="Log format; auto recognises it from each file's first lines. nginx is combined plus "
                   "nginx.conf's \"$http_x_forwarded_for\"; caddy-json is Caddy's structured access log.")
@click.option("--site-host", default="", metavar="HOST",
              help="Your site's host name, e.g. example.com: links from its own pages are navigation, not "
                   "referrals. Caddy logs carry it themselves.")
@click.option("--geoip", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="A MaxMind GeoLite2-City .mmdb file: visitors' country, region and city.")
@click.option("--ignore-bots", is_flag=True, help=OPTION_HELP["ignore_bots"])
@click.option("--keep-web-assets", is_flag=True,
              help="Also import requests for .css, .js, images, fonts, .php... and paths under /., /_, /wp... "
                   "(skipped by default: an app's own tracking rarely sees them).")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, allow_dash=True))
def import_(db_path: Path, log_format: str, site_host: str, geoip: Path | None, ignore_bots: bool,
            keep_web_assets: bool, files: tuple[str, ...]) -> None:
    """Import web server access logs (plain or .gz files, or - for stdin) with the rules of live
    tracking. Re-running is safe: only lines added since the last import are read."""
    total = None if STDIN in files else sum(os.path.getsize(f) for f in files)
    # Stopped by SIGTERM (exit code 143, as the signal's own), the import unwinds: its temporary
    # daily salts are deleted, and the next run resumes after the last stored batch.
    with unwinding_on_sigterm(128 + signal.SIGTERM), \
            open_kero(db_path, geoip_db=geoip, ignore_bots=ignore_bots, ignore_web_assets=not keep_web_assets) as kero:
        with Progress("Importing", total, "lines") as bar:
            importer = Importer(kero, log_format=log_format, site_host=site_host,
                                stdin=sys.stdin.buffer, progress=bar.update)
            report = importer.run(files)
    _print_import(report, site_host)
    if any(f.status == "failed" for f in report.files):
        raise SystemExit(1)


def _print_import(report: ImportReport, site_host: str) -> None:
    skipped = sum(report.skipped.values())
    click.echo(f"Read {report.lines:,} lines in {report.seconds:.1f} s ({rate(report.lines, report.seconds)} lines/s): "
               f"{report.imported:,} events imported, {skipped:,} lines skipped.")
    rows = [(f.name, f.log_format or "–", f.status, f.lines, f.imported, _file_note(f)) for f in report.files]
    click.echo(table(("file", "format", "status", "lines", "imported", "note"), rows))
    if skipped:
        click.echo("Skipped:")
        click.echo(table(("reason", "lines"), sorted(report.skipped.items(), key=lambda kv: -kv[1])))
    if report.malformed:
        click.echo(f"First {MALFORMED}s:")
        for name, line_number, text in report.malformed:
            click.echo(f"  {name}:{line_number}: {text}")
    formats = {f.log_format for f in report.files}
    if "common" in formats:
        click.echo("Note: the common log format has no User-Agent; Kero counts requests without one as bots.")
    if not site_host and formats - {"caddy-json", ""}:
        click.echo("Hint: pass --site-host example.com so that links within your site are not counted as referrals.")


def _file_note(report: FileReport) -> str:
    if report.error:
        return report.error
    if report.waiting_line:
        return "last line incomplete: imported by the next run"
    if report.status == "resumed" and not report.lines:
        return "nothing new"
    return ""


@click.command("export", short_help=short_help("export"))
@db_option(existing=True)
@click.option("--format", "file_format", type=click.Choice(tuple(exports.FORMATS)), required=True,
              help="csv (with a header), parquet, or json (one object per line).")
@click.option("--from", "start", type=Moment(), default=None, help="First day or time to export (UTC); default: the first event.")
@click.option("--to", "end", type=Moment(day_end=True), default=None,
              help="Last day to export, included (UTC), or a time, excluded; default: now.")
@click.option("--aggregates", is_flag=True,
              help="Export the dashboard's numbers for these whole days (key figures, chart, every card's rows, as in "
                   "its CSV export) instead of raw events.")
@click.option("--limit", type=click.IntRange(1, MODAL_ROWS), default=MODAL_ROWS, show_default=True,
              help="Rows per card, with --aggregates.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path), default=Path(STDIN),
              show_default=True, help="File to write; - is stdout.")
def export_(db_path: Path, file_format: str, start: datetime | None, end: datetime | None, aggregates: bool,
            limit: int, output: Path) -> None:
    """Export raw events (no IP addresses or User-Agents: they are never stored) or the dashboard's
    aggregates. Times are UTC. In CSV, text starting with = + - @ gets a leading ' so that no
    spreadsheet runs it as a formula."""
    to_stdout = str(output) == STDIN
    stdout = sys.stdout.buffer
    if to_stdout and file_format == "parquet" and stdout.isatty():
        raise click.UsageError("parquet is binary: pass -o FILE, or redirect stdout")
    folder = Path(tempfile.mkdtemp(prefix="kero-export-", dir=None if to_stdout else output.resolve().parent))
    try:
        written = folder / f"export.{file_format}"
        with open_kero(db_path, reading=True) as kero:
            if aggregates:
                last = None if end is None else (end - timedelta(microseconds=1)).date()
                view = days_view(kero, None if start is None else start.date(), last)
                rows = exports.export_aggregates(model.build(kero, view, rows=limit), written, file_format)
            else:
                with kero.read() as con:
                    rows = exports.export_events(con, written, file_format, start, end)
        if to_stdout:
            with open(written, "rb") as file:
                shutil.copyfileobj(file, stdout)
            stdout.flush()
        else:
            os.replace(written, output)  # all or nothing: no half-written file under its final name
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    what = "aggregate rows" if aggregates else "events"
    click.echo(f"Exported {rows:,} {what}" + ("" if to_stdout else f" to {output}") + ".", err=True)


@click.command("prune", short_help=short_help("prune"))
@db_option(existing=True)
@click.option("--older-than", type=Span(), default="15d", show_default=True,
              help="Delete events older than this (30m, 12h, 7d, 2w).")
def prune(db_path: Path, older_than: timedelta) -> None:
    """Apply a retention now: delete old events and print how many were removed."""
    with open_kero(db_path) as kero:
        removed = kero.prune(older_than)
        cutoff = kero.now() - older_than
    click.echo(f"Removed {removed:,} events older than {describe_span(older_than)} "
               f"(before {cutoff:%Y-%m-%d %H:%M} UTC).")
