"""Opening a DuckLake: its DuckDB extensions (from the ``lake`` extra's wheels, so nothing is
downloaded at run time), object-storage credentials, and the ATTACH itself.

Connection strings may hold a password; :func:`redact` is applied to every string that can reach
a log or an error message."""

from __future__ import annotations

import importlib
import os
import random
import re
import time
from pathlib import Path

import duckdb

EXTENSIONS = ("ducklake", "postgres_scanner", "httpfs")
CATALOG = "lake"  # the name the lake is attached as; queries read its tables unqualified (USE)
# Inserts of fewer rows than this are kept in the catalog (PostgreSQL) instead of a Parquet file
# each: the spool names and day marks of every ingest, and a quiet site's batches. Bigger
# batches go to Parquet: inlining 1,000-row batches made commits about 40x slower (LAKE.md).
INLINING_ROW_LIMIT = 100
ATTACH_ATTEMPTS = 10
CONNECT_TIMEOUT = 5  # seconds
_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)|(://[^:/@\s]+:)([^@\s]*)(@)", re.IGNORECASE)


class LakeUnavailable(RuntimeError):
    """The lake cannot be reached or opened now (PostgreSQL or the data path is down)."""


def redact(text: str) -> str:
    """``text`` with every password of a libpq string or URL replaced by ``***``."""
    return _PASSWORD.sub(lambda m: f"{m.group(1)}***" if m.group(1) else f"{m.group(3)}***{m.group(5)}", text)


def described(exc: BaseException) -> str:
    """An error's message on one line (libpq's span several), its passwords redacted."""
    return " ".join(redact(str(exc)).split())


def catalog_dsn(lake: str) -> str:
    """The PostgreSQL connection string of a ``lake`` option ('postgres:...' or a URL), with a
    connect timeout unless it names one: libpq waits forever for a host that never answers,
    and the writer must not."""
    dsn = lake[len("postgres:"):] if lake.startswith("postgres:") and not lake.startswith("postgres://") else lake
    if "connect_timeout" in dsn:
        return dsn
    if "://" in dsn:
        return f"{dsn}{'&' if '?' in dsn else '?'}connect_timeout={CONNECT_TIMEOUT}"
    return f"{dsn} connect_timeout={CONNECT_TIMEOUT}"


def extension_file(name: str) -> Path | None:
    """The extension file the ``duckdb-extension-<name>`` wheel installed for this DuckDB, if any."""
    try:
        module = importlib.import_module(f"duckdb_extension_{name}")
    except ImportError:
        return None
    path = Path(module.__file__ or "").parent / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    return path if path.is_file() else None


def load_extensions(con: duckdb.DuckDBPyConnection, names: tuple[str, ...] = EXTENSIONS) -> None:
    """LOAD each extension from its wheel; without the wheel (another DuckDB version), DuckDB's
    own INSTALL, which needs the network."""
    for name in names:
        path = extension_file(name)
        if path is not None:
            con.execute(f"LOAD '{_quoted(str(path))}'")
            continue
        try:
            con.execute(f"INSTALL {name}")
            con.execute(f"LOAD {name}")
        except duckdb.Error as exc:
            raise LakeUnavailable(
                f"DuckDB's {name} extension is not installed for DuckDB {duckdb.__version__} and cannot be "
                f"downloaded ({exc}); install the lake extra: pip install \"kero-analytics[lake]\""
            ) from None


def connect(lake: str, data_path: str | None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the lake attached and in use. Raises LakeUnavailable."""
    # Nothing is installed or loaded behind our back: an air-gapped host must behave like CI.
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    try:
        con.execute("SET enable_progress_bar = false")
        load_extensions(con, EXTENSIONS if data_path and _remote(data_path) else EXTENSIONS[:2])
        if data_path and _remote(data_path):
            _object_store_secret(con)
        options = [f"DATA_INLINING_ROW_LIMIT {INLINING_ROW_LIMIT}"]
        if data_path:
            options.append(f"DATA_PATH '{_quoted(data_path)}'")
        target = _quoted(f"ducklake:postgres:{catalog_dsn(lake)}")
        _attach(con, f"ATTACH '{target}' AS {CATALOG} ({', '.join(options)})")
        con.execute(f"USE {CATALOG}")
    except duckdb.Error as exc:
        con.close()
        raise LakeUnavailable(f"the lake cannot be opened: {described(exc)}") from None
    except BaseException:
        con.close()
        raise
    return con


def _attach(con: duckdb.DuckDBPyConnection, statement: str) -> None:
    """ATTACH, again when it lost a race: the first ATTACH of a new lake creates DuckLake's
    catalog tables, and hosts starting at once collide in PostgreSQL ("duplicate key")."""
    for attempt in range(ATTACH_ATTEMPTS):
        try:
            con.execute(statement)
            return
        except duckdb.Error as exc:
            if "duplicate key" not in str(exc) and "already exists" not in str(exc) or attempt == ATTACH_ATTEMPTS - 1:
                raise
            time.sleep(random.uniform(0.1, 0.5))


def _remote(data_path: str) -> bool:
    return "://" in data_path


def _object_store_secret(con: duckdb.DuckDBPyConnection) -> None:
    """An S3 secret from the usual AWS environment variables; AWS_ENDPOINT_URL points it at an
    S3-compatible server (MinIO, R2, a test server) with path-style URLs. Without the variables,
    DuckDB's own secrets (CREATE PERSISTENT SECRET) apply."""
    key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if not key or not secret:
        return
    options = {"KEY_ID": key, "SECRET": secret,
               "REGION": os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"}
    if os.environ.get("AWS_SESSION_TOKEN"):
        options["SESSION_TOKEN"] = os.environ["AWS_SESSION_TOKEN"]
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    settings = ""
    if endpoint:
        scheme, _, host = endpoint.rpartition("://")
        options["ENDPOINT"] = host.rstrip("/")
        settings = f", URL_STYLE 'path', USE_SSL {'false' if scheme == 'http' else 'true'}"
    body = ", ".join(f"{name} '{_quoted(value)}'" for name, value in options.items())
    con.execute(f"CREATE OR REPLACE SECRET kero_s3 (TYPE s3, {body}{settings})")


def _quoted(text: str) -> str:
    """``text`` inside a single-quoted SQL literal (ATTACH and LOAD take no parameters)."""
    return text.replace("'", "''")
