"""CSV cells a spreadsheet could run (issue 14, finding 8): event names starting with a line feed,
a space, NUL, a full-width ``＝`` or ``|`` were exported as they were. Now every CSV Kero writes
(the dashboard's, ``kero export`` of events and of aggregates) neutralises them with one rule,
and event names and labels lose their control characters when they are captured."""

from __future__ import annotations

import base64
import csv
import io
from pathlib import Path
from typing import Callable

import duckdb
import pyarrow as pa
from werkzeug.test import Client

from kero_core import Kero
from kero_core.spreadsheet import formula_sql, is_formula_like, safe_cell
from kero_core.wsgi import KeroMiddleware
from tests.cli.conftest import invoke
from tests.reliability.host import ok_app

# What each name is stored as: control characters go at capture; the rest stays, and is
# neutralised in CSV.
NAMES = {
    "\n=1+1": "=1+1", "\x00=1+1": "=1+1", "\r\n@SUM(A1)": "@SUM(A1)", " =1+1": " =1+1", "\u3000=1+1": "\u3000=1+1",
    "\u200b=1+1": "\u200b=1+1", "\uff1dHYPERLINK(\"x\")": "\uff1dHYPERLINK(\"x\")", "\uff0b1": "\uff0b1",
    "\uff0d1": "\uff0d1", "\uff20A1": "\uff20A1", "|cmd": "|cmd", "-1+1": "-1+1", "\u00a0=1": "\u00a0=1",
}


def _cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


def _unsafe(cells: list[str]) -> list[str]:
    return [cell for cell in cells if is_formula_like(cell)]


def test_every_csv_neutralises_formula_like_names(make_kero: Callable[..., Kero], tmp_path: Path) -> None:
    kero = make_kero()
    for name in NAMES:
        kero.track(name, {"plan\x07": "\x1b[31mpro\n"})
    assert kero.flush(10)
    stored = {e.name for e in kero.query(None)}
    client = Client(KeroMiddleware(ok_app, kero, users={"admin": "pw"}))
    auth = {"Authorization": "Basic " + base64.b64encode(b"admin:pw").decode()}
    dashboard_csv = client.get("/_kero/?period=today&format=csv", headers=auth).get_data(as_text=True)
    events_csv = invoke("export", "--db", tmp_path / "kero", "--format", "csv").stdout
    aggregates_csv = invoke("export", "--db", tmp_path / "kero", "--format", "csv", "--aggregates").stdout
    labels = [e.labels for e in kero.query(None)]
    print(f"\n[csv] stored names {sorted(map(repr, stored))}; labels {labels}")
    assert stored == set(NAMES.values())
    assert labels == [{"plan": "[31mpro"}] * len(NAMES)
    event_names = [row["name"] for row in csv.DictReader(io.StringIO(events_csv))]
    assert sorted(event_names) == sorted("'" + n if is_formula_like(n) else n for n in NAMES.values())
    for what, text in (("dashboard", dashboard_csv), ("events", events_csv), ("aggregates", aggregates_csv)):
        assert _unsafe(_cells(text)) == [], what
    assert "'\uff1dHYPERLINK(\"x\")" in _cells(dashboard_csv)


def test_the_sql_rule_is_the_python_rule() -> None:
    """kero export's events go through DuckDB's COPY, the rest through safe_cell: the same rule
    for every character of the Basic Multilingual Plane at the start of a cell (the
    Unicode versions of Python and DuckDB differ past it)."""
    starts = [chr(c) for c in range(0x10000) if not 0xD800 <= c < 0xE000]
    with duckdb.connect() as con:
        con.register("cells", pa.table({"cell": [c + "x" for c in starts]}))
        rows = con.execute(f"SELECT cell, {formula_sql('cell')} FROM cells").fetchall()
    differ = [hex(ord(cell[0])) for cell, sql in rows if safe_cell(cell) != sql]
    assert differ == [] and len(rows) == len(starts)
    assert safe_cell("") == "" and safe_cell(3) == 3 and safe_cell("page") == "page"
