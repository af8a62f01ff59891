"""The lake flavour of :class:`kero_core.store.Store`: the same local spool and ingest lock, with
the events, rollups and bookkeeping tables in a DuckLake shared by every host.

What differs from the single file, and why:
- The connection stays open (opening costs ~200 ms: two extensions and the catalog) and is
  remade after a failure or a fork; the ingest lock still serialises this host's processes.
- A spool file is recorded in ``ingested`` as ``<host id>/<file name>``, in the transaction that
  loads it, so a host that dies between commit and cleanup never loads it twice, and two hosts'
  files never share a name.
- DuckLake has no primary keys, and two hosts updating one row conflict. So ingests only append:
  events, their names, and a mark per day they touched (``rollup_marks``). One maintainer at a
  time (a PostgreSQL advisory lock) rolls up closed days, applies the retention and compacts.
  It records the lake snapshot each day was rolled up at (``rolled_days``); a day counts as rolled
  up while no mark newer than that snapshot exists (the ``rollup_days`` view the queries read),
  so a late ingest into a past day is read from its events until the maintainer redoes the day.
- Maintenance that deletes is retried on conflicts with concurrent appends; files are removed
  only well after they stopped being used (deleting a file a writer has not committed yet, or
  one an open read still uses, loses data: see ../shared/LAKE.md)."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import random
import secrets
import time
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import duckdb

from kero_core import private, rollups
from kero_core.enrich import SaltStore
from kero_core.lake.catalog import Catalog, CatalogUnavailable, LakeSalts
from kero_core.lake.connection import CATALOG, LakeUnavailable, connect, described, redact
from kero_core.schema import COLUMN_NAMES
from kero_core.store import MIGRATIONS, PRUNE_EVERY, SCHEMA_VERSION, Store, StoreUnavailable, create_meta

log = logging.getLogger("kero")

# 2: the annotations and shared_links tables; 3: day_properties; 4: day_goals and day_funnels;
# 5: the goals' twins of the view tables and day_goal_goals (rollups.create_v10); 6: day_hours
# and the folded rows' new key (rollups.create_v12); 7: day_visits (rollups.create_v13)
LAKE_SCHEMA_VERSION = 7
HOST_ID_FILE = "host-id"
LOCAL_SALTS = private.LAKE_SALTS
MAINTAIN_EVERY = 5.0  # seconds between two attempts of a host at maintenance
LOG_EVERY = 60.0  # seconds between two log lines about failed maintenance
# Every ingest of every host writes a small Parquet file, and a read pays ~1.5 ms per file it
# scans: between the hourly compactions, small files are merged every MERGE_EVERY seconds, up to
# SMALL_FILE bytes (files past it are left for the hourly pass, so no big file is rewritten often).
MERGE_EVERY = 300.0
SMALL_FILE = 8_000_000
KEEP_INGESTED = timedelta(days=7)  # how long spool names are remembered (a dead host's leftovers)
# Files no snapshot uses any more are deleted after this long: longer than any read lasts.
FILE_GRACE = "1 hour"
# Files no snapshot knows (a writer killed before its commit) are deleted after this long: far
# longer than a commit takes, so a file being committed is never one of them.
ORPHAN_GRACE = "2 days"
CONFLICT_RETRIES = 20
WRITES_LOCK = "writes"
MAINTAINER_LOCK = "maintainer"
# Tables the single file has that the lake replaces: rollup_days (see the module docstring) and
# meta (with a primary key).
_OWN_TABLES = {
    "meta": "key VARCHAR NOT NULL, value VARCHAR",
    "rollup_marks": "day DATE NOT NULL",
    "rolled_days": "day DATE NOT NULL, snapshot BIGINT NOT NULL",
}
_ROLLUP_DAYS_VIEW = """
    CREATE VIEW rollup_days AS
    SELECT day, r.snapshot IS NOT NULL AND coalesce(m.newest, -1) <= r.snapshot AS rolled
    FROM (SELECT day, max(snapshot_id) AS newest FROM rollup_marks GROUP BY day) AS m
    FULL OUTER JOIN (SELECT day, max(snapshot) AS snapshot FROM rolled_days GROUP BY day) AS r USING (day)"""
# (max: two maintainers at once, possible if PostgreSQL dropped the election's lock mid-way, leave
# two rows for a day; the next roll-up of the day replaces both.)

T = TypeVar("T")


class LakeStore(Store):
    """A store whose database is a DuckLake (``lake``: its PostgreSQL catalog; ``data_path``:
    where its Parquet files live) and whose spool stays in the local ``folder``."""

    def __init__(self, folder: Path, retention: timedelta, lake: str, data_path: str | None,
                 clock: Callable[[], float] = time.time, conversions: rollups.Conversions = rollups.Conversions()) -> None:
        super().__init__(folder, retention, clock, conversions=conversions)
        self.lake = lake
        self.data_path = data_path
        self.name = f"the lake {redact(lake)!r}"
        self.catalog = Catalog(lake)
        self.host = host_id(folder)
        self._con: duckdb.DuckDBPyConnection | None = None
        self._pid = os.getpid()
        self._next_maintenance = 0.0
        self._maintenance_logged = -math.inf

    def salts(self) -> SaltStore:
        # Copies of the lake's salts apart from the file store's own (a folder that moves to the
        # lake keeps the salts it had: they are not the other hosts' salts); those are offered to
        # the lake for the days it has none yet, and destroyed on time like the lake's.
        return LakeSalts(self.catalog, SaltStore(self.folder / LOCAL_SALTS),  # type: ignore[return-value]
                         before=super().salts())

    def _batch_name(self, path: Path) -> str:
        return f"{self.host}/{path.name}"

    # -- the connection ---------------------------------------------------------------------------
    def _open(self) -> duckdb.DuckDBPyConnection:
        if self._pid != os.getpid():  # forked: the parent's connection is not ours to use or close
            _ABANDONED.append(self._con)
            self._con, self._pid = None, os.getpid()
        if self._con is not None and not _alive(self._con):
            self._drop()  # PostgreSQL restarted, or a network blip: open anew rather than fail this session
        if self._con is None:
            try:
                con = connect(self.lake, self.data_path)
            except LakeUnavailable as exc:
                raise StoreUnavailable(str(exc)) from None
            try:
                self._ensure_schema(con)
            except (duckdb.Error, CatalogUnavailable) as exc:
                con.close()
                raise StoreUnavailable(f"{self.name} cannot be prepared now ({described(exc)})") from None
            self._con = con
        return self._con

    def _nothing_to_write(self) -> bool:
        """A lake's read always runs its session first: its connection stays open (nothing to
        save there), and its maintenance runs on its own schedule (see _maintain)."""
        return False

    @contextmanager
    def _beside_others(self, wait: float | None) -> Iterator[duckdb.DuckDBPyConnection]:
        """The lake's reads need no ingest lock (each reads a snapshot of the lake, whoever
        ingests meanwhile), so other processes' readers and ingests go on beside them; this
        process's one connection is taken by one thread at a time."""
        if not self._thread_lock.acquire(timeout=-1 if wait is None else wait):
            raise TimeoutError("the Kero database is busy")
        try:
            with self._opened() as con:
                yield con
        finally:
            self._thread_lock.release()

    def _release(self, con: duckdb.DuckDBPyConnection, failure: BaseException | None) -> None:
        """Keep the connection, unless the session failed in a way that may have broken it."""
        if isinstance(failure, (duckdb.Error, StoreUnavailable)):
            self._drop()

    def _drop(self) -> None:
        con, self._con = self._con, None
        if con is not None and self._pid == os.getpid():
            try:
                con.close()
            except duckdb.Error:
                pass

    def close(self) -> None:
        """Close the connections of this process (the next session opens them again)."""
        with self._thread_lock:
            self._drop()
        self.catalog.close()

    def _ensure_schema(self, con: duckdb.DuckDBPyConnection) -> None:
        """Create the lake's tables once, whichever host comes first, or add the tables a
        newer Kero brought to a lake made by an older one (a PostgreSQL lock orders the hosts:
        DuckLake would let two of them create the same table)."""
        if _schema_version(con) == LAKE_SCHEMA_VERSION:
            return
        with self.catalog.waiting_lock("schema"):
            version = _schema_version(con)
            if version == LAKE_SCHEMA_VERSION:
                return
            if version is not None and version > LAKE_SCHEMA_VERSION:
                raise StoreUnavailable(f"{self.name} was written by a newer Kero (lake schema {version}, "
                                       f"this one knows {LAKE_SCHEMA_VERSION})")
            if version is None:
                # zstd: 42 bytes an event against snappy's 68 (the file: 46), reads 5-8% slower (LAKE.md).
                con.execute(f"CALL {CATALOG}.set_option('parquet_compression', 'zstd')")
            con.execute("BEGIN")
            # Every table is defined by its single-file migration: an upgrade only adds the
            # tables the lake lacks (new tables are all Kero's migrations have added since 1).
            for table, columns in {**_single_file_tables(), **_OWN_TABLES}.items():
                con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({columns})")
            if version is None:
                con.execute(_ROLLUP_DAYS_VIEW)
            else:
                if version < 3:  # the days rolled up before day_properties existed
                    rollups.fill_properties(con)
                if version < 5:  # as rollups.create_v10: the goals' days are rolled up again, with their twins
                    con.execute("DELETE FROM day_goals")
                if version < 6:  # as rollups.create_v12
                    rollups.fill_hours(con)
                    rollups.rename_folded_rows(con)
                if version < 7:  # as rollups.create_v13
                    rollups.fill_visits(con)
            con.execute("DELETE FROM meta WHERE key = 'schema_version'")
            con.execute("INSERT INTO meta VALUES ('schema_version', ?)", [str(LAKE_SCHEMA_VERSION)])
            con.execute("COMMIT")

    # -- writing ----------------------------------------------------------------------------------
    def _insert(self, con: duckdb.DuckDBPyConnection, files: list[Path]) -> None:
        """Load ``files``, mark their days and record their names, in one transaction. Only
        appends: concurrent ingests of other hosts never conflict with it."""
        columns = ", ".join(COLUMN_NAMES)
        paths = [str(f) for f in files]

        def attempt() -> None:
            con.execute("BEGIN")
            con.execute(f"INSERT INTO events ({columns}) SELECT {columns} FROM read_parquet(?)", [paths])
            con.execute("INSERT INTO rollup_marks SELECT DISTINCT ts::DATE FROM read_parquet(?)", [paths])
            con.execute("INSERT INTO ingested SELECT unnest(?::VARCHAR[]), ?",
                        [[self._batch_name(f) for f in files], self._now()])
            con.execute("COMMIT")

        # A failure other than a conflict (a lost connection) may have committed: the next
        # session checks the names before retrying.
        self.append(con, attempt)

    def append(self, con: duckdb.DuckDBPyConnection, transaction: Callable[[], None]) -> None:
        """Run ``transaction`` (which only appends) under the shared writes lock, again after a
        conflict. Appends never conflict with each other; they would with the maintainer's
        deletes, which under steady appends from many hosts could be retried forever, so appends
        share a lock that the deletes take alone. A conflict is a commit DuckLake refused: nothing
        of it was stored, so running it again cannot store it twice."""
        with self._writes(shared=True):
            _retrying(con, transaction)

    @contextmanager
    def _writes(self, *, shared: bool) -> Iterator[None]:
        """The lake-wide lock of appends (shared) and of the maintainer's deletes (exclusive)."""
        try:
            with self.catalog.waiting_lock(WRITES_LOCK, shared=shared):
                yield
        except CatalogUnavailable as exc:
            raise StoreUnavailable(str(exc)) from None

    # -- maintenance (one host at a time) ---------------------------------------------------------
    def _maintain(self, con: duckdb.DuckDBPyConnection, bulk: bool = False) -> None:
        # A lake's days are rolled up by its elected maintainer, bulk writer or not.
        if time.monotonic() < self._next_maintenance:
            return
        self._next_maintenance = time.monotonic() + MAINTAIN_EVERY
        # Maintenance is not what the session is for (an ingest, a read): when it fails, say so
        # at most once per LOG_EVERY and let the next one try again.
        try:
            with self.catalog.elected(MAINTAINER_LOCK) as elected:
                if elected:
                    self.maintain(con)
        except (CatalogUnavailable, StoreUnavailable, duckdb.Error) as exc:
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
            if time.monotonic() - self._maintenance_logged >= LOG_EVERY:
                self._maintenance_logged = time.monotonic()
                log.warning("kero: lake maintenance failed, will retry (%s)", described(exc)[:300])

    def maintain(self, con: duckdb.DuckDBPyConnection, budget: float = rollups.ROLL_UP_BUDGET) -> None:
        """What the elected host does: roll up closed days (for about ``budget`` seconds), once
        an hour apply the retention and compact the lake, and in between merge the small files
        of the last minutes every MERGE_EVERY seconds."""
        rollups.refresh(con, self._now().date(), budget, roll=self._roll_up, conversions=self.conversions)
        now = self.clock()
        if _due(_meta(con, "last_prune"), now, PRUNE_EVERY):
            self.prune(con, now)
            self.compact(con)
        elif _due(_meta(con, "last_merge"), now, MERGE_EVERY):
            self.merge_small_files(con)

    def complete_rollups(self) -> int:
        """:meth:`Store.complete_rollups` as the maintainer: waits for the host maintaining
        the lake now to finish, then rolls up every day that needs it."""
        with self.session(wait=None) as con:
            try:
                with self.catalog.waiting_lock(MAINTAINER_LOCK):
                    return rollups.refresh(con, self._now().date(), math.inf, roll=self._roll_up,
                                           conversions=self.conversions)
            except CatalogUnavailable as exc:
                raise StoreUnavailable(str(exc)) from None

    def _roll_up(self, con: duckdb.DuckDBPyConnection, day: date, conversions: rollups.Conversions,
                 visits: bool) -> None:
        def attempt() -> None:
            con.execute("BEGIN")
            snapshot = con.execute(f"SELECT id FROM {CATALOG}.current_snapshot()").fetchone()[0]
            rollups.compute(con, day, conversions, visits)
            con.execute("DELETE FROM rolled_days WHERE day = ?", [day])
            con.execute("INSERT INTO rolled_days VALUES (?, ?)", [day, snapshot])
            con.execute("COMMIT")

        _retrying(con, attempt)

    def prune(self, con: duckdb.DuckDBPyConnection, now: float | None = None, retention: timedelta | None = None) -> int:
        """Delete events older than the retention from the lake (retried while other hosts
        append), with their rollups and bookkeeping; returns how many events were removed."""
        now = self.clock() if now is None else now
        current = datetime.fromtimestamp(now, timezone.utc).replace(tzinfo=None)
        cutoff = current - (retention or self.retention)
        with self._writes(shared=False):
            removed = _retrying(con, lambda: con.execute("DELETE FROM events WHERE ts < ?", [cutoff]).fetchone()[0])
        with self._writes(shared=False):
            _retrying(con, lambda: con.execute("DELETE FROM ingested WHERE ingested_at < ?",
                                               [max(cutoff, current - KEEP_INGESTED)]))

        def rollup_rows() -> None:
            con.execute("BEGIN")
            for table in rollups.TABLES:
                con.execute(f"DELETE FROM {table} WHERE day < ?", [cutoff.date()])
            rollups.prune_visits(con, current.date())
            # The cut day is redone from what is left of it.
            con.execute("DELETE FROM rolled_days WHERE day <= ?", [cutoff.date()])
            con.execute("DELETE FROM meta WHERE key = 'last_prune'")
            con.execute("INSERT INTO meta VALUES ('last_prune', ?)", [repr(now)])
            con.execute("COMMIT")

        _retrying(con, rollup_rows)

        def marks() -> None:  # marks older than their day's roll-up have done their job
            con.execute("BEGIN")
            con.execute("""DELETE FROM rollup_marks AS m WHERE m.day < ? OR m.snapshot_id <= coalesce(
                               (SELECT max(r.snapshot) FROM rolled_days AS r WHERE r.day = m.day), -1)""", [cutoff.date()])
            start = datetime.combine(cutoff.date(), datetime.min.time())
            con.execute("INSERT INTO rollup_marks SELECT ?::DATE FROM events WHERE ts >= ? AND ts < ? LIMIT 1",
                        [cutoff.date(), start, start + rollups.DAY])
            con.execute("COMMIT")

        with self._writes(shared=False):
            _retrying(con, marks)
        return int(removed)

    def compact(self, con: duckdb.DuckDBPyConnection) -> None:
        """Merge small files, move inlined rows to Parquet, and delete the files of expired
        snapshots and of writers that died before committing, each after its grace period."""
        self._run_alone(con, [
            f"CALL ducklake_flush_inlined_data('{CATALOG}')",
            f"CALL ducklake_merge_adjacent_files('{CATALOG}')",
            f"CALL ducklake_expire_snapshots('{CATALOG}', older_than => now() - INTERVAL '{FILE_GRACE}')",
            f"CALL ducklake_cleanup_old_files('{CATALOG}', older_than => now() - INTERVAL '{FILE_GRACE}')",
            f"CALL ducklake_delete_orphaned_files('{CATALOG}', older_than => now() - INTERVAL '{ORPHAN_GRACE}')",
        ])
        self._noted(con, "last_merge")

    def merge_small_files(self, con: duckdb.DuckDBPyConnection) -> None:
        """Move inlined rows to Parquet and merge the files under SMALL_FILE bytes (what the
        ingests of the last minutes wrote); the files they replace go at the next compaction."""
        self._run_alone(con, [
            f"CALL ducklake_flush_inlined_data('{CATALOG}')",
            f"CALL ducklake_merge_adjacent_files('{CATALOG}', max_file_size => {SMALL_FILE})",
        ])
        self._noted(con, "last_merge")

    def _run_alone(self, con: duckdb.DuckDBPyConnection, statements: list[str]) -> None:
        for statement in statements:
            with self._writes(shared=False):  # rewriting files that appends are adding to conflicts too
                _retrying(con, lambda: con.execute(statement).fetchall())

    def _noted(self, con: duckdb.DuckDBPyConnection, key: str) -> None:
        """Record in ``meta`` that ``key`` was done now (by the clock)."""
        def note() -> None:
            con.execute("BEGIN")
            con.execute("DELETE FROM meta WHERE key = ?", [key])
            con.execute("INSERT INTO meta VALUES (?, ?)", [key, repr(self.clock())])
            con.execute("COMMIT")

        _retrying(con, note)


