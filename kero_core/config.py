"""Kero's options: one table (name, default, help) that the core, the Flask keys, the Django
settings, the CLI and the README all derive from, and the validation of each option.

Every user mistake becomes a :class:`KeroConfigError` whose message names the option."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

from kero_core import private


class KeroConfigError(ValueError):
    """A bad Kero option. The message is one sentence naming the option."""


@dataclass(frozen=True)
class Option:
    name: str
    default: Any
    help: str


OPTIONS: tuple[Option, ...] = (
    Option("db_path", None, "Folder holding Kero's data (created if missing, mode 0700); required. A relative path is the app's folder's, not the working directory's. Refused if another user owns it or can write to it."),
    Option("dashboard_path", "/_kero", "URL path of the dashboard; starts with '/', at least 2 characters."),
    Option("pixel_path", None, "URL path of the 1x1 tracking pixel, e.g. '/visit.gif'; None disables it."),
    Option("geoip_db", None, "Path to a MaxMind GeoLite2-City .mmdb file; None disables locations."),
    Option("measure_requests", False, "Record the response time (ms) of each tracked request."),
    Option("ignore_web_assets", False, "Do not track .css/.js/images/fonts/.php..., paths under /., /_, /wp... and /favicon.ico."),
    Option("ignore_bots", False, "Do not record bots, crawlers and HTTP client libraries."),
    Option("ignore_dnt", False, "Record requests that send 'DNT: 1' or 'Sec-GPC: 1' (by default they are not recorded)."),
    Option("retention", timedelta(days=15), "How long the dashboard's data is kept (a timedelta, or a number of days)."),
    Option("raw_retention", None, "How long individual events are kept, when shorter than retention (at least 2 days): older days keep only their daily rollups, so views that need events (filters other than one country, a goal added later, event lists, exports) cover this window only. None: as long as retention."),
    Option("trusted_proxies", None, "None: forwarding headers only from a loopback/private peer (a reverse proxy), then the right-most non-private X-Forwarded-For entry; 0: REMOTE_ADDR only; N: the N-th X-Forwarded-For entry from the right."),
    Option("title", "App stats", "Title shown on the dashboard."),
    Option("flush_interval", 1.0, "Seconds between two background writes."),
    Option("max_buffer", 100_000, "Events held in memory before new ones are dropped (and counted)."),
    Option("writer_process", True, "Build and spool events in a process of Kero's own beside each app process that records (started and stopped by Kero), so the app's requests never wait for the GIL while a batch is enriched; False builds them in a thread of the app's process."),
    Option("lake", None, "A DuckLake catalog in PostgreSQL shared by several hosts, e.g. 'postgres:dbname=kero host=db user=kero' or a postgresql:// URL (password from PGPASSWORD or ~/.pgpass); None keeps everything in db_path."),
    Option("lake_data_path", None, "Where the lake's Parquet files live: a folder every host mounts, or s3://bucket/prefix/; needed when the lake is created."),
    Option("goals", None, "Conversions the dashboard counts: custom event names or page paths with * wildcards, e.g. ['signup', '/thanks', '/docs/*']."),
    Option("funnels", None, "Named lists of steps (paths with * wildcards, or event names) done in order within one visit, e.g. {'Checkout': ['/pricing', '/signup', 'signup']}."),
    Option("release", None, "The running release (a commit hash, a version), annotated on the dashboard's chart when the app starts; None reads KERO_RELEASE, GIT_COMMIT, HEROKU_SLUG_COMMIT, RENDER_GIT_COMMIT or FLY_IMAGE_REF from the environment; False annotates nothing."),
)
OPTION_NAMES = tuple(o.name for o in OPTIONS)
DEFAULTS = {o.name: o.default for o in OPTIONS}


@dataclass(frozen=True)
class Config:
    db_path: Path
    dashboard_path: str = "/_kero"
    pixel_path: str | None = None
    geoip_db: Path | None = None
    measure_requests: bool = False
    ignore_web_assets: bool = False
    ignore_bots: bool = False
    ignore_dnt: bool = False
    retention: timedelta = field(default_factory=lambda: timedelta(days=15))
    raw_retention: timedelta | None = None
    trusted_proxies: int | None = None
    title: str = "App stats"
    flush_interval: float = 1.0
    max_buffer: int = 100_000
    writer_process: bool = True
    lake: str | None = None
    lake_data_path: str | None = None
    goals: tuple[Any, ...] = ()  # kero_core.goals.Step
    funnels: tuple[Any, ...] = ()  # kero_core.goals.Funnel
    release: str | None = None


def _url_path(name: str, value: Any, allow_none: bool) -> str | None:
    if value is None and allow_none:
        return None
    if not isinstance(value, str) or not value.startswith("/") or len(value) < 2:
        raise KeroConfigError(
            f"{name} must be a URL path starting with '/' and at least 2 characters long, got {value!r}."
        )
    return value.rstrip("/") or value


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise KeroConfigError(f"{name} must be True or False, got {value!r}.")
    return value


MAX_RETENTION_DAYS = 36_525  # a hundred years: anything longer is a mistake


MIN_RAW_RETENTION_DAYS = 2  # the default view (the last 24 hours) reads yesterday's events too


def _retention(value: Any, name: str = "retention", least_days: float = 0) -> timedelta:
    rule = f"between {least_days:g} and {MAX_RETENTION_DAYS} days" if least_days else \
        f"positive and at most {MAX_RETENTION_DAYS} days"
    given = value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value) or abs(value) > MAX_RETENTION_DAYS:
            raise KeroConfigError(f"{name} must be {rule}, got {value!r}.")
        value = timedelta(days=value)
    if not isinstance(value, timedelta):
        raise KeroConfigError(f"{name} must be a timedelta or a number of days, got {value!r}.")
    enough = value >= timedelta(days=least_days) if least_days else value > timedelta(0)
    if not enough or value > timedelta(days=MAX_RETENTION_DAYS):
        raise KeroConfigError(f"{name} must be {rule}, got {given if given is not value else days_text(value)}.")
    return value


def days_text(span: timedelta) -> str:
    """A retention as people say it: "15 days", "1.5 days"."""
    days = span / timedelta(days=1)
    return f"{days:g} day{'' if days == 1 else 's'}"


def _raw_retention(value: Any) -> timedelta | None:
    return None if value is None else _retention(value, "raw_retention", MIN_RAW_RETENTION_DAYS)


def _db_path(value: Any, read_only: bool = False) -> Path:
    if value is None or value == "":
        raise KeroConfigError("db_path is required: the folder where Kero keeps its data, e.g. db_path='./kero'.")
    if not isinstance(value, (str, os.PathLike)):
        raise KeroConfigError(f"db_path must be a folder path, got {value!r}.")
    path = Path(value)
    if path.exists() and not path.is_dir():
        raise KeroConfigError(f"db_path must be a folder, but {str(path)!r} is a file.")
    if read_only:  # only read: the folder must be there, and nothing is written to it
        if not path.is_dir():
            raise KeroConfigError(f"db_path {str(path)!r} does not exist.")
        return path
    try:
        unsafe = private.prepare(path)
    except OSError as exc:
        if path.is_dir() and not os.access(path, os.W_OK | os.X_OK):
            raise KeroConfigError(f"db_path {str(path)!r} is not writable by this process.") from None
        raise KeroConfigError(f"db_path {str(path)!r} cannot be created: {exc.strerror}.") from None
    if unsafe:
        raise KeroConfigError(unsafe)
    if not os.access(path, os.W_OK | os.X_OK):
        raise KeroConfigError(f"db_path {str(path)!r} is not writable by this process.")
    return path


def _geoip_db(value: Any) -> Path | None:
    if value is None or value == "":
        return None
    path = Path(value)
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise KeroConfigError(f"geoip_db {str(path)!r} {what}; pass the path of a GeoLite2-City .mmdb file.")
    import maxminddb

    try:
        maxminddb.open_database(str(path)).close()
    except Exception as exc:  # maxminddb raises several types for a bad file
        raise KeroConfigError(f"geoip_db {str(path)!r} is not a valid MaxMind database ({exc}).") from None
    return path


def _trusted_proxies(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise KeroConfigError(f"trusted_proxies must be None or an integer >= 0, got {value!r}.")
    return value


def _flush_interval(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 3600:
        raise KeroConfigError(f"flush_interval must be a positive number of seconds, at most 3600, got {value!r}.")
    return float(value)


def _max_buffer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 10_000_000:
        raise KeroConfigError(f"max_buffer must be a positive number of events (whole, at most 10,000,000), got {value!r}.")
    return value


_LAKE_PREFIXES = ("postgres:", "postgresql://", "postgres://")
_DATA_PATH_SCHEMES = ("s3://", "gs://", "gcs://", "az://", "abfss://", "r2://")


def _lake(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not value.startswith(_LAKE_PREFIXES):
        shown = "a non-string value" if not isinstance(value, str) else "a string not starting with postgres:"
        raise KeroConfigError(
            f"lake must be a PostgreSQL catalog such as 'postgres:dbname=kero host=db.internal user=kero' "
            f"or 'postgresql://kero@db.internal/kero', got {shown}."
        )
    _require_lake_extra()
    return value


def _require_lake_extra() -> None:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise KeroConfigError('lake needs the lake extra: pip install "kero-analytics[lake]".') from None


def _lake_data_path(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise KeroConfigError(f"lake_data_path must be a folder path or an s3:// URL, got {value!r}.")
    text = os.fspath(value)
    if "://" in text:
        if not text.startswith(_DATA_PATH_SCHEMES):
            raise KeroConfigError(
                f"lake_data_path {text!r} has an unknown scheme; use a shared folder or one of "
                f"{', '.join(_DATA_PATH_SCHEMES)}."
            )
        return text if text.endswith("/") else text + "/"
    # Every host must name the same folder: an absolute path, as each host mounts it.
    return str(Path(text).expanduser().absolute()) + "/"


# Where a release id is found when the release option is None: Kero's own variable first, then
# those CI systems and hosts set (Jenkins and others, Heroku, Render, Fly.io).
RELEASE_VARIABLES = ("KERO_RELEASE", "GIT_COMMIT", "HEROKU_SLUG_COMMIT", "RENDER_GIT_COMMIT", "FLY_IMAGE_REF")
MAX_RELEASE = 200


def _release(value: Any) -> str | None:
    if value is False:
        return None
    if value is None:
        value = next((os.environ[name] for name in RELEASE_VARIABLES if os.environ.get(name, "").strip()), None)
        if value is None:
            return None
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > MAX_RELEASE:
        raise KeroConfigError(
            f"release must be a release id of 1 to {MAX_RELEASE} characters (a commit hash, a version), "
            f"None (read from {', '.join(RELEASE_VARIABLES)}) or False, got {str(value)[:60]!r}."
        )
    return value.strip()


_VALIDATORS: dict[str, Callable[[Any], Any]] = {
    "db_path": _db_path,
    "dashboard_path": lambda v: _url_path("dashboard_path", v, allow_none=False),
    "pixel_path": lambda v: _url_path("pixel_path", v, allow_none=True),
    "geoip_db": _geoip_db,
    "measure_requests": lambda v: _bool("measure_requests", v),
    "ignore_web_assets": lambda v: _bool("ignore_web_assets", v),
    "ignore_bots": lambda v: _bool("ignore_bots", v),
    "ignore_dnt": lambda v: _bool("ignore_dnt", v),
    "retention": _retention,
    "raw_retention": _raw_retention,
    "trusted_proxies": _trusted_proxies,
    "title": lambda v: str(v),
    "flush_interval": _flush_interval,
    "max_buffer": _max_buffer,
    "writer_process": lambda v: _bool("writer_process", v),
    "lake": _lake,
    "lake_data_path": _lake_data_path,
    "goals": lambda v: _goals_module().parse_goals(v),
    "funnels": lambda v: _goals_module().parse_funnels(v),
    "release": _release,
}


def _goals_module() -> Any:
    from kero_core import goals  # it imports KeroConfigError from here

    return goals


def make_config(*, read_only: bool = False, **options: Any) -> Config:
    """Validate ``options`` (names from :data:`OPTIONS`) and return a :class:`Config`. With
    ``read_only``, ``db_path`` must exist and need not be writable (nothing is written to it)."""
    unknown = sorted(set(options) - set(OPTION_NAMES))
    if unknown:
        import difflib

        hints = [difflib.get_close_matches(u, OPTION_NAMES, n=1) for u in unknown]
        hint = "".join(f" (did you mean {h[0]!r}?)" for h in hints if h)
        raise KeroConfigError(f"unknown Kero option {', '.join(map(repr, unknown))}{hint}.")
    values = {**DEFAULTS, **options}
    checked = {name: _db_path(values[name], read_only) if name == "db_path" else _VALIDATORS[name](values[name])
               for name in OPTION_NAMES}
    if checked["pixel_path"] is not None and checked["pixel_path"] == checked["dashboard_path"]:
        raise KeroConfigError("pixel_path must differ from dashboard_path.")
    if checked["raw_retention"] is not None:
        if checked["raw_retention"] > checked["retention"]:
            raise KeroConfigError(f"raw_retention ({days_text(checked['raw_retention'])}) must not be longer than "
                                  f"retention ({days_text(checked['retention'])}): the rollups are made from the events.")
        if checked["lake"] is not None:
            raise KeroConfigError("raw_retention is not available with lake yet: the lake keeps every event for "
                                  "retention (it stores about 25 bytes per event); leave raw_retention unset.")
    if checked["lake_data_path"] is not None and checked["lake"] is None:
        raise KeroConfigError("lake_data_path is set but lake is not: name the lake's PostgreSQL catalog too.")
    return Config(**checked)
