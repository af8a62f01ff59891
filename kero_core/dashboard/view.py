"""What a dashboard request asks for: the timeframe, the filters and the other query parameters,
validated, and the links to other views (all relative: a query string only, so the page works
under any mount point and URL prefix).

Filters are ``?country=CH`` (is) and ``?country!=CH`` (is not: the query string's key is
``country!``); their dimensions are the ones :data:`kero_core.queries.DIMENSIONS` knows."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Callable, Mapping, Sequence
from urllib.parse import urlencode

from kero_core.capture import MAX_PATH
from kero_core.goals import Funnel, Step, find_funnel, find_goal
from kero_core.queries import DIMENSIONS, Scope, is_property, property_path

TIMEFRAMES: dict[str, str] = {
    "today": "Today",
    "24h": "Past 24 hours",
    "7d": "Past 7 days",
    "30d": "Past 30 days",
    "12mo": "Past 12 months",
    "mtd": "Month to date",
    "ytd": "Year to date",
}
DEFAULT_TIMEFRAME = "24h"
COMPARE: dict[str, str] = {
    "previous": "Period before",
    "year": "A year before",
    "custom": "From a day you pick",
    "off": "No comparison",
}
DEFAULT_COMPARE = "previous"
CUSTOM = "custom"
MAX_CUSTOM_DAYS = 36_525  # a century: any history imported from logs, in at most ~100 yearly chart buckets
# The end of a period is exclusive; one microsecond (the storage's resolution) past "now"
# includes what happened at the very moment of the request.
_JUST_AFTER = timedelta(microseconds=1)


class BadRequest(ValueError):
    """A query parameter the dashboard cannot honour; the message says which and why."""


@dataclass(frozen=True)
class Filter:
    dimension: str
    value: str
    negate: bool = False

    @property
    def param(self) -> str:
        """Its key in the query string (``country`` or ``country!``)."""
        return self.dimension + ("!" if self.negate else "")

    @property
    def key(self) -> str:
        """Its key for :func:`kero_core.queries.where` (``country`` or ``country!=``)."""
        return self.dimension + ("!=" if self.negate else "")


@dataclass(frozen=True)
class View:
    """One view of the dashboard: a period, the period of equal length before it, and filters."""

    timeframe: str  # a TIMEFRAMES key or CUSTOM
    now: datetime  # naive UTC, like everything here
    start: datetime
    end: datetime
    filters: tuple[Filter, ...] = ()
    custom: tuple[date, date] | None = None
    show: str | None = None  # the card whose full list is open
    goal: Step | None = None  # only visitors who completed this goal (?goal=)
    funnel: Funnel | None = None  # the funnel shown (?funnel=)
    locked: tuple[Filter, ...] = ()  # a shared link's filters: part of ``filters``, never removed
    shared: bool = False  # seen through a shared link
    compare: str = DEFAULT_COMPARE  # a COMPARE key: what the figures and the chart compare with
    compare_from: date | None = None  # the first day of a custom comparison (compare=custom)

    @property
    def label(self) -> str:
        if self.custom is not None:
            first, last = self.custom
            return f"{first:%d %b %Y}" if first == last else f"{first:%d %b %Y} – {last:%d %b %Y}"
        return TIMEFRAMES[self.timeframe]

    @property
    def previous_start(self) -> datetime:
        return self.start - (self.end - self.start)

    @property
    def comparison(self) -> tuple[datetime, datetime] | None:
        """The period compared with, as long as this one (None: no comparison): the one just
        before, the same dates a year earlier, or from the day ``compare_from``."""
        if self.compare == "off":
            return None
        if self.compare == "year":
            return a_year_before(self.start), a_year_before(self.start) + (self.end - self.start)
        if self.compare == "custom" and self.compare_from is not None:
            first = datetime.combine(self.compare_from, datetime.min.time())
            return first, first + (self.end - self.start)
        return self.previous_start, self.start

    @property
    def comparison_label(self) -> str:
        """How the page names the compared period ("" without one)."""
        if self.compare == "off":
            return ""
        if self.compare == "custom" and self.compare_from is not None:
            return f"From {self.compare_from:%d %b %Y}"
        return COMPARE[self.compare]

    @property
    def name(self) -> str:
        """The events counted: page views, unless a ``name`` filter picks custom events."""
        return next((f.value for f in self.filters if f.dimension == "name" and not f.negate), "http_req")

    @property
    def bots_included(self) -> bool:
        """Bots count only when the filters ask for them (``is_bot`` or ``form_factor=bot``)."""
        return any(f.dimension == "is_bot" or (f.dimension, f.value, f.negate) == ("form_factor", "bot", False)
                   for f in self.filters)

    def scope(self) -> Scope:
        filters = {f.key: f.value for f in self.filters if f.key != "name"}
        return Scope(self.name, filters, self.start, self.end, humans_only=not self.bots_included, goal=self.goal)

    # -- links -------------------------------------------------------------------------------------
    def params(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        if self.custom is not None:
            out += [("from", self.custom[0].isoformat()), ("to", self.custom[1].isoformat())]
        else:
            out.append(("period", self.timeframe))
        out += [(f.param, f.value) for f in self.filters]
        if self.goal is not None:
            out.append(("goal", self.goal.text))
        if self.funnel is not None:
            out.append(("funnel", self.funnel.name))
        if self.compare != DEFAULT_COMPARE:
            out.append(("compare", self.compare))
        if self.compare_from is not None:
            out.append(("compare_from", self.compare_from.isoformat()))
        if self.show:
            out.append(("show", self.show))
        return out

    def url(self, **extra: str) -> str:
        """This view as a relative URL (a query string), with ``extra`` parameters added."""
        return "?" + urlencode([*self.params(), *extra.items()])

    def with_timeframe(self, timeframe: str) -> str:
        return replace(self, timeframe=timeframe, custom=None, show=None).url()

    def with_filters(self, filters: Sequence[Filter]) -> str:
        """Filtered by ``filters`` too; each replaces what filtered its dimension before."""
        return self.filter_links(frozenset(f.dimension for f in filters))(filters)

    def filter_links(self, dimensions: frozenset[str]) -> Callable[[Sequence[Filter]], str]:
        """Makes :meth:`with_filters` links for filters on ``dimensions``, encoding the rest of
        the view once (a card makes hundreds of such links)."""
        kept = replace(self, filters=tuple(f for f in self.filters if f.dimension not in dimensions), show=None)
        base = urlencode(kept.params())
        return lambda filters: f"?{base}&{urlencode([(f.param, f.value) for f in filters])}"

    def unfiltered(self) -> str:
        return replace(self, filters=(), goal=None, show=None).url()

    def with_compare(self, compare: str) -> str:
        return replace(self, compare=compare, compare_from=None, show=None).url()

    def with_goal(self, goal: Step | None) -> str:
        return replace(self, goal=goal, show=None).url()

    def with_funnel(self, funnel: Funnel | None) -> str:
        return replace(self, funnel=funnel, show=None).url()

    def without(self, removed: Filter) -> str:
        return replace(self, filters=tuple(f for f in self.filters if f != removed), show=None).url()

    def toggled(self, flipped: Filter) -> str:
        """The same filter turned from "is" into "is not", or back."""
        filters = tuple(replace(f, negate=not f.negate) if f == flipped else f for f in self.filters)
        return replace(self, filters=filters, show=None).url()

    def showing(self, card: str | None) -> str:
        return replace(self, show=card).url()


def _one(params: Mapping[str, Sequence[str]], key: str) -> str | None:
    values = params.get(key)
    if not values:
        return None
    if len(values) > 1:
        raise BadRequest(f"'{key}' is given {len(values)} times; give it once.")
    return values[0]


def _day(text: str, key: str) -> date:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"'{key}' must be a date like 2026-11-01, got {text[:40]!r}.") from None
    if not 1970 <= day.year <= 9998:
        raise BadRequest(f"'{key}' must be a date between 1970 and 9998, got {text[:40]!r}.")
    return day


def _period(params: Mapping[str, Sequence[str]], now: datetime) -> tuple[str, datetime, tuple[date, date] | None]:
    period, first, last = _one(params, "period"), _one(params, "from"), _one(params, "to")
    if first is not None or last is not None or period == CUSTOM:
        if first is None or last is None:
            raise BadRequest("a custom period needs both 'from' and 'to' (dates like 2026-11-01).")
        if period not in (None, CUSTOM):
            raise BadRequest(f"give either 'period' or 'from' and 'to', not both (period={period[:40]!r}).")
        start_day, last_day = _day(first, "from"), _day(last, "to")
        if start_day > last_day:
            raise BadRequest(f"'from' ({start_day}) must not be after 'to' ({last_day}).")
        if (last_day - start_day).days >= MAX_CUSTOM_DAYS:
            raise BadRequest(f"a custom period can span at most {MAX_CUSTOM_DAYS} days.")
        return CUSTOM, datetime.combine(start_day, datetime.min.time()), (start_day, last_day)
    timeframe = DEFAULT_TIMEFRAME if period is None else period
    if timeframe not in TIMEFRAMES:
        raise BadRequest(f"unknown period {timeframe[:40]!r}; known: {', '.join(TIMEFRAMES)}, or 'from' and 'to'.")
    return timeframe, timeframe_start(timeframe, now), None


def timeframe_start(timeframe: str, now: datetime) -> datetime:
    """Where a timeframe begins: aligned on the chart's buckets, so that none is cut."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    day = hour.replace(hour=0)
    month = day.replace(day=1)
    if timeframe == "today":
        return day
    if timeframe == "24h":
        return hour - timedelta(hours=23)
    if timeframe == "7d":
        return day - timedelta(days=6)
    if timeframe == "30d":
        return day - timedelta(days=29)
    if timeframe == "12mo":
        months = month.year * 12 + month.month - 1 - 11
        return month.replace(year=months // 12, month=months % 12 + 1)
    if timeframe == "mtd":
        return month
    return month.replace(month=1)  # ytd


def _filters(params: Mapping[str, Sequence[str]], controls: Sequence[str]) -> tuple[Filter, ...]:
    out = []
    for key in params:
        if key in controls or key in VIEW_KEYS:
            continue
        dimension, negate = (key[:-1], True) if key.endswith("!") else (key, False)
        if is_property(dimension):
            try:
                property_path(dimension)
            except ValueError as exc:
                raise BadRequest(f"{exc}.") from None
            value = _one(params, key) or ""
            if len(value) > MAX_PATH:
                raise BadRequest(f"the value of filter '{key[:60]}' is longer than {MAX_PATH} characters.")
            out.append(Filter(dimension, value, negate))
            continue
        if dimension not in DIMENSIONS:
            raise BadRequest(
                f"unknown filter {key[:40]!r}; filter by one of {', '.join(sorted(DIMENSIONS))} "
                f"or prop.<label key> (add '!' to exclude, e.g. country!=CH)."
            )
        value = _one(params, key) or ""
        if len(value) > MAX_PATH:
            raise BadRequest(f"the value of filter '{key}' is longer than {MAX_PATH} characters.")
        try:
            DIMENSIONS[dimension](value)
        except ValueError as exc:
            raise BadRequest(f"{exc}.") from None
        out.append(Filter(dimension, value, negate))
    return tuple(out)


VIEW_KEYS = ("period", "from", "to", "goal", "funnel", "compare", "compare_from")  # a view's other parameters


def locked_filters(query: str) -> tuple[Filter, ...]:
    """The filters a shared link is locked to, from a query string such as
    ``country=CH&path!=/admin``; the period, goal and funnel stay the viewer's choice."""
    from urllib.parse import parse_qs

    try:
        params = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise BadRequest(f"filters must be a query string such as 'country=CH&path!=/admin', got {query[:60]!r}.") from None
    asked = [key for key in params if key in VIEW_KEYS]
    if asked:
        raise BadRequest(f"a shared link locks filters only, not {', '.join(map(repr, asked))}: the viewer picks those.")
    return _filters(params, ())


def parse_view(params: Mapping[str, Sequence[str]], now: datetime, *, controls: Sequence[str] = (),
               goals: Sequence[Step] = (), funnels: Sequence[Funnel] = ()) -> View:
    """The view a request's query parameters ask for. ``controls`` are the other parameters the
    endpoint accepts (e.g. ``format``); they are left for the caller to read. ``goals`` and
    ``funnels`` are the ones ``goal=`` and ``funnel=`` may name. Raises BadRequest."""
    timeframe, start, custom = _period(params, now)
    end = now + _JUST_AFTER
    if custom is not None:
        end = datetime.combine(custom[1] + timedelta(days=1), datetime.min.time())
    goal, funnel = _goal(params, tuple(goals)), _funnel(params, tuple(funnels))
    compare, compare_from = _compare(params)
    return View(timeframe, now, start, end, _filters(params, controls), custom, goal=goal, funnel=funnel,
                compare=compare, compare_from=compare_from)


def a_year_before(moment: datetime) -> datetime:
    """The same time a year earlier (29 February: the 28th)."""
    try:
        return moment.replace(year=moment.year - 1)
    except ValueError:
        return moment.replace(year=moment.year - 1, day=28)


def _compare(params: Mapping[str, Sequence[str]]) -> tuple[str, date | None]:
    compare, first = _one(params, "compare"), _one(params, "compare_from")
    if first is not None:
        if compare not in (None, "custom"):
            raise BadRequest(f"'compare_from' picks a custom comparison: give compare=custom or no 'compare' "
                             f"(compare={compare[:40]!r}).")
        return "custom", _day(first, "compare_from")
    compare = DEFAULT_COMPARE if compare is None else compare
    if compare == "custom":
        raise BadRequest("compare=custom needs 'compare_from', the first day of the period to compare with.")
    if compare not in COMPARE:
        raise BadRequest(f"unknown comparison {compare[:40]!r}; compare is one of {', '.join(COMPARE)}.")
    return compare, None


def _goal(params: Mapping[str, Sequence[str]], goals: tuple[Step, ...]) -> Step | None:
    text = _one(params, "goal")
    if text is None:
        return None
    if not goals:
        raise BadRequest("'goal' needs goals: none are defined (the goals option).")
    goal = find_goal(goals, text)
    if goal is None:
        known = ", ".join(g.text for g in goals)
        raise BadRequest(f"unknown goal {text[:40]!r}; the goals are: {known}.")
    return goal


def _funnel(params: Mapping[str, Sequence[str]], funnels: tuple[Funnel, ...]) -> Funnel | None:
    name = _one(params, "funnel")
    if name is None:
        return None
    if not funnels:
        raise BadRequest("'funnel' needs funnels: none are defined (the funnels option).")
    found = find_funnel(funnels, name)
    if found is None:
        known = ", ".join(f.name for f in funnels)
        raise BadRequest(f"unknown funnel {name[:40]!r}; the funnels are: {known}.")
    return found


def control(params: Mapping[str, Sequence[str]], key: str, allowed: Sequence[str]) -> str | None:
    """A control parameter's value, which must be one of ``allowed``; None when absent."""
    value = _one(params, key)
    if value is not None and value not in allowed:
        raise BadRequest(f"'{key}' must be one of {', '.join(allowed)}, got {value[:40]!r}.")
    return value


def limit(params: Mapping[str, Sequence[str]], default: int, maximum: int) -> int:
    """The ``limit`` parameter: rows per card in exports."""
    text = _one(params, "limit")
    if text is None:
        return default
    if not text.isdigit() or not 1 <= int(text) <= maximum:
        raise BadRequest(f"'limit' must be a whole number from 1 to {maximum}, got {text[:40]!r}.")
    return int(text)
