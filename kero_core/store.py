"""Storage: the spool folder every process writes to, and the DuckDB file one process at a time
ingests into and reads from.

DuckDB lets a single process open a database file, and web apps run several processes, so no
process keeps the file open. Writers drop immutable Parquet files into ``<db_path>/spool/``
(temp name, then atomic rename) and never wait for anyone. Whoever holds ``ingest.lock`` (an
``flock``) opens DuckDB, loads every pending spool file in one transaction that also records
their names (so a crash before deleting them cannot load them twice), commits, deletes them and
closes. Readers do the same before they query, which gives read-your-writes for free."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import itertools
import logging
import math
import os
import threading
import time
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from kero_core import live_days, notes, private, rollups, shares
from kero_core.enrich import SaltStore
from kero_core.read_pool import ReadPool
from kero_core.schema import COLUMN_NAMES, COLUMNS

log = logging.getLogger("kero")

SCHEMA_VERSION = 13
DB_FILE = "kero.duckdb"
MAX_FILES_PER_INGEST = 500  # bounds one transaction after a long backlog
PRUNE_EVERY = 3600.0  # seconds between two retention passes
STALE_TMP = 3600.0  # seconds after which a half-written spool file is a dead writer's leftover
# The spool stops taking batches past this size (a database or lake unreachable for long): the
# writer then holds events in memory up to max_buffer, and drops and counts the rest.
MAX_SPOOL_BYTES = 1 << 30
SPOOL_SIZE_EVERY = 10.0  # seconds between two measures of the spool's size
# DuckDB's memory for a read-only session (a dashboard, an export): by default it takes 80% of the
# machine's memory; past this a query spills to disk or fails, rather than swell the host's worker.
READ_MEMORY = "1GB"
# A read skips the writing session it runs first (see Store.reading) when nothing waits to be
# written and this process's last session, less than this many seconds before and on the same
# day, found no maintenance to do: opening the file to write and closing it again was 16 to 26 ms
# of every dashboard render (of a 10M-event folder) with nothing to do.
IDLE_FOR = 60.0
# Errors of the machine, not of the database file: moving the file aside would lose data and
# fix nothing, so they make the store unavailable until they go away.
_ENVIRONMENT_ERRORS = tuple(
    os.strerror(code)
    for code in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO,
                 errno.EMFILE, errno.ENFILE, errno.ENOMEM)
)


class StoreUnavailable(RuntimeError):
    """The database cannot be used now (held by another program, a full or read-only disk...);
    the spool keeps what was written meanwhile, and the next session ingests it."""


def create_meta(con: duckdb.DuckDBPyConnection) -> None:
    """The table of the database's own facts (schema version, live days...), there before any migration."""
    con.execute("CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)")


def _create_v1(con: duckdb.DuckDBPyConnection) -> None:
    columns = ", ".join(f"{name} {sql_type}" for name, sql_type, _ in COLUMNS)
    con.execute(f"CREATE TABLE events ({columns})")
    con.execute("CREATE TABLE ingested (name VARCHAR PRIMARY KEY, ingested_at TIMESTAMP)")


# Migration n brings a database from version n-1 to n. Append, never edit, once released.
MIGRATIONS: dict[int, Callable[[duckdb.DuckDBPyConnection], None]] = {
    1: _create_v1, 2: rollups.create, 3: rollups.create_v3, 4: rollups.create_v4, 5: rollups.create_v5,
    6: notes.create, 7: shares.create_table, 8: rollups.create_v8, 9: rollups.create_v9,
    10: rollups.create_v10, 11: live_days.create_v11, 12: rollups.create_v12, 13: rollups.create_v13,
}


