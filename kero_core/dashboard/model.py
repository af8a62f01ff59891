"""The dashboard's view-model: everything the page, the CSV and the JSON show, computed from a
:class:`~kero_core.dashboard.view.View` with one read session and four queries.

Templates and exports only read what is built here; no number is computed in a template."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Callable, Collection, Iterable, Mapping, Sequence

from kero_core import goal_queries, notes, queries, rollups
from kero_core.dashboard import chart, conversions, labels
from kero_core.dashboard.cards import (CARDS, PANELS, PROPERTIES, PROPERTIES_CARD, REFERRER_URLS, RELEASE_ROUTES, Card,
                                      Column, Label, Panel, value)
from kero_core.dashboard.view import COMPARE, TIMEFRAMES, Filter, View
from kero_core.goals import Step
from kero_core.queries import Bucket, BreakdownRow, Figures

if TYPE_CHECKING:
    import duckdb

    from kero_core.kero import Kero

CARD_ROWS = 10  # rows a card shows
MODAL_ROWS = 1000  # rows "Show all" lists at most
REALTIME = timedelta(minutes=5)
DIMENSION_NAMES = {
    "name": "Event", "method": "Method", "path": "Page", "route": "Route", "status": "Status",
    "browser": "Browser", "browser_version": "Browser version", "os": "Operating system",
    "os_version": "OS version", "device": "Device", "form_factor": "Form factor", "is_bot": "Bot",
    "referrer": "Referrer URL", "referrer_domain": "Referrer", "utm_source": "UTM source",
    "utm_medium": "UTM medium", "utm_campaign": "UTM campaign", "utm_term": "UTM term",
    "utm_content": "UTM content", "click_id": "Ad click id", "country": "Country",
    "region": "Region", "city": "City",
}


@dataclass(frozen=True)
class Change:
    """A figure's change against the period before."""

    direction: str  # "up", "down", "flat", "new", "none" (no data before), or "" when not comparable
    text: str  # "↑ 12%", "↓ 3.1 pp", "±0%", "new"
    tone: str  # "good", "bad" or "neutral"


NO_CHANGE = Change("", "", "neutral")
NO_PREVIOUS = Change("none", "no previous data", "neutral")  # not "±0%": there is nothing to compare with


def change(current: float | None, previous: float | None, *, points: bool = False, lower_is_better: bool = False) -> Change:
    """The change from ``previous`` to ``current``: relative (%) for amounts, in percentage
    points for rates (``points``, values in [0, 1]). From zero, an amount is "new"."""
    if current is None or previous is None:
        return NO_CHANGE
    if points:
        amount = (current - previous) * 100
        rounded = round(amount, 1)
        text = f"{abs(rounded):.1f} pp"
    elif previous == 0:
        return Change("flat", "±0%", "neutral") if current == 0 else Change("new", "new", "neutral")
    else:
        rounded = round((current - previous) / previous * 100)
        text = f"{abs(rounded):,}%"
    if rounded == 0:
        return Change("flat", "±0" + (" pp" if points else "%"), "neutral")
    up = rounded > 0
    good = up != lower_is_better
    return Change("up" if up else "down", ("↑ " if up else "↓ ") + text, "good" if good else "bad")


