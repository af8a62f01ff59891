"""The shape of a stored event: its columns (one list feeding the DuckDB table, the Arrow
spool files and the query results) and the public :class:`Event` record."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa

# (column, DuckDB type, Arrow type). Order matters: spool files and the table share it.
COLUMNS: tuple[tuple[str, str, pa.DataType], ...] = (
    ("ts", "TIMESTAMP", pa.timestamp("us")),  # UTC, naive in storage
    ("name", "VARCHAR", pa.string()),
    ("method", "VARCHAR", pa.string()),
    ("path", "VARCHAR", pa.string()),
    ("route", "VARCHAR", pa.string()),
    ("status", "USMALLINT", pa.uint16()),
    ("duration_ms", "FLOAT", pa.float32()),
    ("visitor_id", "UBIGINT", pa.uint64()),
    ("browser", "VARCHAR", pa.string()),
    ("browser_version", "VARCHAR", pa.string()),
    ("os", "VARCHAR", pa.string()),
    ("os_version", "VARCHAR", pa.string()),
    ("device", "VARCHAR", pa.string()),
    ("form_factor", "VARCHAR", pa.string()),
    ("is_bot", "BOOLEAN", pa.bool_()),
    ("referrer", "VARCHAR", pa.string()),
    ("referrer_domain", "VARCHAR", pa.string()),
    ("utm_source", "VARCHAR", pa.string()),
    ("utm_medium", "VARCHAR", pa.string()),
    ("utm_campaign", "VARCHAR", pa.string()),
    ("utm_term", "VARCHAR", pa.string()),
    ("utm_content", "VARCHAR", pa.string()),
    ("click_id", "VARCHAR", pa.string()),
    ("country", "VARCHAR", pa.string()),
    ("region", "VARCHAR", pa.string()),
    ("city", "VARCHAR", pa.string()),
    ("labels", "VARCHAR", pa.string()),  # JSON object text, '' when none
    ("value", "DOUBLE", pa.float64()),
)
COLUMN_NAMES = tuple(c[0] for c in COLUMNS)
ARROW_SCHEMA = pa.schema([(name, arrow_type) for name, _, arrow_type in COLUMNS])


@dataclass(frozen=True)
class Event:
    """One stored event, as returned by :meth:`kero_core.Kero.query`.

    ``ts`` is an aware UTC datetime; ``duration_ms`` is None unless durations are measured;
    ``visitor_id`` is 0 for custom events recorded without a request. ``click_id`` holds the
    kind of ad click id the landing URL carried (``gclid``, ``fbclid``, ``msclkid``, ``twclid``),
    never its value."""

    ts: datetime
    name: str
    method: str
    path: str
    route: str
    status: int
    duration_ms: float | None
    visitor_id: int
    browser: str
    browser_version: str
    os: str
    os_version: str
    device: str
    form_factor: str
    is_bot: bool
    referrer: str
    referrer_domain: str
    utm_source: str
    utm_medium: str
    utm_campaign: str
    utm_term: str
    utm_content: str
    click_id: str
    country: str
    region: str
    city: str
    labels: dict[str, Any] = field(default_factory=dict)
    value: float = 1.0
