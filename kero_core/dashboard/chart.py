"""The time chart's geometry, computed on the server and drawn as inline SVG by the template.

Bars are the current period (page views behind, visitors in front: visitors never exceed page
views in a bucket); dashed lines are the same buckets one period earlier. Each bucket has an
invisible full-height target whose ``<title>`` is the hover text, so the values show without
any script."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from kero_core.dashboard.labels import integer
from kero_core.queries import Bucket

WIDTH, HEIGHT = 1000, 200  # the SVG's own units; it is stretched to the page's width
MAX_X_LABELS = 8


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    views_y: float
    views_height: float
    visitors_y: float
    visitors_height: float
    title: str


@dataclass(frozen=True)
class XLabel:
    text: str  # '' for buckets without a label
    major: bool  # kept on narrow screens, where every other label is hidden


@dataclass(frozen=True)
class Chart:
    """The plot is drawn in SVG stretched to any width (``preserveAspectRatio="none"``); its axis
    labels are HTML beside it, so text never stretches. The y axis has three gridlines: 0, half
    the top and the top, so its labels sit at fixed places."""

    width: int
    height: int
    bars: tuple[Bar, ...]
    previous_views: str  # polyline points
    previous_visitors: str
    top: int  # the y axis' maximum
    x_labels: tuple[XLabel, ...]  # one per bucket
    summary: str  # for screen readers


def nice_ceiling(value: float) -> int:
    """The smallest of 1, 2, 4, 6, 8 x 10^k (at least 2) not below ``value``: an axis maximum
    whose half is a whole number too."""
    if value <= 2:
        return 2
    power = 10 ** math.floor(math.log10(value))
    return next(int(step * power) for step in (1, 2, 4, 6, 8, 10) if step * power >= value)


def bucket_label(start: datetime, unit: str, *, long: bool = False) -> str:
    if unit == "hour":
        return f"{start:%a %d %b, %H:00}" if long else f"{start:%H:00}"
    if unit == "day":
        return f"{start:%a %d %b %Y}" if long else f"{start:%d %b}"
    if unit == "week":
        return f"Week of {start:%d %b %Y}" if long else f"{start:%d %b}"
    return f"{start:%B %Y}" if long else f"{start:%b %Y}"


def _count(number: int, what: str) -> str:
    return f"{integer(number)} {what}" + ("" if number == 1 else "s")


def _title(bucket: Bucket, unit: str) -> str:
    return (
        f"{bucket_label(bucket.start, unit, long=True)} UTC: {_count(bucket.visitors, 'visitor')}, "
        f"{_count(bucket.views, 'page view')} (period before: {_count(bucket.previous_visitors, 'visitor')}, "
        f"{_count(bucket.previous_views, 'page view')})"
    )


def build(unit: str, buckets: list[Bucket]) -> Chart:
    top = nice_ceiling(max([1] + [max(b.views, b.previous_views) for b in buckets]))
    slot = WIDTH / max(1, len(buckets))
    gap = slot * 0.18

    def y(count: float) -> float:
        return round(HEIGHT * (1 - count / top), 2)

    bars, views_line, visitors_line = [], [], []
    for i, bucket in enumerate(buckets):
        x = i * slot
        center = round(x + slot / 2, 2)
        bars.append(Bar(
            round(x + gap / 2, 2), round(slot - gap, 2),
            y(bucket.views), round(HEIGHT - y(bucket.views), 2),
            y(bucket.visitors), round(HEIGHT - y(bucket.visitors), 2),
            _title(bucket, unit),
        ))
        views_line.append(f"{center},{y(bucket.previous_views)}")
        visitors_line.append(f"{center},{y(bucket.previous_visitors)}")
    step = max(1, math.ceil(len(buckets) / MAX_X_LABELS))
    x_labels = tuple(
        XLabel(bucket_label(b.start, unit), i // step % 2 == 0) if i % step == 0 else XLabel("", False)
        for i, b in enumerate(buckets)
    )
    summary = f"Visitors and page views per {unit} (UTC); dashed lines: the period before"
    return Chart(WIDTH, HEIGHT, tuple(bars), " ".join(views_line), " ".join(visitors_line), top, x_labels, summary)