@dataclass(frozen=True)
class Figure:
    id: str
    label: str
    value: float | None
    previous: float | None
    text: str
    previous_text: str
    change: Change
    integer: bool = False  # whole numbers the browser localises

    @property
    def compact(self) -> bool:
        """Shown shortened (2.82M), the exact number on hover: a long one overflows its tile."""
        return self.integer and self.value is not None and self.value >= labels.COMPACT_FROM


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def figures(current: Figures, previous: Figures, *, name: str, durations: bool, compared: bool = True) -> tuple[Figure, ...]:
    """The key figures with their change (none when not ``compared``); response times only
    when Kero measures them."""
    views_label = "Page views" if name == "http_req" else f"Events: {name}"

    def amount(id: str, label: str, a: int, b: int) -> Figure:
        return Figure(id, label, a, b, labels.compact(a), labels.integer(b), change(a, b), integer=True)

    def rate(id: str, label: str, a: float | None, b: float | None) -> Figure:
        return Figure(id, label, a, b, labels.percent(a), labels.percent(b),
                      change(a, b, points=True, lower_is_better=True))

    def timing(id: str, label: str, a: float | None, b: float | None) -> Figure:
        return Figure(id, label, a, b, labels.milliseconds(a), labels.milliseconds(b), change(a, b, lower_is_better=True))

    per_visitor = _ratio(current.views, current.visitors), _ratio(previous.views, previous.visitors)
    out = [
        amount("visitors", "Unique visitors", current.visitors, previous.visitors),
        amount("views", views_label, current.views, previous.views),
        Figure("views_per_visitor", "Views per visitor", *per_visitor, labels.decimal(per_visitor[0]),
               labels.decimal(per_visitor[1]), change(*per_visitor)),
        rate("bounce_rate", "Bounce rate", _ratio(current.bounces, current.visits), _ratio(previous.bounces, previous.visits)),
        Figure("visit_duration", "Visit duration", current.median_visit_seconds, previous.median_visit_seconds,
               labels.seconds(current.median_visit_seconds), labels.seconds(previous.median_visit_seconds),
               change(current.median_visit_seconds, previous.median_visit_seconds)),
        rate("error_rate", "Error rate", _ratio(current.errors, current.views), _ratio(previous.errors, previous.views)),
    ]
    if durations:
        out += [timing("p50", "Response p50", current.p50_ms, previous.p50_ms),
                timing("p95", "Response p95", current.p95_ms, previous.p95_ms)]
    if not compared:
        out = [replace(f, previous=None, previous_text="", change=NO_CHANGE) for f in out]
    elif previous.views == 0 and previous.visitors == 0:
        out = [replace(f, change=NO_PREVIOUS) for f in out]
    return tuple(out)


def compared(con: "duckdb.DuckDBPyConnection", view: View, goals: Sequence[Step], rolled: Collection[date],
             live: Mapping[date, datetime]) -> tuple[
        tuple[Figures, Figures], tuple[str, list[Bucket]], list[tuple[goal_queries.GoalCounts, goal_queries.GoalCounts]]]:
    """The key figures, the chart's buckets and the goals' counts of the view and of the period
    it is compared with. The period just before is read with the view's own period, in one
    query each; a year before or a picked one as a period of its own, then laid over the view's
    buckets one by one (both periods are as long); without comparison, nothing else is read.
    ``rolled`` and ``live``: the days rolled up and those kept current at ingest
    (:func:`kero_core.rollups.rolled_days`, :func:`kero_core.rollups.live_days`)."""
    scope = view.scope()
    if view.compare == "previous":
        return (rollups.figures(con, scope, view.previous_start, rolled, live),
                rollups.series(con, scope, view.previous_start, rolled, live),
                rollups.goals(con, scope, goals, view.previous_start, rolled))
    current = rollups.figures(con, scope, scope.start, rolled, live)[0]
    unit, buckets = rollups.series(con, scope, scope.start, rolled, live)
    goal_now = [counts for counts, _ in rollups.goals(con, scope, goals, scope.start, rolled)]
    if view.comparison is None:
        return (current, Figures()), (unit, buckets), [(c, goal_queries.GoalCounts()) for c in goal_now]
    other = replace(scope, start=view.comparison[0], end=view.comparison[1])
    previous = rollups.figures(con, other, other.start, rolled, live)[0]
    _, earlier = rollups.series(con, other, other.start, rolled, live)
    laid = [replace(b, previous_visitors=e.visitors, previous_views=e.views) for b, e in zip(buckets, earlier)]
    goal_then = [counts for counts, _ in rollups.goals(con, other, goals, other.start, rolled)]
    return (current, previous), (unit, laid + buckets[len(laid):]), list(zip(goal_now, goal_then))