def _retrying(con: duckdb.DuckDBPyConnection, work: Callable[[], T]) -> T:
    """Run ``work`` again after a transaction conflict with another host (DuckLake detects
    conflicts at commit; a rerun reads the newer snapshot and succeeds)."""
    for attempt in range(CONFLICT_RETRIES):
        try:
            return work()
        except duckdb.TransactionException as exc:
            try:
                con.execute("ROLLBACK")
            except duckdb.Error:
                pass
            if "conflict" not in str(exc).lower() and "retry" not in str(exc).lower():
                raise
            if attempt == CONFLICT_RETRIES - 1:
                raise
            time.sleep(random.uniform(0.05, 0.25) * (attempt + 1))
    raise AssertionError("unreachable")


def _alive(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the catalog still answers on this connection (one round trip to PostgreSQL)."""
    try:
        con.execute(f"SELECT id FROM {CATALOG}.current_snapshot()").fetchall()
    except duckdb.Error:
        return False
    return True


def _due(last: str | None, now: float, every: float) -> bool:
    """Whether work last done at ``last`` (a clock value, None: never) is due again."""
    return last is None or not 0 <= now - float(last) < every


def _meta(con: duckdb.DuckDBPyConnection, key: str) -> str | None:
    row = con.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
    return row[0] if row else None


def _schema_version(con: duckdb.DuckDBPyConnection) -> int | None:
    found = con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND table_name = 'meta'",
                        [CATALOG]).fetchone()[0]
    if not found:
        return None
    value = _meta(con, "schema_version")
    return int(value) if value is not None else None


def _single_file_tables() -> dict[str, str]:
    """The tables of a single-file database at the current schema (events, ingested and the
    rollups), as column lists without constraints: DuckLake has none, and one definition of
    each table serves both storages."""
    with duckdb.connect() as scratch:
        create_meta(scratch)
        for version in range(1, SCHEMA_VERSION + 1):
            MIGRATIONS[version](scratch)
        rows = scratch.execute("""
            SELECT table_name, string_agg(column_name || ' ' || data_type, ', ' ORDER BY column_index)
            FROM duckdb_columns() WHERE database_name = 'memory' GROUP BY table_name""").fetchall()
    return {table: columns for table, columns in rows if table not in ("rollup_days", "meta")}


def host_id(folder: Path) -> str:
    """This host's id: a random name kept in ``folder`` (a new disk is a new host, which is what
    the spool names need: unique per spool folder)."""
    path = folder / HOST_ID_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    candidate = secrets.token_hex(8)
    temp = folder / f".{HOST_ID_FILE}.{os.getpid()}.tmp"
    temp.unlink(missing_ok=True)  # a leftover of a killed process of this pid
    with open(private.create_file(temp), "w") as file:  # 0600 whatever the umask
        file.write(candidate)
    try:
        os.link(temp, path)  # the first process of the folder wins
    except FileExistsError:
        pass
    finally:
        temp.unlink(missing_ok=True)
    return path.read_text().strip()


# Connections a forked child inherited: closing them would end the parent's.
_ABANDONED: list[Any] = []
