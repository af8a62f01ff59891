"""DuckDB instances kept for the reads of one database file, for a few seconds.

No process keeps the file open between sessions (see :mod:`kero_core.store`), so every read used
to open it anew: ``duckdb.connect`` builds a whole database instance (its catalogue of functions,
its buffer manager: 13 to 23 ms at 10M events, 8 ms for an empty file), and its queries then
fault in fresh memory, which closing the instance gave back. A read here attaches the file
read-only to an in-memory instance kept from a read of the last KEEP_FOR seconds, whose
allocator still holds the memory that read used, and detaches it when done, which releases the
file for the writers of other processes exactly as closing a connection did. A dashboard clicked
through (a filter, a period, a card's full list) reads again within seconds; an instance idle
longer is closed, so a worker whose dashboard nobody looks at holds no memory for it."""

from __future__ import annotations

import atexit
import os
import threading
import weakref
from pathlib import Path

import duckdb

ALIAS = "kero"  # the attached file's name in its instance; reads find their tables there (USE)
KEEP = 4  # idle instances kept: more readers at once each get a new one, closed after
KEEP_FOR = 15.0  # seconds an idle instance is kept, with the memory of its last read (105-125 MB at 10M events)


class ReadPool:
    """Idle in-memory DuckDB instances that attach ``path`` read-only for one read at a time."""

    def __init__(self, path: Path, memory_limit: str) -> None:
        self.path = path
        self.memory_limit = memory_limit
        self._idle: list[duckdb.DuckDBPyConnection] = []
        self._lock = threading.Lock()
        self._closing: threading.Timer | None = None  # closes the idle instances KEEP_FOR after the last read
        _POOLS.add(self)

    def attach(self) -> duckdb.DuckDBPyConnection:
        """A connection whose unqualified names are the file's tables, read-only, until
        :meth:`detach`. Raises duckdb.Error when the file cannot be attached (missing, not a
        database, held by a writer)."""
        con = self._take()
        try:
            con.execute(f"ATTACH '{_quoted(self.path)}' AS {ALIAS} (READ_ONLY)")
            con.execute(f"USE {ALIAS}")
        except BaseException:
            con.close()
            raise
        return con

    def detach(self, con: duckdb.DuckDBPyConnection) -> None:
        """Release the file, and keep the instance for a later read."""
        try:
            con.execute("USE memory")
            con.execute(f"DETACH {ALIAS}")
        except duckdb.Error:  # a transaction left open on the file: closing releases it too
            con.close()
            return
        self._give_back(con)

    def _take(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        # Where a query past memory_limit spills: beside the file, as a connection to it spills
        # (an in-memory instance would spill into ./.tmp, the host app's working directory).
        con = duckdb.connect(config={"memory_limit": self.memory_limit, "temp_directory": f"{self.path}.tmp"})
        con.execute("SET enable_progress_bar = false")  # its bars go to the host app's stdout
        return con

    def _give_back(self, con: duckdb.DuckDBPyConnection) -> None:
        with self._lock:
            if len(self._idle) < KEEP:
                self._idle.append(con)
                if self._closing is not None:
                    self._closing.cancel()
                self._closing = threading.Timer(KEEP_FOR, self.close)
                self._closing.daemon = True
                self._closing.start()
                return
        con.close()

    def close(self) -> None:
        """Close the idle instances (a later read makes a new one)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for con in idle:
            con.close()


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")


_POOLS: weakref.WeakSet[ReadPool] = weakref.WeakSet()


def _close_all() -> None:
    """Every pool's idle instances closed: before ``fork()``, as a DuckDB instance does not
    survive it (its threads stay behind; the child, a server's worker, makes its own), and at
    exit, while Python still runs (DuckDB's own clean-up after it hung a gunicorn worker that had
    read, waiting for its threads)."""
    for pool in list(_POOLS):
        pool.close()


def _unlock_in_child() -> None:
    """A pool's lock another thread held at fork time would stay held forever in the child."""
    for pool in list(_POOLS):
        pool._lock = threading.Lock()


os.register_at_fork(before=_close_all, after_in_child=_unlock_in_child)
atexit.register(_close_all)