@dataclass(frozen=True)
class Row:
    label: Label
    values: tuple[float | None, ...]  # one per column of the panel
    texts: tuple[str, ...]
    bar: int  # 0-100: the first value as a share of the panel's largest
    filters: tuple[Filter, ...]
    href: str  # this view, filtered by the row ('' for the queries.OTHER row, which no filter selects)


@dataclass(frozen=True)
class PanelView:
    panel: Panel
    rows: tuple[Row, ...]
    total: int  # rows the panel has in all
    show_all: str  # link to the full list


def _text(number: float | None, column: Column) -> str:
    if number is None:
        return "–"
    return labels.milliseconds(number) if column.unit == "ms" else labels.integer(number)


def panel_view(view: View, panel: Panel, total: int, rows: Iterable[BreakdownRow]) -> PanelView:
    built = []
    rows = list(rows)
    largest = max([r.value for r in rows if r.value is not None] + [0])
    links: dict[frozenset[str], Callable[[Sequence[Filter]], str]] = {}
    for row in rows:
        values = tuple(value(row, c) for c in panel.columns)
        bar = round(100 * (row.value or 0) / largest) if largest else 0
        texts = tuple(_text(v, c) for v, c in zip(values, panel.columns))
        if row.key[0] == queries.OTHER:  # many values counted together (see rollups.CARD_KEYS): no filter
            built.append(Row(Label(queries.OTHER_LABEL), values, texts, bar, (), ""))
            continue
        filters = panel.filters(row.key)
        dimensions = frozenset(f.dimension for f in filters)
        link = links.get(dimensions) or links.setdefault(dimensions, view.filter_links(dimensions))
        built.append(Row(panel.label(row.key), values, texts, bar, filters, link(filters)))
    return PanelView(panel, tuple(built), total, view.showing(panel.id))


@dataclass(frozen=True)
class CardView:
    card: Card
    panels: tuple[PanelView, ...]


@dataclass(frozen=True)
class Chip:
    """An active filter, shown as a chip that can be removed or turned from "is" to "is not"."""

    filter: Filter
    dimension: str
    value: Label
    remove: str
    toggle: str
    locked: bool = False  # a shared link's: shown, but neither removed nor turned


def value_label(f: Filter) -> Label:
    if f.dimension == "country":
        return Label(labels.country(f.value), labels.flag(f.value))
    if f.dimension == "form_factor":
        return Label(labels.form_factor(f.value))
    if f.dimension == "referrer_domain" and not f.value:
        return Label(labels.DIRECT)
    if f.dimension == "is_bot":
        return Label("yes" if f.value.lower() in ("1", "true", "yes") else "no")
    return Label(f.value or "(empty)")


@dataclass(frozen=True)
class Timeframe:
    id: str
    label: str
    href: str
    active: bool


@dataclass(frozen=True)
class Dashboard:
    title: str
    view: View
    figures: tuple[Figure, ...]
    unit: str  # the chart's bucket: hour, day, week, month or year
    buckets: tuple[Bucket, ...]
    chart: chart.Chart
    cards: tuple[CardView, ...]
    chips: tuple[Chip, ...]
    timeframes: tuple[Timeframe, ...]
    comparisons: tuple[Timeframe, ...]  # the comparison menu's links (id: a COMPARE key)
    realtime: int  # visitors in the last five minutes, whatever the filters
    has_data: bool  # anything stored at all (else the page says how to get data)
    modal: PanelView | None = None
    goals: tuple[conversions.GoalView, ...] = ()  # one per goal option entry
    funnels: tuple[conversions.FunnelLink, ...] = ()  # one per funnel option entry
    funnel: conversions.FunnelView | None = None  # the funnel of ?funnel=
    locations_off: bool = False  # no GeoIP file and no known country: the card says how to turn them on
    annotations: tuple[notes.Annotation, ...] = ()  # those of the period, oldest first
    waiting: int = 0  # seconds the oldest event not stored yet has waited, when past WAITING_SHOWN
    events_from: date | None = None  # a view read from the events, which start that day (raw_retention)


