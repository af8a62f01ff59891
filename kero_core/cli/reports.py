"""Commands that look at a database: ``stats`` (figures and top lists) and ``doctor`` (health)."""

from __future__ import annotations

import re
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, NamedTuple

import click
import maxminddb

from kero_core import private, queries
from kero_core.app_identity import claimed_by
from kero_core.cli import short_help
from kero_core.cli.common import (
    days_view, db_option, describe_span, lake_options, open_kero, period_view, table, writable,
)
from kero_core.dashboard import model
from kero_core.dashboard.model import MODAL_ROWS
from kero_core.dashboard.view import DEFAULT_TIMEFRAME, TIMEFRAMES
from kero_core.importer import STATE_FILE, ImportState, LogImportError
from kero_core.lake.connection import CATALOG, described, redact
from kero_core.lake.store import LAKE_SCHEMA_VERSION
from kero_core.store import DB_FILE, SCHEMA_VERSION, StoreUnavailable

# -- stats -------------------------------------------------------------------------------------------

_SHOWN_PANELS = ("pages", "referrers")


@click.command("stats", short_help=short_help("stats"))
@db_option(existing=True)
@click.option("--timeframe", type=click.Choice((*TIMEFRAMES, "all")), default=DEFAULT_TIMEFRAME, show_default=True,
              help="The dashboard's period: today, the past 24 hours (the dashboard's default too), 7 or 30 days, "
                   "12 months, month or year to date, or every stored day.")
