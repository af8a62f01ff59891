"""Exports: the raw events, and the dashboard's aggregates, as CSV, Parquet or JSON lines.

Files are written by DuckDB's ``COPY (SELECT ...) TO``, which streams any number of rows without
building them in Python. The aggregates are the rows of the dashboard's own CSV export (built by
:mod:`kero_core.dashboard.model`), so an export shows exactly what the dashboard shows. IP
addresses and User-Agent strings are not exported because they are never stored."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from kero_core import queries
from kero_core.dashboard.export import csv_rows
from kero_core.dashboard.model import Dashboard
from kero_core.schema import COLUMNS
from kero_core.spreadsheet import formula_sql, safe_cell

# DuckDB's COPY options per format. JSON is one object per line, which any size can stream.
FORMATS = {
    "csv": "FORMAT csv, HEADER true",
    "parquet": "FORMAT parquet, COMPRESSION zstd",
    "json": "FORMAT json",
}
AGGREGATE_SCHEMA = pa.schema([
    ("card", pa.string()),  # "figures", "chart", or a dashboard card (pages, referrers, countries, ...)
    ("label", pa.string()),  # the figure, the bucket's start (ISO, UTC), or the card's row
    ("metric", pa.string()),  # current/previous for figures; visitors, page_views, ... otherwise
    ("value", pa.float64()),
])


def _literal(path: Path) -> str:
    """A file name as an SQL string literal (COPY's target cannot be a bound parameter)."""
    return "'" + str(path).replace("'", "''") + "'"


def _column(name: str, sql_type: str, file_format: str) -> str:
    if file_format != "csv" or sql_type != "VARCHAR":
        return name
    return f"{formula_sql(name)} AS {name}"  # safe_cell() in SQL (a test keeps the two the same)


def export_events(con: duckdb.DuckDBPyConnection, target: Path, file_format: str,
                  start: datetime | None = None, end: datetime | None = None) -> int:
    """Write the events in ``[start, end)`` (all when None), oldest first, to ``target`` in
    ``file_format`` (a key of :data:`FORMATS`); returns how many were written. Times are UTC."""
    w = queries.where(None, None, start, end)
    columns = ", ".join(_column(name, sql_type, file_format) for name, sql_type, _ in COLUMNS)
    sql = f"COPY (SELECT {columns} FROM events WHERE {w.sql} ORDER BY ts) TO {_literal(target)} ({FORMATS[file_format]})"
    return int(con.execute(sql, w.params).fetchone()[0])


def aggregates(dashboard: Dashboard, *, csv: bool = False) -> pa.Table:
    """The dashboard's numbers as one long table (see :data:`AGGREGATE_SCHEMA`); ``csv`` makes
    its text safe to open in a spreadsheet."""
    rows = list(csv_rows(dashboard))
    if csv:
        rows = [(safe_cell(card), safe_cell(label), metric, value) for card, label, metric, value in rows]
    columns = list(zip(*rows)) if rows else [() for _ in AGGREGATE_SCHEMA]
    return pa.table([pa.array(column, kind) for column, kind in zip(columns, AGGREGATE_SCHEMA.types)],
                    schema=AGGREGATE_SCHEMA)


def export_aggregates(dashboard: Dashboard, target: Path, file_format: str) -> int:
    """Write :func:`aggregates` to ``target``; returns how many rows were written. Needs no
    access to the database: the dashboard was built already."""
    table = aggregates(dashboard, csv=file_format == "csv")
    with duckdb.connect() as con:
        con.register("aggregates", table)
        return int(con.execute(f"COPY aggregates TO {_literal(target)} ({FORMATS[file_format]})").fetchone()[0])