class Store:
    """The data folder: spool files, the ingest lock, and the DuckDB file."""

    def __init__(self, folder: Path, retention: timedelta, clock: Callable[[], float] = time.time,
                 *, read_only: bool = False, conversions: rollups.Conversions = rollups.Conversions(),
                 raw_retention: timedelta | None = None) -> None:
        self.folder = folder
        self.conversions = conversions  # the goals and funnels whose counts the rollups keep
        self.db_file = folder / DB_FILE
        self.name = str(self.db_file)  # what messages call the database
        self.spool_dir = folder / "spool"
        # Read-only (a read-only mount, a read-only copy): sessions open DuckDB read-only, and
        # neither ingest nor maintain; pending spool files stay where they are.
        self.read_only = read_only
        if not read_only:
            self.spool_dir.mkdir(mode=private.FOLDER_MODE, parents=True, exist_ok=True)
        self.retention = retention
        self.raw_retention = raw_retention  # events of older days are deleted once rolled up (None: retention)
        self.clock = clock
        self._lock_file = folder / "ingest.lock"
        self._thread_lock = threading.Lock()
        self._seq = itertools.count()
        self.max_spool_bytes = MAX_SPOOL_BYTES
        self.spooled_for: int | None = None  # the app process whose events a writer process spools (None: this one)
        self._spool_bytes = 0
        self._spool_measured = -math.inf
        self._pending_release: tuple[str, datetime] | None = None
        self.days_rolled_up = 0  # by the last session's maintenance (see ingesting_alongside)
        self._idle_since: float | None = None  # when the last session found nothing to roll up (see IDLE_FOR)
        self.keeps_live_days = True  # today's rollups kept current at ingest (see _insert)
        self._readers = ReadPool(self.db_file, READ_MEMORY)  # the instances reads attach the file to

    def note_release(self, release: str, at: datetime) -> None:
        """Annotate ``release`` at ``at`` in the next session, unless some process did already
        (no I/O now: this runs while the app starts)."""
        self._pending_release = (release, at)

    def close(self) -> None:
        """Nothing stays open between sessions of the single file but the idle instances reads
        attach it to (the lake keeps a connection)."""
        self._readers.close()

    def after_fork_in_child(self) -> None:
        """A lock held by another thread at fork time would stay held forever in the child."""
        self._thread_lock = threading.Lock()

    # -- writers -------------------------------------------------------------------------------
    def spool(self, table: pa.Table) -> Path:
        """Write one batch as an immutable spool file; visible to ingest only once complete.
        Raises OSError when the spool is full (see MAX_SPOOL_BYTES)."""
        if self._spool_size() >= self.max_spool_bytes:
            raise OSError(errno.ENOSPC, f"the spool holds {self._spool_bytes:,} bytes waiting to be stored, "
                                        f"its limit; new events wait in memory")
        name = f"{time.time_ns():020d}-{self.spooled_for or os.getpid()}-{next(self._seq)}"
        tmp = self.spool_dir / f".{name}.tmp"
        final = self.spool_dir / f"{name}.parquet"
        try:
            with open(private.create_file(tmp), "wb") as file:  # 0600 whatever the umask
                pq.write_table(table, file)
            os.rename(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self._spool_bytes += final.stat().st_size
        return final

    def _spool_size(self) -> int:
        """Bytes of the pending spool files, measured at most every SPOOL_SIZE_EVERY seconds
        (plus what this process spooled since)."""
        if time.monotonic() - self._spool_measured >= SPOOL_SIZE_EVERY:
            self._spool_measured = time.monotonic()
            total = 0
            for path in self.pending():
                with contextlib.suppress(FileNotFoundError):  # ingested meanwhile
                    total += path.stat().st_size
            self._spool_bytes = total
        return self._spool_bytes

    def pending(self) -> list[Path]:
        return sorted(self.spool_dir.glob("*.parquet"))  # oldest first: names start with the time

    def waited(self) -> float:
        """Seconds the oldest pending spool file has waited for ingest (0 when none is waiting).
        A file from the future (the system clock was set back since) counts as waiting as long."""
        for oldest in self.pending():
            try:
                return abs(time.time() - oldest.stat().st_mtime)
            except FileNotFoundError:  # another process has just ingested it
                continue
        return 0.0

    def try_ingest(self) -> bool:
        """Ingest pending spool files unless another thread or process holds the lock (the
        background writer's ingest: on one DuckDB thread, see :meth:`session`)."""
        try:
            with self.session(wait=0, background=True):
                return True
        except TimeoutError:
            return False

    # -- the exclusive session -------------------------------------------------------------------
    @contextmanager
    def session(self, wait: float | None = 30.0, background: bool = False,
                bulk: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """Hold the ingest lock, open DuckDB, ingest the spool, yield the connection, close.

        ``wait`` is how long to wait for the lock (None: forever; 0: not at all). ``background``:
        the session runs inside the host app's process, beside its requests (or beside a bulk
        writer's enrichment), so DuckDB works on one thread (by default it takes every core, and
        the request thread waited for one; a seed's roll-ups took 1.6x the CPU time on two).
        ``bulk``: a bulk writer's session (see :meth:`ingesting_alongside`), which leaves the
        newest day waiting for a roll-up alone (it is still filling).
        Raises TimeoutError when the lock stays taken and StoreUnavailable when DuckDB cannot be
        opened."""
        with self._locked(wait), self._opened() as con:
            try:
                if not self.read_only:
                    con.execute("SET threads = 1" if background else "RESET threads")
                    self._ingest(con)
                    self._maintain(con, bulk)
                    self._idle_since = None if self.days_rolled_up else self.clock()
            except duckdb.Error as exc:  # a full disk, an I/O error: retried by the next session
                raise StoreUnavailable(f"{self.name} cannot store events now ({exc})") from None
            self._annotate_release(con)
            yield con

    @contextmanager
    def _opened(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """DuckDB opened for one session, released when it ends (told whether it failed)."""
        con = self._open()
        failure: BaseException | None = None
        try:
            yield con
        except BaseException as exc:
            failure = exc
            raise
        finally:
            self._release(con, failure)

    @contextmanager
    def reading(self, wait: float | None = 30.0) -> Iterator[duckdb.DuckDBPyConnection]:
        """A session for reads only, which never queues behind other readers. When no session
        holds the ingest lock, it ingests the spool first (read-your-writes) in a short session
        of its own; when one does (the writer, another reader), it reads what is stored already.
        Its queries run beside other readers' under a shared lock, on a read-only connection
        (``memory_limit`` bounded by READ_MEMORY), waiting only for a session that writes.
        Raises what :meth:`session` raises."""
        if self.read_only:
            with self.session(wait) as con:
                yield con
            return
        if not self._nothing_to_write():
            with contextlib.suppress(TimeoutError):
                with self.session(wait=0):
                    pass
        with contextlib.ExitStack() as stack:
            try:
                con = stack.enter_context(self._beside_others(wait))
            except StoreUnavailable:  # no database yet, or one to upgrade first: that writes
                con = stack.enter_context(self.session(wait))
            yield con

    def _nothing_to_write(self) -> bool:
        """Whether a read can skip its writing session: no spool file and no release note wait,
        and the last session of this process found nothing to roll up, less than IDLE_FOR
        seconds ago on the same day (a day that ends is rolled up by the next read)."""
        idle, now = self._idle_since, self.clock()
        return (idle is not None and 0 <= now - idle < IDLE_FOR and self._pending_release is None
                and _day_of(idle) == _day_of(now) and not self.pending())

    @contextmanager
    def _beside_others(self, wait: float | None) -> Iterator[duckdb.DuckDBPyConnection]:
        """The file attached read-only (see :mod:`kero_core.read_pool`) under the shared lock
        (the lake overrides it)."""
        with self._locked(wait, shared=True):
            try:
                con = self._readers.attach()
            except duckdb.Error as exc:
                raise StoreUnavailable(f"{self.db_file} cannot be opened read-only ({exc})") from None
            try:
                self._check_schema(con)
                yield con
            finally:
                self._readers.detach(con)

    def _release(self, con: duckdb.DuckDBPyConnection, failure: BaseException | None) -> None:
        """End of a session: the file must be closed for the other processes to open it."""
        con.close()
        private.tighten(self.db_file.with_name(DB_FILE + ".wal"))  # DuckDB honours the umask

    def append(self, con: duckdb.DuckDBPyConnection, transaction: Callable[[], None]) -> None:
        """Run ``transaction``, which only appends rows (the lake retries it after a conflict)."""
        transaction()

    def _annotate_release(self, con: duckdb.DuckDBPyConnection) -> None:
        """The release annotation :meth:`note_release` asked for; a failure is logged and the
        next session tries again (the session has other work to do)."""
        if self._pending_release is None:
            return
        release, at = self._pending_release
        try:
            notes.note_release(con, self.append, release, at, self._now())
        except (duckdb.Error, StoreUnavailable) as exc:
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
            log.warning("kero: could not annotate release %r yet (%s)", release, exc)
            return
        self._pending_release = None

    def _maintain(self, con: duckdb.DuckDBPyConnection, bulk: bool = False) -> None:
        """After each ingest: the hourly retention pass, and rollups of the days that need them
        (``bulk``: but the newest of those); :attr:`days_rolled_up` says how many were."""
        self._maybe_prune(con)
        filling = con.execute("SELECT max(day) FROM rollup_days WHERE NOT rolled").fetchone()[0] if bulk else None
        self.days_rolled_up = rollups.refresh(con, self._now().date(), conversions=self.conversions, before=filling)

    def first_raw_day(self, now: float | None = None) -> date | None:
        """The first day whose events the raw_retention option keeps (None: it is not set):
        earlier days keep their rollups only, once rolled up."""
        if self.raw_retention is None:
            return None
        moment = datetime.fromtimestamp(self.clock() if now is None else now, timezone.utc).replace(tzinfo=None)
        return (moment - self.raw_retention).date()

    def complete_rollups(self) -> int:
        """Ingest what is pending and roll up every past day that needs it, however long that
        takes (bulk writers call this before they return, so the first view is as fast as the
        next); returns how many days were rolled up."""
        with self.session(wait=None) as con:
            return rollups.refresh(con, self._now().date(), budget=math.inf, conversions=self.conversions)

    @contextmanager
    def ingesting_alongside(self) -> Iterator[Callable[[], None]]:
        """For bulk writers: a thread that ingests the spool files they write while they build
        the next batch, so DuckDB's work (which releases the GIL) runs beside their enrichment
        (which holds it) and a seed or an import takes the longer of the two, not their sum.
        The thread's sessions run DuckDB on one thread (the writer's enrichment has the other
        core). They also roll up the days the files filled, in sessions of about
        rollups.ROLL_UP_BUDGET (readers get the lock in between) until none is left or the next
        file is ready: bulk writers write in time order, so every day but the newest one waiting
        is complete, and :meth:`complete_rollups` is left with about one day instead of all.
        Yields the call that says a file is ready. A session that fails in the thread is raised
        when the block ends (the files stay in the spool for the next session)."""
        ready = threading.Event()
        stop = False
        failures: list[BaseException] = []

        def run() -> None:
            while not stop:
                ready.wait()
                ready.clear()
                while not (stop or failures):
                    try:
                        with self.session(wait=None, background=True, bulk=True):
                            pass
                    except BaseException as exc:  # noqa: BLE001  handed to the caller below
                        failures.append(exc)
                    if ready.is_set() or not self.days_rolled_up:
                        break

        thread = threading.Thread(target=run, name="kero-bulk-ingest", daemon=True)
        thread.start()
        try:
            yield ready.set
        finally:
            stop = True
            ready.set()
            thread.join()
        if failures:
            raise failures[0]

    def salts(self) -> SaltStore:
        """Where the daily visitor salts of this store live (for the writer's visitor ids)."""
        return SaltStore(self.folder / "salts")

    @contextmanager
    def _locked(self, wait: float | None, shared: bool = False) -> Iterator[None]:
        """Hold the ingest lock: alone (sessions that write), or ``shared`` with other readers."""
        deadline = None if wait is None else time.monotonic() + wait
        if shared:  # readers never wait for each other, in this process or another
            with self._flocked(fcntl.LOCK_SH, deadline):
                yield
            return
        if not self._thread_lock.acquire(timeout=-1 if wait is None else wait):
            raise TimeoutError("the Kero database is busy")
        try:
            with self._flocked(fcntl.LOCK_EX, deadline):
                yield
        finally:
            self._thread_lock.release()

    @contextmanager
    def _flocked(self, mode: int, deadline: float | None) -> Iterator[None]:
        try:
            fd = self._open_lock_file()
        except OSError as exc:  # a read-only or full disk
            raise StoreUnavailable(f"{self._lock_file} cannot be opened ({exc.strerror})") from None
        if fd is None:  # a read-only copy without a lock file: no writer can be there
            yield
            return
        try:
            delay = 0.002
            while True:
                try:
                    fcntl.flock(fd, mode | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if deadline is not None and time.monotonic() >= deadline:
                        raise TimeoutError("the Kero database is busy") from None
                    time.sleep(delay)
                    delay = min(delay * 2, 0.05)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _open_lock_file(self) -> int | None:
        """The lock file's descriptor (flock works on one opened read-only too); None for a
        read-only store whose folder has none."""
        if not self.read_only:
            return os.open(self._lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            return os.open(self._lock_file, os.O_RDONLY)
        except FileNotFoundError:
            return None

    def _open(self) -> duckdb.DuckDBPyConnection:
        """Connect and migrate; a database that fails at either is recovered (see _recover)."""
        if self.read_only:
            return self._open_read_only()
        try:
            return self._connect_and_migrate()
        except duckdb.Error as exc:
            message = str(exc)
            if "lock" in message.lower():
                raise StoreUnavailable(f"{self.db_file} is held open by another program ({exc})") from None
            if not self.db_file.exists():
                raise StoreUnavailable(f"{self.db_file} cannot be created ({exc})") from None
            if any(reason in message for reason in _ENVIRONMENT_ERRORS):
                raise StoreUnavailable(f"{self.db_file} cannot be opened now ({exc})") from None
            try:
                return self._recover(exc)
            except OSError as error:  # the folder refuses the renames
                raise StoreUnavailable(f"{self.db_file} is unusable and cannot be moved aside ({error})") from None

    def _connect_and_migrate(self) -> duckdb.DuckDBPyConnection:
        # DuckDB draws progress bars on stdout for statements over 2 s (a migration, a roll-up of a
        # big day): the host app's output is not ours to write to.
        con = duckdb.connect(str(self.db_file))
        try:
            private.tighten(self.db_file)  # DuckDB creates it as the umask says
            con.execute("SET enable_progress_bar = false")
            self._migrate(con)
        except BaseException:
            con.close()
            raise
        return con

    def _open_read_only(self) -> duckdb.DuckDBPyConnection:
        """A read-only connection, refused when the schema would need a migration (which writes)."""
        try:
            con = duckdb.connect(str(self.db_file), read_only=True)
        except duckdb.Error as exc:
            raise StoreUnavailable(f"{self.db_file} cannot be opened read-only ({exc})") from None
        try:
            con.execute("SET enable_progress_bar = false")
            con.execute(f"SET memory_limit = '{READ_MEMORY}'")
            self._check_schema(con)
        except BaseException:
            con.close()
            raise
        return con

    def _check_schema(self, con: duckdb.DuckDBPyConnection) -> None:
        """Refuses a file whose schema would need a migration (which writes) or that is no Kero database."""
        try:
            row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except duckdb.Error as exc:
            raise StoreUnavailable(f"{self.db_file} is not a Kero database ({exc})") from None
        version = int(row[0]) if row else 0
        if version != SCHEMA_VERSION:
            fix = (f"open it once as its app does (any kero command without read-only use does, e.g. "
                   f"`kero doctor --db {self.folder}`)" if os.access(self.folder, os.W_OK)
                   else "copy the folder somewhere writable first, then open it there once")
            raise StoreUnavailable(
                f"{self.db_file} has schema {version} and this Kero reads schema {SCHEMA_VERSION}, which needs "
                f"an upgrade a read-only reader does not write: {fix}"
            )

    def _recover(self, error: Exception) -> duckdb.DuckDBPyConnection:
        """A database that cannot be opened is moved aside, WAL first: an app must still start."""
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
        wal = self.db_file.with_name(DB_FILE + ".wal")
        if wal.exists():
            wal.rename(wal.with_name(f"{wal.name}.corrupt-{stamp}"))
            log.error("kero: could not open %s (%s); moved its WAL aside and retrying", self.db_file, error)
            try:
                return self._connect_and_migrate()
            except duckdb.Error as exc:
                error = exc
        aside = self.db_file.with_name(f"{DB_FILE}.corrupt-{stamp}")
        self.db_file.rename(aside)
        log.error("kero: %s is corrupt (%s); moved it to %s and started a new database", self.db_file, error, aside)
        try:
            return self._connect_and_migrate()
        except duckdb.Error as exc:
            raise StoreUnavailable(f"{self.db_file} cannot be opened ({exc})") from None

    # -- inside a session ------------------------------------------------------------------------
    def _migrate(self, con: duckdb.DuckDBPyConnection) -> None:
        create_meta(con)
        row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        version = int(row[0]) if row else 0
        if version > SCHEMA_VERSION:
            raise StoreUnavailable(
                f"{self.db_file} was written by a newer Kero (schema {version}, this one knows {SCHEMA_VERSION})"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            try:
                con.execute("BEGIN")
                MIGRATIONS[target](con)
                con.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(target)])
                con.execute("COMMIT")
            except duckdb.Error as exc:  # not corruption: the file opened, so it is not moved aside
                raise StoreUnavailable(f"{self.db_file} cannot be upgraded to schema {target} ({exc}); "
                                       f"it is left as it is, and events wait in the spool") from None

    def _ingest(self, con: duckdb.DuckDBPyConnection) -> None:
        files = [f for f in self.pending() if self._own(f)]
        for start in range(0, len(files), MAX_FILES_PER_INGEST):
            self._ingest_files(con, files[start : start + MAX_FILES_PER_INGEST])

    def _ingest_files(self, con: duckdb.DuckDBPyConnection, files: list[Path]) -> None:
        names = [self._batch_name(f) for f in files]
        done = {r[0] for r in con.execute("SELECT name FROM ingested WHERE list_contains(?, name)", [names]).fetchall()}
        todo = [f for f in files if self._batch_name(f) not in done]
        if todo:
            try:
                self._insert(con, todo)
            except duckdb.Error as exc:
                with contextlib.suppress(duckdb.Error):  # a failed COMMIT has already rolled back
                    con.execute("ROLLBACK")
                bad = [f for f in todo if not _loadable(f)]
                if not bad:  # the files are fine: the database or its disk is not; keep them all
                    raise StoreUnavailable(f"{self.name} cannot store events now ({exc})") from None
                for f in bad:
                    self._quarantine(f)
                self._ingest_files(con, [f for f in files if f not in bad])
                return
        for f in files:
            f.unlink(missing_ok=True)
        self._spool_measured = -math.inf  # the spool shrank: measure it again at the next batch

    def _insert(self, con: duckdb.DuckDBPyConnection, files: list[Path]) -> None:
        """Load ``files`` and record their names, in one transaction, which also keeps today's
        rollups current (:mod:`kero_core.live_days`). Should that fail, the live days stop being
        live (views read their events) and this process keeps none from then on: its ingests
        end those another process starts, whose rows would miss its events."""
        try:
            self._insert_once(con, files)
        except duckdb.Error as exc:
            with contextlib.suppress(duckdb.Error):  # a failed COMMIT has already rolled back
                con.execute("ROLLBACK")
            if not self.keeps_live_days:
                raise
            self.keeps_live_days = False
            log.error("kero: could not keep today's rollups current (%s); views read today's events instead", exc)
            con.execute("BEGIN")
            rollups.save_live_days(con, {})
            con.execute("COMMIT")
            self._insert_once(con, files)

    def _insert_once(self, con: duckdb.DuckDBPyConnection, files: list[Path]) -> None:
        columns = ", ".join(COLUMN_NAMES)
        con.execute("BEGIN")
        live = None
        if self.keeps_live_days:
            live = live_days.before_insert(con, files, self._now().date())
        else:  # another process may have started some: their rows would miss these events
            rollups.save_live_days(con, {})
        con.execute(f"INSERT INTO events ({columns}) SELECT {columns} FROM read_parquet(?)", [[str(f) for f in files]])
        rollups.mark_files(con, files)
        if live is not None:
            live_days.after_insert(con, live)
        now = self._now()
        con.execute("INSERT INTO ingested SELECT unnest(?::VARCHAR[]), ?", [[f.name for f in files], now])
        con.execute("COMMIT")

    def _batch_name(self, path: Path) -> str:
        """The name a spool file is recorded under in ``ingested``."""
        return path.name

    def _now(self) -> datetime:
        """The clock's time as the naive UTC the tables hold."""
        return datetime.fromtimestamp(self.clock(), timezone.utc).replace(tzinfo=None)

    def _own(self, path: Path) -> bool:
        """Whether a spool file was written by this user; another user's is set aside as
        ``.foreign``, never ingested: it could hold any events it likes."""
        try:
            if private.owned(path.stat()):
                return True
            path.rename(path.with_name(path.name + ".foreign"))
            log.error("kero: spool file %s belongs to another user; set aside as %s.foreign, not ingested",
                      path.name, path.name)
        except OSError:  # ingested or set aside by another process meanwhile
            pass
        return False

    def _quarantine(self, path: Path) -> None:
        log.error("kero: spool file %s is unreadable; moved aside as %s.bad", path.name, path.name)
        path.rename(path.with_name(path.name + ".bad"))

    def _maybe_prune(self, con: duckdb.DuckDBPyConnection) -> None:
        now = self.clock()
        row = con.execute("SELECT value FROM meta WHERE key = 'last_prune'").fetchone()
        if row and 0 <= now - float(row[0]) < PRUNE_EVERY:
            return
        self.prune(con, now)
        self._remove_stale_tmp()

    def _remove_stale_tmp(self) -> None:
        """Delete what writers killed mid-write (SIGKILL, OOM) left: never ingested, never renamed."""
        limit = time.time() - STALE_TMP  # file times are real time, whatever the injected clock
        for tmp in self.spool_dir.glob(".*.tmp"):
            with contextlib.suppress(OSError):
                if tmp.stat().st_mtime < limit:
                    tmp.unlink()

    def prune(self, con: duckdb.DuckDBPyConnection, now: float | None = None, retention: timedelta | None = None) -> int:
        """Delete events older than the retention (or ``retention``), and those of rolled-up days
        older than the raw_retention; returns how many were removed."""
        now = self.clock() if now is None else now
        moment = datetime.fromtimestamp(now, timezone.utc).replace(tzinfo=None)
        cutoff = moment - (retention or self.retention)
        con.execute("BEGIN")
        removed = con.execute("DELETE FROM events WHERE ts < ?", [cutoff]).fetchone()[0]
        con.execute("DELETE FROM ingested WHERE ingested_at < ?", [cutoff])
        removed += rollups.prune(con, cutoff, moment.date(), self.first_raw_day(now))
        con.execute("INSERT OR REPLACE INTO meta VALUES ('last_prune', ?)", [repr(now)])
        con.execute("COMMIT")
        return int(removed)


def _loadable(path: Path) -> bool:
    """Whether a spool file loads into the events table, tried in a private in-memory database
    (the file database, or its disk, may be what failed)."""
    with duckdb.connect() as scratch:
        _create_v1(scratch)
        columns = ", ".join(COLUMN_NAMES)
        try:
            scratch.execute(f"INSERT INTO events ({columns}) SELECT {columns} FROM read_parquet(?)", [str(path)])
        except duckdb.Error:
            return False
    return True


def _day_of(seconds: float) -> int:
    """The UTC day of a clock reading, as a number."""
    return int(seconds // 86_400)