@click.option("--from", "first", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="First day (UTC, YYYY-MM-DD) of a period of whole days, instead of --timeframe; default: the first event.")
@click.option("--to", "last", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Last day (UTC, YYYY-MM-DD), included, of a period of whole days; default: today.")
@click.option("--limit", type=click.IntRange(1, MODAL_ROWS), default=10, show_default=True, help="Rows of each top list.")
@click.pass_context
def stats(ctx: click.Context, db_path: Path, timeframe: str, first: datetime | None, last: datetime | None, limit: int) -> None:
    """Print the dashboard's key figures and its top pages and referrers (humans' page views)."""
    days = first is not None or last is not None
    if days and ctx.get_parameter_source("timeframe") is not click.core.ParameterSource.DEFAULT:
        raise click.UsageError("give either --timeframe or --from/--to, not both")
    with open_kero(db_path, reading=True) as kero:
        view = days_view(kero, first and first.date(), last and last.date()) if days else period_view(kero, timeframe)
        dashboard = model.build(kero, view, rows=limit)
    view = dashboard.view
    click.echo(f"{dashboard.title}: {view.label}, {view.start:%Y-%m-%d %H:%M} to {view.end:%Y-%m-%d %H:%M} UTC\n")
    figures = [(f.label, f.text, f.previous_text, f.change.text) for f in dashboard.figures]
    click.echo(table(("", "this period", "period before", "change"), figures))
    panels = {p.panel.id: p for card in dashboard.cards for p in card.panels}
    for panel_id in _SHOWN_PANELS:
        panel = panels[panel_id]
        click.echo(f"\n{panel.panel.title} ({panel.total:,} in all)")
        headers = (panel.panel.heading, *(c.title for c in panel.panel.columns))
        rows = [(row.label.text, *row.texts) for row in panel.rows]
        click.echo(table(headers, rows) if rows else "  none")


# -- doctor ------------------------------------------------------------------------------------------

class Finding(NamedTuple):
    level: str  # ok, note, warning, problem
    message: str
    hint: str = ""


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _megabytes(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"


def _files(folder: Path) -> list[Finding]:
    db = folder / DB_FILE
    if not db.is_file():
        return [Finding("problem", f"no {DB_FILE} in {folder}",
                        "is this the app's db_path? The file appears once the app stores its first events.")]
    wal = _size(db.with_name(DB_FILE + ".wal"))
    found = [Finding("ok", f"{DB_FILE}: {_megabytes(_size(db))}" + (f" (+ {_megabytes(wal)} write-ahead log)" if wal else ""))]
    damaged = sorted(folder.glob(f"{DB_FILE}*.corrupt-*"))
    if damaged:
        found.append(Finding("warning", f"{len(damaged)} damaged database file(s) set aside: {', '.join(p.name for p in damaged)}",
                             "Kero started a new database when it could not open the old one; delete them once checked."))
    return found


def _folder(folder: Path) -> list[Finding]:
    """Which folder is checked, and which app claimed it: a relative db_path is the app's folder's
    (Flask's root_path, Django's BASE_DIR, the file creating Kero), not the working directory's."""
    owner = claimed_by(folder)
    found = [Finding("ok", f"folder {folder.resolve()}" + (f", the db_path of {owner}" if owner else ""))]
    if not writable(folder):
        found.append(Finding("note", "read-only: read as it is, without storing the spool's pending events",
                             "the app, or a copy in a writable folder, stores them."))
    return found


def _spool(folder: Path, now: float, store: str) -> list[Finding]:
    spool = folder / "spool"
    pending = sorted(spool.glob("*.parquet"))
    found = []
    if pending:
        age = now - min(p.stat().st_mtime for p in pending)
        found.append(Finding(
            "warning" if age > 300 else "ok",
            f"spool backlog: {len(pending)} batch file(s), {_megabytes(sum(_size(p) for p in pending))}, "
            f"the oldest {describe_span(timedelta(minutes=max(1, int(age // 60))))} old"
            + ("; stored now" if writable(folder) else ""),
            (f"a backlog that keeps coming back means no process could store into {store}: "
             + ("is PostgreSQL or the data path unreachable?" if store == "the lake" else "is another program holding it?"))
            if age > 300 else "",
        ))
    else:
        found.append(Finding("ok", "spool: no backlog"))
    foreign = sorted(spool.glob("*.foreign"))
    if foreign:
        found.append(Finding("problem", f"{len(foreign)} spool file(s) written by another user set aside (*.foreign)",
                             f"they are never loaded: someone else wrote into {spool}; delete them once checked."))
    bad = sorted(spool.glob("*.bad"))
    if bad:
        found.append(Finding("problem", f"{len(bad)} unreadable spool file(s) set aside (*.bad)",
                             f"they are never loaded: inspect them with DuckDB or delete them from {spool}."))
    stale = [p for p in spool.glob(".*.tmp") if now - p.stat().st_mtime > 3600]
    if stale:
        found.append(Finding("warning", f"{len(stale)} unfinished spool file(s) older than an hour",
                             f"a process died while writing them; they are safe to delete from {spool}."))
    return found


def _lake(lake: dict[str, str]) -> list[Finding]:
    """Which lake is checked, its password hidden (the lines may end up in a ticket)."""
    where = lake.get("lake_data_path") or "the data path it was created with"
    return [Finding("ok", f"lake: {redact(lake['lake'])} (data: {where})")]


def _permissions(folder: Path, read_only: bool) -> list[Finding]:
    """What the app would refuse at start-up: a data folder others own or can write to. Read
    only (a copy, a read-only mount), nothing is written or used from it: notes, not problems."""
    checked = [(folder, "db_path")] + [(folder / sub, f"db_path's {sub}/") for sub in private.SUBFOLDERS
                                       if (folder / sub).is_dir()]
    problems = [found for path, name in checked if (found := private.problem(path, name))]
    if problems and read_only:
        return [Finding("note", message, "read as it is: this command writes nothing there; the app that writes "
                                         "the folder must own it.") for message in problems]
    if problems:
        return [Finding("problem", message) for message in problems]
    return [Finding("ok", "data folder private: owned by this user, writable by no one else")]


def _contents(kero_path: Path, lake: bool = False) -> list[Finding]:
    what = "the lake" if lake else "the database"
    try:
        with open_kero(kero_path, reading=True) as kero, kero.read(wait=10) as con:
            everything = queries.where(None, None, None, None)
            events = queries.count(con, everything)
            views = queries.count(con, queries.where("http_req", None, None, None))
            first = queries.first_event_time(con, None)
            newest = queries.events(con, everything, 1)
            now = kero.now()
            upkeep = _upkeep(con, time.time(), now.date()) if lake else []
    except StoreUnavailable as exc:
        hint = "is PostgreSQL up, and are the catalog's name, user and password (PGPASSWORD) right?" if lake else ""
        return [Finding("problem", f"{what} cannot be opened: {described(exc)}", hint)]
    except TimeoutError:
        return [Finding("problem", f"{what} stayed busy for 10 s", "another process of this host holds it; try again.")]
    found = [Finding("ok", f"lake reachable, schema version {LAKE_SCHEMA_VERSION} (current)" if lake
                     else f"schema version {SCHEMA_VERSION} (current)")] + upkeep
    if not events:
        return found + [Finding("note", "no events stored yet", "events appear once the app serves tracked requests.")]
    found.append(Finding("ok", f"{events:,} events ({views:,} page views) from {first:%Y-%m-%d %H:%M} "
                               f"to {newest[0].ts:%Y-%m-%d %H:%M} UTC"))
    idle = now - newest[0].ts.replace(tzinfo=None)
    if idle > timedelta(days=2):
        found.append(Finding("note", f"no event in the last {idle.days} days",
                             "is the app running, with Kero installed and this db_path?"))
    return found


# The elected host applies the retention and compacts the lake hourly (kero_core.lake.store).
UPKEEP_LATE = 2 * 3600.0


def _upkeep(con: Any, now: float, today: date) -> list[Finding]:
    """The lake's maintenance, which one running host does: data files, the last retention and
    compaction pass, past days not rolled up yet."""
    files, size, deletes = con.execute(f"""SELECT sum(file_count), sum(file_size_bytes), sum(delete_file_count)
                                           FROM ducklake_table_info('{CATALOG}')""").fetchone()
    found = [Finding("ok", f"lake data: {files or 0:,} Parquet file(s), {_megabytes(size or 0)}"
                           + (f", {deletes:,} delete file(s)" if deletes else ""))]
    last = con.execute("SELECT max(value::DOUBLE) FROM meta WHERE key = 'last_prune'").fetchone()[0]
    if last is None:
        found.append(Finding("note", "the lake has not been maintained yet",
                             "a host running the app with lake set applies the retention and compacts it hourly."))
    else:
        age = max(0.0, now - last)
        ago = describe_span(timedelta(minutes=int(age // 60))) if age >= 60 else "under a minute"
        late = age > UPKEEP_LATE
        found.append(Finding("warning" if late else "ok", f"last retention and compaction pass: {ago} ago",
                             "no host has maintained the lake since: is a host running the app with lake set, "
                             "and does its log say why maintenance failed?" if late else ""))
    waiting = con.execute("SELECT count(*) FROM rollup_days WHERE NOT rolled AND day < ?", [today]).fetchone()[0]
    if waiting:
        found.append(Finding("note", f"{waiting} past day(s) wait for their roll-up",
                             "a running host rolls them up within seconds; meanwhile their figures are read from the events."))
    return found


_DAY = re.compile(r"\d{4}-\d{2}-\d{2}$")


def _salts(folder: Path, today: date) -> list[Finding]:
    """Salts older than yesterday let those days' visitor ids be recomputed while they exist."""
    salts = folder / "salts"
    old = sorted(p.name for p in salts.glob("*") if _DAY.match(p.name) and p.name < (today - timedelta(days=1)).isoformat()) if salts.is_dir() else []
    if not old:
        return []
    return [Finding("warning", f"visitor salts of {len(old)} past day(s) are still on disk ({old[0]}...)",
                    "they are destroyed when the app records its next event; until then those days' ids could be recomputed.")]


def _geoip(path: Path | None, now: float) -> list[Finding]:
    if path is None:
        return [Finding("note", "GeoIP database not checked", "pass --geoip PATH to check the app's geoip_db file.")]
    try:
        with maxminddb.open_database(str(path)) as reader:
            built, kind = reader.metadata().build_epoch, reader.metadata().database_type
    except Exception as exc:  # noqa: BLE001  maxminddb raises many types for a bad file
        return [Finding("problem", f"{path} is not a usable MaxMind database ({exc})",
                        "download GeoLite2-City.mmdb again (geoipupdate).")]
    days = int((now - built) // 86_400)
    if days > 30:
        return [Finding("warning", f"GeoIP database {kind} was built {days} days ago",
                        "MaxMind updates GeoLite2 twice a week and its licence asks to delete outdated copies: run geoipupdate.")]
    return [Finding("ok", f"GeoIP database {kind}, built {days} day(s) ago")]


def _imports(folder: Path) -> list[Finding]:
    if not (folder / STATE_FILE).exists():
        return []
    try:
        files = ImportState(folder).files
    except LogImportError as exc:
        return [Finding("problem", str(exc))]
    return [Finding("ok", f"{len(files)} imported log file(s) remembered in {STATE_FILE}")]


@click.command("doctor", short_help=short_help("doctor"))
@db_option(existing=False)
@click.option("--geoip", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The app's GeoLite2-City .mmdb file, to check that it is usable and recent.")
def doctor(db_path: Path, geoip: Path | None) -> None:
    """Check a database: files (or the lake), spool backlog, schema, events and their dates,
    salts, GeoIP file. Exits with 1 when it finds a problem."""
    now = time.time()
    lake = lake_options()
    if not lake and not db_path.is_dir():
        raise click.BadParameter(f"directory {str(db_path)!r} does not exist", param_hint="'--db'")
    permissions = _permissions(db_path, read_only=not lake and not writable(db_path)) if db_path.is_dir() else []
    # Opening a folder that fails the check would be refused (KeroConfigError), as the app refuses it.
    private_folder = all(f.level != "problem" for f in permissions)
    if lake:
        findings = permissions + _lake(lake) + _spool(db_path, now, "the lake")
        if private_folder:
            findings += _contents(db_path, lake=True)
    else:
        findings = permissions + _folder(db_path) + _files(db_path) + _spool(db_path, now, "the database")
        if (db_path / DB_FILE).is_file() and private_folder:
            findings += _contents(db_path)
    findings += _salts(db_path, datetime.now(timezone.utc).date()) + _imports(db_path) + _geoip(geoip, now)
    for finding in findings:
        click.echo(f"{finding.level:<8} {finding.message}")
        if finding.hint:
            click.echo(f"{'':<8} hint: {finding.hint}")
    problems = sum(1 for f in findings if f.level == "problem")
    click.echo(f"\n{problems} problem(s) found." if problems else "\nNo problem found.")
    if problems:
        raise SystemExit(1)
