"""Moving in: copy a single-file history (``<db_path>/kero.duckdb``) into a lake, one day per
transaction, idempotently (``kero lake push``).

- Each day's events go to the lake in one transaction with a ``meta`` row ``push:<source>/<day>``
  holding the day's event count (``<source>``: the folder's host id), so a push stopped at any
  point and run again copies each day exactly once.
- A day pushed before is skipped; if the file gained events for it since (the app went on
  writing to the file after the push), they are not copied (the lake cannot tell them from the
  ones it has) and the report says so.
- Rollups are not copied: the lake's maintainer rolls the pushed days up from their events, so
  a day that both the file and the lake's live hosts hold gets exact figures.
- The file's salts of today and yesterday become the lake's unless it has its own already, so a
  visitor seen before the switch and after it is one visitor.
- The file is read through a read-only session of its store (the folder's ingest lock held, so
  no process of the folder writes to it meanwhile; nothing ingested into it, nothing migrated). Spool files are not loaded into the file: an app started on the lake
  with the same ``db_path`` delivers them. Spool files the file holds already (a process that
  died between its commit and its cleanup) are deleted, or that app would store them twice.
- Two pushes of one folder at once are refused (a PostgreSQL advisory lock per folder)."""

from __future__ import annotations

import datetime
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import duckdb

from kero_core.config import Config, KeroConfigError
from kero_core.enrich import SaltStore
from kero_core.lake.catalog import CatalogUnavailable, LakeSalts
from kero_core.lake.store import LakeStore, host_id
from kero_core.schema import COLUMN_NAMES
from kero_core.store import Store, StoreUnavailable

ROWS_PER_BATCH = 200_000  # rows of the file read at a time while a day streams into the lake


@dataclass
class PushReport:
    """What a push did: days and events copied, skipped (pushed before), left out (added to the
    file after an earlier push), days rolled up, salts carried over."""

    source: str
    pushed_days: int = 0
    pushed_events: int = 0
    skipped_days: int = 0
    skipped_events: int = 0
    left_out: dict[datetime.date, int] = field(default_factory=dict)
    rolled_up: int = 0
    spool_deleted: int = 0
    spool_waiting: int = 0
    salts_adopted: list[datetime.date] = field(default_factory=list)
    salts_kept_by_lake: list[datetime.date] = field(default_factory=list)
    seconds: float = 0.0


def push(config: Config, progress: Callable[[int, int], None] | None = None,
         clock: Callable[[], float] = time.time) -> PushReport:
    """Copy the events of the single-file database in ``config.db_path`` into ``config.lake``;
    ``progress`` gets (events of the day just pushed, days pushed so far). Raises
    StoreUnavailable when the file or the lake cannot be used."""
    if config.lake is None:
        raise KeroConfigError("kero lake push needs a lake to push to (the lake option).")
    started = time.perf_counter()
    db_path = config.db_path
    source = Store(db_path, config.retention, clock, read_only=True)  # its lock held, nothing written
    source_id = host_id(db_path)
    report = PushReport(source=str(source.db_file))
    with tempfile.TemporaryDirectory(prefix="kero-push-") as spool:
        # The lake's side has a spool folder of its own: db_path's ingest lock is the source's.
        target = LakeStore(Path(spool), config.retention, config.lake, config.lake_data_path, clock)
        try:
            with target.catalog.elected(f"push:{source_id}") as alone:
                if not alone:
                    raise StoreUnavailable(f"another 'kero lake push' of {db_path} is running; try again when it ends")
                with source.session(wait=None) as file_con:
                    report.spool_deleted, report.spool_waiting = _tidy_spool(source, file_con)
                    with target.session(wait=None) as lake_con:
                        _push_days(file_con, lake_con, target, source_id, report, progress)
                report.salts_adopted, report.salts_kept_by_lake = _adopt_salts(source, target, clock)
            report.rolled_up = target.complete_rollups()
        except CatalogUnavailable as exc:
            raise StoreUnavailable(str(exc)) from None
        finally:
            target.close()
    report.seconds = time.perf_counter() - started
    return report


def _tidy_spool(source: Store, file_con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """Delete the spool files the file holds already; returns (deleted, still waiting)."""
    files = source.pending()
    names = [f.name for f in files]
    held = {row[0] for row in file_con.execute(
        "SELECT name FROM ingested WHERE list_contains(?, name)", [names]).fetchall()}
    for f in files:
        if f.name in held:
            f.unlink(missing_ok=True)
    return len(held), len(files) - len(held)


def _push_days(file_con: duckdb.DuckDBPyConnection, lake_con: duckdb.DuckDBPyConnection, target: LakeStore,
               source_id: str, report: PushReport, progress: Callable[[int, int], None] | None) -> None:
    days = file_con.execute("SELECT ts::DATE, count(*) FROM events GROUP BY 1 ORDER BY 1").fetchall()
    pushed = {key: int(value) for key, value in lake_con.execute(
        "SELECT key, value FROM meta WHERE starts_with(key, ?)", [f"push:{source_id}/"]).fetchall()}
    columns = ", ".join(COLUMN_NAMES)
    for day, count in days:
        key = f"push:{source_id}/{day.isoformat()}"
        if key in pushed:
            report.skipped_days += 1
            report.skipped_events += pushed[key]
            if count > pushed[key]:
                report.left_out[day] = count - pushed[key]
            continue

        def attempt(day: datetime.date = day, key: str = key, count: int = count) -> None:
            start = datetime.datetime.combine(day, datetime.time())
            rows = file_con.execute(f"SELECT {columns} FROM events WHERE ts >= ? AND ts < ?",
                                    [start, start + datetime.timedelta(days=1)]).to_arrow_reader(ROWS_PER_BATCH)
            lake_con.register("kero_push_day", rows)
            try:
                lake_con.execute("BEGIN")
                lake_con.execute(f"INSERT INTO events ({columns}) SELECT {columns} FROM kero_push_day")
                lake_con.execute("INSERT INTO rollup_marks VALUES (?)", [day])
                lake_con.execute("INSERT INTO meta VALUES (?, ?)", [key, str(count)])
                lake_con.execute("COMMIT")
            finally:
                lake_con.unregister("kero_push_day")

        target.append(lake_con, attempt)
        report.pushed_days += 1
        report.pushed_events += count
        if progress is not None:
            progress(count, report.pushed_days)


def _adopt_salts(source: Store, target: LakeStore, clock: Callable[[], float]) -> tuple[list[datetime.date], list[datetime.date]]:
    """Offer the file's salts of today and yesterday to the lake; returns the days whose salt the
    lake took, and those for which it had its own already."""
    today = datetime.datetime.fromtimestamp(clock(), datetime.timezone.utc).date()
    local = SaltStore(source.folder / "salts")
    salts = target.salts()
    assert isinstance(salts, LakeSalts)
    adopted, kept = [], []
    for day in (today - datetime.timedelta(days=1), today):
        salt = local.cached(day)
        if salt is None or len(salt) < 16:
            continue
        (adopted if salts.adopt(day, salt) == salt else kept).append(day)
    return adopted, kept
