"""What the ``kero`` commands share: the ``--db`` and ``--lake`` options, time spans and moments as parameter
types, opening Kero and the dashboard's views, plain-text tables and the progress bar."""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import re
import signal
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import click

from kero_core import queries
from kero_core.config import MAX_RETENTION_DAYS, OPTIONS
from kero_core.dashboard.view import View, parse_view
from kero_core.kero import Kero
from kero_core.store import DB_FILE

# Commands other than `kero prune` never delete events: a database copied from production, or
# months of imported history, stays whole however old it is.
KEEP_EVERYTHING = timedelta(days=MAX_RETENTION_DAYS)
OPTION_HELP = {option.name: option.help for option in OPTIONS}


def lake_option(*, required: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--lake`` (or KERO_LAKE): the lake's PostgreSQL catalog, as the ``lake`` option."""
    # (No default when required: click 8.3+ takes an explicit None default as a given value.)
    default = {} if required else {"default": None}
    return click.option(
        "--lake", "lake", envvar="KERO_LAKE", show_envvar=True, required=required, metavar="CATALOG",
        help=OPTION_HELP["lake"], **default,
    )


def lake_data_path_option() -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--lake-data-path`` (or KERO_LAKE_DATA_PATH), as the ``lake_data_path`` option."""
    return click.option(
        "--lake-data-path", "lake_data_path", envvar="KERO_LAKE_DATA_PATH", show_envvar=True, metavar="PATH|URL",
        default=None, help=OPTION_HELP["lake_data_path"],
    )


def db_option(*, existing: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--db PATH`` with ``--lake`` and ``--lake-data-path``, for every command that opens a
    database. :func:`open_kero` opens the lake when ``--lake`` (or KERO_LAKE) is given; the
    command's function receives ``db_path`` only.

    With ``existing``, the folder must hold a Kero database already (reading commands must not
    create an empty one at a mistyped path), unless a lake is given: ``--db`` is then only the
    local folder of the spool."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(command)
        def with_lake(*args: Any, lake: str | None, lake_data_path: str | None, **kwargs: Any) -> Any:
            ctx = click.get_current_context()
            ctx.meta[_LAKE_META] = {"lake": lake, "lake_data_path": lake_data_path}
            if existing and not lake:
                db_param = next(p for p in ctx.command.params if p.name == "db_path")
                _existing_db(ctx, db_param, kwargs["db_path"])
            return command(*args, **kwargs)

        help_text = "Kero's data folder (the app's db_path), holding kero.duckdb, or with --lake the local spool."
        with_db = click.option(
            "--db", "db_path", required=True, metavar="PATH", help=help_text,
            type=click.Path(file_okay=False, path_type=Path),
        )(with_lake)
        return lake_option()(lake_data_path_option()(with_db))

    return decorate


_LAKE_META = "kero.lake"  # where db_option leaves --lake and --lake-data-path for open_kero


def _existing_db(ctx: click.Context, param: click.Parameter, value: Path) -> Path:
    if not (value / DB_FILE).is_file():
        raise click.BadParameter(f"{str(value)!r} holds no Kero database ({DB_FILE})", ctx, param)
    return value


def existing_db_option() -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--db PATH`` of a folder that must hold a single-file database (``kero lake push``)."""
    return click.option(
        "--db", "db_path", required=True, metavar="PATH", help="Kero's data folder (the app's db_path), holding kero.duckdb.",
        type=click.Path(file_okay=False, path_type=Path), callback=_existing_db,
    )


def lake_options() -> dict[str, Any]:
    """The ``lake`` and ``lake_data_path`` the running command was given (through
    :func:`db_option`), empty outside such a command."""
    ctx = click.get_current_context(silent=True)
    given = ctx.meta.get(_LAKE_META, {}) if ctx is not None else {}
    return {name: value for name, value in given.items() if value}


@contextlib.contextmanager
def unwinding_on_sigterm(exit_code: int) -> Iterator[None]:
    """SIGTERM ends the command like Ctrl-C does, unwinding (temporary folders are deleted), with
    ``exit_code``; by default it would end the process at once and leave them behind."""

    def stop(signum: int, frame: Any) -> None:
        sys.exit(exit_code)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


BULK_SWITCH_INTERVAL = 0.0005  # seconds; Python's default is 0.005 (benchmarks/RESULTS.md, section 3)


@contextlib.contextmanager
def brisk_thread_switches(interval: float = BULK_SWITCH_INTERVAL) -> Iterator[None]:
    """For ``kero seed``: Python hands the GIL from thread to thread after ``interval`` seconds
    instead of 5 ms. Its DuckDB thread (ingesting the spool and rolling up the days beside the
    enrichment, see Store.ingesting_alongside) takes the GIL after every task of every statement
    to check for Ctrl-C (duckdb-python does), and each time waited up to the switch interval
    while the enrichment held it: a day's roll-up of 33,000 events took 1.8 s there instead of
    0.3 s alone, so most days were left for the end. Not for a host app's process (its threads
    are not Kero's to tune), nor ``kero import`` (it ingests after it enriches, on one thread)."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(interval)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def bundled_geolite2() -> Path | None:
    """The GeoLite2-City file of the ``maxminddb-geolite2`` package (an old but real copy, enough
    for synthetic traffic's countries), None when that package is not installed."""
    try:
        from _maxminddb_geolite2 import geolite2_database
    except ImportError:
        return None
    return Path(geolite2_database())


def synthetic_geoip_option() -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--geoip`` of the commands writing synthetic traffic (``seed``, ``demo``)."""
    return click.option(
        "--geoip", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
        help="A MaxMind GeoLite2-City .mmdb file for the visitors' locations; default: the one of the "
             "maxminddb-geolite2 package when it is installed (pip install maxminddb-geolite2).",
    )


def open_kero(db_path: Path, *, reading: bool = False, **options: Any) -> Kero:
    """A Kero on ``db_path`` (or on the lake the command was given) that never prunes (see
    KEEP_EVERYTHING) and keeps and shows response times whenever there are some, unless told
    otherwise. ``reading`` commands open a database they cannot write to (a read-only mount, a
    read-only copy) read-only instead of failing."""
    options = {**lake_options(), **options}
    options.setdefault("retention", KEEP_EVERYTHING)
    options.setdefault("measure_requests", True)
    options.setdefault("release", False)  # a command is not a start of the app
    read_only = reading and "lake" not in options and not writable(db_path)
    return Kero(db_path, root_path=Path.cwd(), read_only=read_only, **options)  # a path typed in a shell is the shell's


def writable(db_path: Path) -> bool:
    """Whether a command can write into ``db_path`` (its folder, and its database file if any)."""
    database = db_path / DB_FILE
    return os.access(db_path, os.W_OK | os.X_OK) and (not database.exists() or os.access(database, os.W_OK))


def days_view(kero: Kero, first: date | None = None, last: date | None = None) -> View:
    """The dashboard's view of the days ``first`` to ``last`` (UTC, both included); by default
    from the day of the first stored event to today."""
    now = kero.now()
    if first is None:
        with kero.read() as con:
            first = (queries.first_event_time(con, None) or now).date()
    last = last or now.date()
    return parse_view({"from": [first.isoformat()], "to": [last.isoformat()]}, now)


def period_view(kero: Kero, timeframe: str) -> View:
    """The dashboard's view of one of its timeframes (7d, 30d, ...), or of all days ("all")."""
    return days_view(kero) if timeframe == "all" else parse_view({"period": [timeframe]}, kero.now())


class Span(click.ParamType):
    """A duration such as 30m, 12h, 7d or 2w."""

    name = "span"
    UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> timedelta:
        if isinstance(value, timedelta):
            return value
        found = re.fullmatch(r"(\d+)\s*([mhdw])", str(value).strip().lower())
        if found is None or int(found.group(1)) == 0:
            self.fail(f"{value!r} is not a time span such as 30m, 12h, 7d, 2w", param, ctx)
        return timedelta(**{self.UNITS[found.group(2)]: int(found.group(1))})


class Moment(click.ParamType):
    """A UTC date or time, YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]. With ``day_end``, a bare date
    means the end of that day, so ``--to 2026-11-10`` includes the 10th."""

    name = "date"

    def __init__(self, day_end: bool = False) -> None:
        self.day_end = day_end

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            self.fail(f"{value!r} is not a date (YYYY-MM-DD) or time (YYYY-MM-DDTHH:MM)", param, ctx)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        if self.day_end and len(text) == 10:
            moment += timedelta(days=1)
        return moment


def describe_span(span: timedelta) -> str:
    """"7 days", "12 hours", "30 minutes"."""
    seconds = int(span.total_seconds())
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, indent: str = "  ") -> str:
    """Rows as aligned text columns; numbers right-aligned with thousands separators."""
    cells = [[_cell(v) for v in row] for row in rows]
    numeric = [all(isinstance(row[i], (int, float)) or row[i] is None for row in rows) for i in range(len(headers))]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if right else v.ljust(w) for v, w, right in zip(values, widths, numeric)]
        return (indent + "  ".join(parts)).rstrip()

    return "\n".join([line(headers), *(line(r) for r in cells)])


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


class Progress:
    """A click progress bar on stderr (drawn only on a terminal) showing items per second and,
    when the total is known, an ETA. ``update(steps, count)`` advances it by ``steps`` (bytes,
    events) and shows ``count`` things done so far."""

    def __init__(self, label: str, total: int | None, unit: str) -> None:
        self.unit = unit
        self.started = time.perf_counter()
        source = itertools.repeat(None) if total is None else None  # an endless source: no ETA
        stderr = sys.stderr
        self.bar = click.progressbar(
            source, length=total, label=label, file=stderr, hidden=not stderr.isatty(),
            show_eta=total is not None, item_show_func=self._info,
        )

    def _info(self, count: int | None) -> str | None:
        if count is None:
            return None
        rate = count / max(time.perf_counter() - self.started, 1e-9)
        return f"{count:,} {self.unit}, {rate:,.0f} {self.unit}/s"

    def update(self, steps: int, count: int) -> None:
        self.bar.update(steps, count)

    def __enter__(self) -> "Progress":
        self.bar.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.bar.__exit__(*exc_info)


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f}" if seconds > 0 else "–"

