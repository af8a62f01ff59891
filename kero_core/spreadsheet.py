"""Cells a spreadsheet opens as text, never as a formula: one rule for every CSV Kero writes (the
dashboard's, ``kero export``'s aggregates, and ``kero export``'s events through DuckDB's COPY).

Tracked strings are attacker-controlled, and spreadsheets run a cell as a formula when it starts
with ``=``, ``+``, ``-`` or ``@``, some after leading spaces or control characters, some with the
full-width forms (``＝＋－＠``), and ``|`` starts a DDE command in older Excel. Such a cell gets a
leading apostrophe, which spreadsheets show as text. Data formats (JSON, Parquet) keep values as
stored."""

from __future__ import annotations

import unicodedata
from typing import Any

__all__ = ["FORMULA_STARTS", "formula_sql", "is_formula_like", "safe_cell"]

FORMULA_STARTS = "=+-@|\uff1d\uff0b\uff0d\uff20"  # and any whitespace, control or format character
_BLANK = ("Cc", "Cf", "Zs", "Zl", "Zp")  # control, format (zero-width...), and space categories


def is_formula_like(text: str) -> bool:
    """Whether a spreadsheet could read ``text`` as a formula (see the module docstring)."""
    if not text:
        return False
    first = text[0]
    return first in FORMULA_STARTS or first.isspace() or unicodedata.category(first) in _BLANK


def safe_cell(value: Any) -> Any:
    """``value`` with a leading apostrophe when it is formula-like text; anything else unchanged."""
    return "'" + value if isinstance(value, str) and is_formula_like(value) else value


def formula_sql(column: str) -> str:
    """The DuckDB expression of :func:`safe_cell` for a VARCHAR ``column`` (a trusted name)."""
    starts = FORMULA_STARTS.replace("-", "\\-")
    test = f"regexp_matches({column}, '^[\\s\\p{{Cc}}\\p{{Cf}}\\p{{Z}}{starts}]')"
    return f"CASE WHEN {test} THEN '''' || {column} ELSE {column} END"