def panels_of(view: View, card: Card, durations: bool, release: notes.Annotation | None = None) -> tuple[Panel, ...]:
    """A card's panels in this view: full referrer URLs once a referrer domain is picked, no
    slowest routes when no durations are measured, and the routes before and after the latest
    ``release`` (titled with its note) when there is one."""
    drilled = any(f.dimension == "referrer_domain" and not f.negate and f.value for f in view.filters)
    out = []
    for panel in card.panels:
        if panel.id == "referrers" and drilled:
            panel = REFERRER_URLS
        if panel.id in ("slowest_routes", RELEASE_ROUTES.id) and not durations:
            continue
        if panel.id == RELEASE_ROUTES.id:
            if release is None:
                continue
            panel = replace(panel, title=release.text)
        out.append(panel)
    return tuple(out)


# Events wait in the spool for the next ingest (every few seconds); a read that found the ingest lock
# taken shows what was stored, and says so once the oldest waiting event is this many seconds old.
WAITING_SHOWN = 30.0


def build(kero: "Kero", view: View, *, rows: int = CARD_ROWS) -> Dashboard:
    """Everything the page shows, read in one session (which also ingests pending events)."""
    scope = view.scope()
    durations = kero.config.measure_requests
    with kero.read(shared=True) as session, queries.snapshot(session) as con:
        noted = notes.between(con, None, view.end)  # the chart's annotations and the latest release, in one read
        annotations = tuple(a for a in noted if a.at >= view.start)
        release = next((a for a in reversed(noted) if a.release is not None), None) if durations else None
        panels = {card.id: panels_of(view, card, durations, release) for card in CARDS}
        ids = [p.id for card_panels in panels.values() for p in card_panels if p.id != RELEASE_ROUTES.id]
        rolled, live_days = rollups.rolled_days(con, scope.goal), rollups.live_days(con)
        kept_from = rollups.events_kept_from(con)  # events of older days are gone (raw_retention)
        expired = rollups.rolled_days(con) if kept_from and scope.goal else rolled
        events_from = kept_from if kept_from and _reads_events_before(con, view, kept_from, rolled, expired) else None
        (current, previous), (unit, buckets), goal_counts = compared(con, view, kero.config.goals, rolled, live_days)
        # A "Show all" list of one of these cards comes with them (read once), its card's rows its first ones.
        longer = {view.show: MODAL_ROWS} if view.show in ids else {}
        found = rollups.breakdowns(con, scope, ids, rows, rolled, live_days, longer)
        modal = {card: found[card] for card in longer}
        found.update((card, (total, listed[:rows])) for card, (total, listed) in modal.items())
        found[PROPERTIES.id] = rollups.properties(con, scope, rows, rolled, live_days)
        if release is not None:
            found[RELEASE_ROUTES.id] = queries.release_routes(con, scope, release.at, rows)
        if view.show and not modal:
            modal = _breakdowns(con, view, view.show, MODAL_ROWS)
        live = queries.count_visitors(con, realtime_where(view.now, view.locked))
        has_data = bool(current.views or previous.views) or queries.has_events(con)
        funnel_counts = rollups.funnel(con, scope, view.funnel, rolled) if view.funnel else None
    waited = kero.store.waited()  # a read beside others' ingests nothing: say what it could not show
    cards = tuple(
        CardView(card, tuple(panel_view(view, p, *found[p.id]) for p in panels[card.id])) for card in CARDS
    ) + (CardView(PROPERTIES_CARD, (panel_view(view, PROPERTIES, *found[PROPERTIES.id]),)),)
    return Dashboard(
        title=kero.config.title,
        view=view,
        figures=figures(current, previous, name=view.name, durations=durations, compared=view.comparison is not None),
        unit=unit,
        buckets=tuple(buckets),
        chart=chart.build(unit, buckets, annotations, view.comparison_label),
        cards=cards,
        chips=chips(view),
        timeframes=tuple(Timeframe(id, label, view.with_timeframe(id), id == view.timeframe)
                         for id, label in TIMEFRAMES.items()),
        comparisons=tuple(Timeframe(id, label, view.with_compare(id), id == view.compare)
                          for id, label in COMPARE.items() if id != "custom"),
        realtime=live,
        has_data=has_data,
        modal=panel_view(view, PANELS[view.show], *modal[view.show]) if view.show else None,
        goals=conversions.goal_views(view, kero.config.goals, goal_counts, current.visitors, previous.visitors),
        funnels=conversions.funnel_links(view, kero.config.funnels),
        funnel=conversions.funnel_view(view.funnel, funnel_counts) if view.funnel and funnel_counts else None,
        locations_off=kero.config.geoip_db is None and not any(row.key[0] for row in found["countries"][1]),
        annotations=annotations,
        waiting=round(waited) if waited >= WAITING_SHOWN else 0,
        events_from=events_from,
    )


