"""The cards of the dashboard: which breakdown of :mod:`kero_core.queries` each shows, how a row
reads, and which filters a click on it adds.

A card groups panels shown as tabs (Pages: top, entry and exit pages). Each panel is one
breakdown; its rows come back as ``BreakdownRow(key, value, value2, value3)``, the key's first
item being the label."""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Callable
from urllib.parse import urlsplit

from kero_core.dashboard import labels
from kero_core.dashboard.view import Filter
from kero_core.queries import NOT_FOUND_ROUTE, BreakdownRow

Key = tuple[str, ...]


@dataclass(frozen=True)
class Label:
    text: str
    icon: str = ""  # an emoji shown before the text (flags, form factors)
    href: str | None = None  # an external http(s) link beside the text (full referrer URLs)


@dataclass(frozen=True)
class Column:
    title: str
    value: str  # "value", "value2" or "value3" of the BreakdownRow
    unit: str = "count"  # "count" or "ms"


@dataclass(frozen=True)
class Panel:
    id: str  # the breakdown id
    title: str  # the tab's name
    heading: str  # the label column's heading
    columns: tuple[Column, ...]
    label: Callable[[Key], Label]
    filters: Callable[[Key], tuple[Filter, ...]]


@dataclass(frozen=True)
class Card:
    id: str
    title: str
    panels: tuple[Panel, ...]


def _plain(key: Key) -> Label:
    return Label(key[0] or labels.UNKNOWN)


def _by(dimension: str) -> Callable[[Key], tuple[Filter, ...]]:
    return lambda key: (Filter(dimension, key[0]),)


def _country(key: Key) -> Label:
    return Label(labels.country(key[0]), labels.flag(key[0]))


def _place(key: Key) -> Label:
    """A region or a city, with its country's flag."""
    return Label(key[0], labels.flag(key[1]))


def _place_filters(dimension: str) -> Callable[[Key], tuple[Filter, ...]]:
    return lambda key: (Filter("country", key[1]), Filter(dimension, key[0]))


def _referrer(key: Key) -> Label:
    return Label(key[0] or labels.DIRECT)


def _referrer_url(key: Key) -> Label:
    """Only http(s) referrers become links: a ``javascript:`` one would run on click."""
    parts = urlsplit(key[0])
    return Label(key[0], href=key[0] if parts.scheme in ("http", "https") and parts.netloc else None)


def _route(key: Key) -> Label:
    return Label(f"{key[1]} {key[0]}".strip())


def _route_filters(key: Key) -> tuple[Filter, ...]:
    route_or_path, method, is_route = key
    if is_route == "false" and route_or_path == NOT_FOUND_ROUTE:
        return (Filter("method", method), Filter("route", ""), Filter("status", "404"))
    return (Filter("method", method), Filter("route" if is_route == "true" else "path", route_or_path))


def _status(key: Key) -> Label:
    try:
        return Label(f"{key[0]} {HTTPStatus(int(key[0])).phrase}")
    except ValueError:
        return Label(key[0])


def _bot(key: Key) -> Label:
    return Label(key[0] or "No User-Agent")


def _form_factor(key: Key) -> Label:
    return Label(labels.form_factor(key[0]))


VISITORS = (Column("Visitors", "value"),)
VISITS = (Column("Visits", "value"),)
HITS = (Column("Hits", "value"),)


def _panel(id: str, title: str, heading: str, columns: tuple[Column, ...] = VISITORS,
           label: Callable[[Key], Label] = _plain, filters: Callable[[Key], tuple[Filter, ...]] | None = None,
           dimension: str = "") -> Panel:
    return Panel(id, title, heading, columns, label, filters or _by(dimension))


PAGES = _panel("pages", "Top pages", "Page", dimension="path")
REFERRERS = _panel("referrers", "Referrers", "Referrer", label=_referrer, dimension="referrer_domain")
REFERRER_URLS = _panel("referrer_urls", "Referrers", "Referrer URL", label=_referrer_url, dimension="referrer")
SLOWEST_ROUTES = _panel(
    "slowest_routes", "Slowest routes", "Route",
    (Column("p95", "value", "ms"), Column("Avg", "value2", "ms")), _route, _route_filters,
)
# Titled with the release's note in a view ("Release v1.4"); shown when a release was noted.
RELEASE_ROUTES = _panel(
    "release_routes", "Last release", "Route",
    (Column("p95 after", "value", "ms"), Column("p95 before", "value2", "ms")), _route, _route_filters,
)
CARDS: tuple[Card, ...] = (
    Card("pages", "Pages", (
        PAGES,
        _panel("entry_pages", "Entry pages", "Page", VISITS, dimension="path"),
        _panel("exit_pages", "Exit pages", "Page", VISITS, dimension="path"),
    )),
    Card("sources", "Sources", (
        REFERRERS,
        _panel("utm_sources", "UTM sources", "Source", dimension="utm_source"),
        _panel("utm_mediums", "UTM mediums", "Medium", dimension="utm_medium"),
        _panel("utm_campaigns", "UTM campaigns", "Campaign", dimension="utm_campaign"),
    )),
    Card("locations", "Locations", (
        _panel("countries", "Countries", "Country", label=_country, dimension="country"),
        _panel("regions", "Regions", "Region", label=_place, filters=_place_filters("region")),
        _panel("cities", "Cities", "City", label=_place, filters=_place_filters("city")),
    )),
    Card("devices", "Devices", (
        _panel("browsers", "Browsers", "Browser", dimension="browser"),
        _panel("operating_systems", "Operating systems", "Operating system", dimension="os"),
        _panel("form_factors", "Form factors", "Form factor", label=_form_factor, dimension="form_factor"),
    )),
    Card("routes", "Routes", (
        _panel("routes", "Top routes", "Route", HITS, _route, _route_filters),
        SLOWEST_ROUTES,
        RELEASE_ROUTES,
    )),
    Card("errors", "Errors", (
        _panel("status_codes", "Status codes", "Status", HITS, _status, dimension="status"),
        _panel("not_found", "Top 404 paths", "Path", HITS,
               filters=lambda key: (Filter("status", "404"), Filter("path", key[0]))),
    )),
    Card("bots", "Bots and libraries", (
        _panel("bots", "Bots and libraries", "Bot or library", (Column("Hits", "value"), Column("Visitors", "value2")),
               _bot, filters=lambda key: (Filter("is_bot", "true"), Filter("browser", key[0]))),
    )),
    Card("events", "Custom events", (
        _panel("custom_events", "Custom events", "Event", (Column("Events", "value"), Column("Visitors", "value2")),
               dimension="name"),
    )),
)


def _property(key: Key) -> Label:
    value, event, label_key = key
    return Label(f"{event} · {label_key}: {value}" if value else f"{event} · {label_key}: (empty)")


def _property_filters(key: Key) -> tuple[Filter, ...]:
    value, event, label_key = key
    return (Filter("name", event), Filter(f"prop.{label_key}", value))


# Custom events' labels (kero_core.rollups.properties).
PROPERTIES = _panel("properties", "Properties", "Event · property", (Column("Events", "value"), Column("Visitors", "value2")),
                    _property, _property_filters)
PROPERTIES_CARD = Card("properties", "Properties", (PROPERTIES,))
PANELS: dict[str, Panel] = ({p.id: p for card in CARDS for p in card.panels}
                            | {REFERRER_URLS.id: REFERRER_URLS, PROPERTIES.id: PROPERTIES})


def value(row: BreakdownRow, column: Column) -> float | None:
    number = getattr(row, column.value)
    return None if number is None else float(number)
