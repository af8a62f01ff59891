"""The current view as CSV (long format: card, label, metric, value) and as JSON (``api/stats``).

Both are built from the same :class:`~kero_core.dashboard.model.Dashboard` as the page, so they
always agree with it."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any, Iterator

from kero_core.dashboard.model import Dashboard, PanelView
from kero_core.spreadsheet import safe_cell

def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds") + "Z"


def _number(value: float | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else round(float(value), 4)


def _panels(dashboard: Dashboard) -> Iterator[tuple[str, PanelView]]:
    for card in dashboard.cards:
        for panel in card.panels:
            yield card.card.title, panel


def csv_rows(dashboard: Dashboard) -> Iterator[tuple[str, str, str, Any]]:
    for f in dashboard.figures:
        yield "figures", f.label, "current", _number(f.value)
        yield "figures", f.label, "previous", _number(f.previous)
    for b in dashboard.buckets:
        label = _iso(b.start)
        yield "chart", label, "visitors", b.visitors
        yield "chart", label, "page_views", b.views
        yield "chart", label, "previous_visitors", b.previous_visitors
        yield "chart", label, "previous_page_views", b.previous_views
    for _, panel in _panels(dashboard):
        for row in panel.rows:
            for column, value in zip(panel.panel.columns, row.values):
                yield panel.panel.id, row.label.text, column.title.lower(), _number(value)


def conversion_rows(dashboard: Dashboard) -> Iterator[tuple[str, str, str, Any]]:
    for g in dashboard.goals:
        yield "goals", g.goal.text, "visitors", g.visitors
        yield "goals", g.goal.text, "conversions", g.conversions
        yield "goals", g.goal.text, "conversion_rate", _number(g.rate)
        yield "goals", g.goal.text, "previous_visitors", g.previous_visitors
        yield "goals", g.goal.text, "previous_conversions", g.previous_conversions
        yield "goals", g.goal.text, "previous_conversion_rate", _number(g.previous_rate)
    if dashboard.funnel is not None:
        for s in dashboard.funnel.steps:
            label = f"{s.number}. {s.label}"
            yield "funnel", label, "visitors", s.visitors
            yield "funnel", label, "from_previous", _number(s.from_previous)
            yield "funnel", label, "from_first", _number(s.from_first)


def to_csv(dashboard: Dashboard) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(("card", "label", "metric", "value"))
    for row in (*csv_rows(dashboard), *conversion_rows(dashboard)):
        writer.writerow([safe_cell(cell) for cell in row])
    return out.getvalue()


def to_json(dashboard: Dashboard) -> dict[str, Any]:
    """The documented schema of ``api/stats`` (see docs/dashboard.md): ``goal``, ``goals`` and
    ``funnel`` only when the view or the options have them."""
    out = _stats_json(dashboard)
    if dashboard.view.goal is not None:
        out["goal"] = dashboard.view.goal.text
    if dashboard.goals:
        out["goals"] = [{"goal": g.goal.text, "kind": g.goal.kind, "visitors": g.visitors, "conversions": g.conversions,
                         "conversion_rate": _number(g.rate), "previous_visitors": g.previous_visitors,
                         "previous_conversions": g.previous_conversions,
                         "previous_conversion_rate": _number(g.previous_rate), "change": g.change.text or None}
                        for g in dashboard.goals]
    if dashboard.funnel is not None:
        f = dashboard.funnel
        out["funnel"] = {"name": f.funnel.name, "conversion_rate": _number(f.rate), "steps": [
            {"step": s.label, "kind": s.kind, "visitors": s.visitors,
             "from_previous": _number(s.from_previous), "dropped": s.dropped, "from_first": _number(s.from_first)}
            for s in f.steps]}
    return out


def _stats_json(dashboard: Dashboard) -> dict[str, Any]:
    view = dashboard.view
    return {
        "title": dashboard.title,
        "period": {
            "id": view.timeframe,
            "label": view.label,
            "start": _iso(view.start),
            "end": _iso(view.end.replace(microsecond=0)),
            "previous_start": _iso(view.previous_start),
            "timezone": "UTC",
        },
        "comparison": None if view.comparison is None else {
            "compare": view.compare, "label": view.comparison_label,
            "start": _iso(view.comparison[0]), "end": _iso(view.comparison[1].replace(microsecond=0)),
        },
        "filters": [{"dimension": f.dimension, "operator": "is not" if f.negate else "is", "value": f.value}
                    for f in view.filters],
        "realtime": {"visitors": dashboard.realtime, "minutes": 5},
        "events_from": None if dashboard.events_from is None else dashboard.events_from.isoformat(),
        "figures": [{"id": f.id, "label": f.label, "value": _number(f.value), "previous": _number(f.previous),
                     "change": f.change.text or None} for f in dashboard.figures],
        "chart": {
            "unit": dashboard.unit,
            "buckets": [{"start": _iso(b.start), "visitors": b.visitors, "page_views": b.views,
                         "previous_visitors": b.previous_visitors, "previous_page_views": b.previous_views}
                        for b in dashboard.buckets],
        },
        "annotations": [{"at": _iso(a.at), "text": a.text, "release": a.release} for a in dashboard.annotations],
        "cards": [
            {
                "id": panel.panel.id,
                "card": card,
                "title": panel.panel.title,
                "columns": [c.title for c in panel.panel.columns],
                "total": panel.total,
                "rows": [{"label": row.label.text, "values": [_number(v) for v in row.values],
                          "filters": {f.param: f.value for f in row.filters}} for row in panel.rows],
            }
            for card, panel in _panels(dashboard)
        ],
    }


def json_bytes(data: Any) -> bytes:
    """JSON that is safe even if some page embedded it in HTML: <, > and & are escaped."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").encode()