def _reads_events_before(con: "duckdb.DuckDBPyConnection", view: View, day: date, rolled: Collection[date],
                         expired: Collection[date]) -> bool:
    """Whether the view reads events of an ``expired`` day (rolled up, then deleted by the
    raw_retention option) before ``day``: all its period's when its filters are ones the
    rollups do not keep, else the days its ``rolled`` days leave to the events (the cut days at
    the ends of its period or its comparison, days rolled up before its goal was defined)."""
    usable = rollups.usable(view.scope())
    for start, end in [(view.start, view.end), *([view.comparison] if view.comparison else [])]:
        for first, last in rollups.plan(con, start, end, rolled).raw if usable else [(start, end)]:
            moment = datetime.combine(first.date(), datetime.min.time())
            while moment < last and moment.date() < day:
                if moment.date() in expired:
                    return True
                moment += timedelta(days=1)
    return False


def build_modal(kero: "Kero", view: View, card: str) -> PanelView:
    """Only the full list of one card (what the script fetches for "Show all")."""
    with kero.read(shared=True) as con:
        found = _breakdowns(con, view, card, MODAL_ROWS)
    return panel_view(view, PANELS[card], *found[card])


def _breakdowns(con: "duckdb.DuckDBPyConnection", view: View, card: str, rows: int) -> dict[str, tuple[int, list[BreakdownRow]]]:
    """One card's rows: the routes around the latest release from the events (none without a
    release), any other from the rollups where they can answer."""
    scope = view.scope()
    if card == PROPERTIES.id:
        return {card: rollups.properties(con, scope, rows)}
    if card == RELEASE_ROUTES.id:
        release = notes.latest_release(con, view.end)
        return {card: queries.release_routes(con, scope, release.at, rows) if release else (0, [])}
    return rollups.breakdowns(con, scope, [card], rows)


def dimension_name(dimension: str) -> str:
    if queries.is_property(dimension):
        return f"Property {dimension[len(queries.PROPERTY):]}"
    return DIMENSION_NAMES[dimension]


def chips(view: View) -> tuple[Chip, ...]:
    return tuple(Chip(f, dimension_name(f.dimension), value_label(f), view.without(f), view.toggled(f), f in view.locked)
                 for f in view.filters)


def realtime_where(now: datetime, locked: Sequence[Filter] = ()) -> queries.Where:
    """Human page views of the last five minutes, whatever the view's period and filters, but
    within a shared link's ``locked`` filters."""
    filters = {"is_bot": False, **{f.key: f.value for f in locked}}
    return queries.where("http_req", filters, now - REALTIME, now + timedelta(microseconds=1))


def realtime(kero: "Kero", locked: Sequence[Filter] = ()) -> int:
    """Human visitors in the last five minutes (the header's live figure)."""
    with kero.read(shared=True) as con:
        return queries.count_visitors(con, realtime_where(kero.now(), locked))
