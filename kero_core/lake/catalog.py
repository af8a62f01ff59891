"""What the hosts of a lake share through PostgreSQL directly (the catalog database), beside
DuckLake's own tables: the daily visitor salts and the advisory lock that elects one maintainer.

DuckLake has no primary keys, so two hosts creating the same day's salt at once would both
succeed; PostgreSQL's ``INSERT ... ON CONFLICT DO NOTHING`` on a primary key picks one winner."""

from __future__ import annotations

import datetime
import logging
import os
import secrets
import threading
import zlib
from contextlib import contextmanager
from typing import Any, Iterator

from kero_core.enrich import SaltStore, SaltUnavailable
from kero_core.lake.connection import catalog_dsn, described

log = logging.getLogger("kero")

SALTS_TABLE = "kero_salts"
_SALT_BYTES = 32


class CatalogUnavailable(RuntimeError):
    """PostgreSQL cannot be reached now."""


def lock_key(name: str) -> int:
    """A stable 63-bit advisory-lock key for ``name`` (the same on every host)."""
    return zlib.crc32(f"kero:{name}".encode()) | (0x6B65 << 32)


class Catalog:
    """One PostgreSQL connection per process (made lazily, remade after a fork or a failure)."""

    def __init__(self, lake: str) -> None:
        self.dsn = catalog_dsn(lake)
        self._lock = threading.Lock()
        self._connection: Any = None
        self._pid = os.getpid()

    @contextmanager
    def cursor(self) -> Iterator[Any]:
        """A cursor in autocommit mode; CatalogUnavailable when PostgreSQL cannot be reached."""
        import psycopg

        with self._lock:
            try:
                connection = self._connect()
                if not self._alive(connection):  # PostgreSQL restarted since: a new session
                    self._drop()
                    connection = self._connect()
                with connection.cursor() as cursor:
                    yield cursor
            except psycopg.Error as exc:
                self._drop()
                raise CatalogUnavailable(f"PostgreSQL cannot be reached: {described(exc)}") from None

    @staticmethod
    def _alive(connection: Any) -> bool:
        import psycopg

        try:
            connection.execute("SELECT 1")
        except psycopg.OperationalError:
            return False
        return True

    def _connect(self) -> Any:
        import psycopg

        if self._pid != os.getpid():  # forked: the parent's socket is not ours to use or close
            _ABANDONED.append(self._connection)
            self._connection, self._pid = None, os.getpid()
        if self._connection is None or self._connection.closed:
            self._connection = psycopg.connect(self.dsn, autocommit=True, application_name="kero")
        return self._connection

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except Exception:  # noqa: BLE001  already broken
                pass

    def close(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                self._drop()

    @contextmanager
    def elected(self, name: str) -> Iterator[bool]:
        """Whether this process holds the advisory lock ``name`` (never waits); held for the block."""
        key = lock_key(name)
        with self.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
            won = bool(cursor.fetchone()[0])
        try:
            yield won
        finally:
            if won:
                try:
                    with self.cursor() as cursor:
                        cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
                except CatalogUnavailable:  # the session, and so its lock, is gone already
                    pass

    @contextmanager
    def waiting_lock(self, name: str, *, shared: bool = False) -> Iterator[None]:
        """The advisory lock ``name``, waited for; ``shared`` ones exclude only exclusive ones.
        PostgreSQL queues requests fairly: a waiting exclusive lock is not starved by shared ones."""
        key = lock_key(name)
        kind = "_shared" if shared else ""
        with self.cursor() as cursor:
            cursor.execute(f"SELECT pg_advisory_lock{kind}(%s)", [key])
        try:
            yield
        finally:
            try:
                with self.cursor() as cursor:
                    cursor.execute(f"SELECT pg_advisory_unlock{kind}(%s)", [key])
            except CatalogUnavailable:
                pass


# Connections a forked child inherited: closing them would end the parent's session.
_ABANDONED: list[Any] = []


class LakeSalts:
    """Daily salts in PostgreSQL, shared by every host: the same interface as
    :class:`kero_core.enrich.SaltStore` (``salt_for``, ``destroy_before``).

    A salt read from PostgreSQL is kept in memory and copied into this host's private salts
    folder (``local``), so an outage stops neither today's ids nor a worker started during it.
    A day whose salt cannot be had raises SaltUnavailable, and the writer keeps those hits for
    later. Old salts are destroyed in every place.

    ``before`` holds the salts of the folder's single-file days, if it had any: a day's salt the
    lake does not have yet is offered from there (the first host to offer one wins), so a host
    moved to the lake in place keeps the day's visitors one visitor."""

    def __init__(self, catalog: Catalog, local: SaltStore, before: SaltStore | None = None) -> None:
        self.catalog = catalog
        self.local = local
        self.before = before
        self._salts: dict[datetime.date, bytes] = {}
        self._horizon: datetime.date | None = None
        self._table_ready = False

    def salt_for(self, day: datetime.date) -> bytes:
        salt = self._salts.get(day)
        if salt is None:
            salt = self._salts[day] = self._load_or_create(day)
        return salt

    def _load_or_create(self, day: datetime.date) -> bytes:
        if self._horizon is not None and day < self._horizon:
            return secrets.token_bytes(_SALT_BYTES)  # destroyed: never recreated
        kept = self.local.cached(day)
        if kept is not None and len(kept) >= 16:
            return kept
        offered = self.before.cached(day) if self.before is not None else None
        if offered is None or len(offered) < 16:
            offered = secrets.token_bytes(_SALT_BYTES)
        try:
            with self.catalog.cursor() as cursor:
                self._ensure_table(cursor)
                cursor.execute(f"INSERT INTO {SALTS_TABLE} (day, salt) VALUES (%s, %s) ON CONFLICT (day) DO NOTHING",
                               [day, offered])
                cursor.execute(f"SELECT salt FROM {SALTS_TABLE} WHERE day = %s", [day])
                row = cursor.fetchone()
        except CatalogUnavailable as exc:
            raise SaltUnavailable(f"the visitor salt of {day} cannot be read ({exc})") from None
        if row is None:  # destroyed by another host between the two statements: an old day
            return secrets.token_bytes(_SALT_BYTES)
        salt = bytes(row[0])
        self.local.keep(day, salt)
        return salt

    def _ensure_table(self, cursor: Any) -> None:
        if not self._table_ready:
            cursor.execute(f"CREATE TABLE IF NOT EXISTS {SALTS_TABLE} (day DATE PRIMARY KEY, salt BYTEA NOT NULL)")
            self._table_ready = True

    def adopt(self, day: datetime.date, salt: bytes) -> bytes:
        """Make ``salt`` the day's salt unless the lake has one already; returns the day's salt
        (``kero lake push`` keeps today's visitors one visitor across the move)."""
        with self.catalog.cursor() as cursor:
            self._ensure_table(cursor)
            cursor.execute(f"INSERT INTO {SALTS_TABLE} (day, salt) VALUES (%s, %s) ON CONFLICT (day) DO NOTHING",
                           [day, salt])
            cursor.execute(f"SELECT salt FROM {SALTS_TABLE} WHERE day = %s", [day])
            return bytes(cursor.fetchone()[0])

    def destroy_before(self, day: datetime.date) -> int:
        self.local.destroy_before(day)
        if self.before is not None:
            self.before.destroy_before(day)
        self._horizon = day if self._horizon is None else max(self._horizon, day)
        for old in [d for d in self._salts if d < day]:
            del self._salts[old]
        try:
            with self.catalog.cursor() as cursor:
                self._ensure_table(cursor)
                cursor.execute(f"DELETE FROM {SALTS_TABLE} WHERE day < %s", [day])
                return cursor.rowcount
        except CatalogUnavailable as exc:  # the next day change (any host's) deletes them
            log.warning("kero: cannot delete old visitor salts now (%s)", exc)
            return 0
