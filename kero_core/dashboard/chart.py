"""The time chart's geometry, computed on the server and drawn as inline SVG by the template.

Bars are the current period (page views behind, visitors in front: visitors never exceed page
views in a bucket); dashed lines are the same buckets one period earlier. Each bucket has an
invisible full-height target whose ``<title>`` is the hover text, so the values show without
any script. Annotations are markers over the plot (see :class:`Marker`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Sequence

from kero_core.dashboard.labels import integer
from kero_core.notes import Annotation
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
class Marker:
    """An annotation on the chart: a line at ``x`` percent of the plot's width, drawn in an
    overlay that is not stretched (its text keeps its shape), focusable, its text shown on
    hover and focus (right-aligned in the right half, so it stays inside the plot)."""

    x: float  # percent of the width
    text: str
    title: str  # the time and the text
    end: bool  # text anchored at its end


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
    previous_views: str  # polyline points ("" without a comparison)
    previous_visitors: str
    top: int  # the y axis' maximum
    x_labels: tuple[XLabel, ...]  # one per bucket
    summary: str  # for screen readers
    markers: tuple[Marker, ...] = ()


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
    if unit == "year":
        return f"{start:%Y}"
    return f"{start:%B %Y}" if long else f"{start:%b %Y}"


def _count(number: int, what: str) -> str:
    return f"{integer(number)} {what}" + ("" if number == 1 else "s")


def _title(bucket: Bucket, unit: str, comparison: str) -> str:
    text = f"{bucket_label(bucket.start, unit, long=True)} UTC: {_count(bucket.visitors, 'visitor')}, {_count(bucket.views, 'page view')}"
    if not comparison:
        return text
    return (f"{text} ({comparison.lower()}: {_count(bucket.previous_visitors, 'visitor')}, "
            f"{_count(bucket.previous_views, 'page view')})")


def _position(moment: datetime, buckets: Sequence[Bucket]) -> float | None:
    """Where ``moment`` falls, in bucket widths from the left (None: outside the buckets)."""
    if not buckets or moment < buckets[0].start:
        return None
    for i, bucket in enumerate(buckets):
        following = buckets[i + 1].start if i + 1 < len(buckets) else None
        if following is None or moment < following:
            if following is None:  # the last bucket is as long as the one before it, if any
                following = bucket.start + (bucket.start - buckets[i - 1].start) if i else None
            if following is None:
                return i + 0.5
            return i + min(1.0, (moment - bucket.start) / (following - bucket.start))
    return None


def markers(annotations: Sequence[Annotation], buckets: Sequence[Bucket], unit: str) -> tuple[Marker, ...]:
    out = []
    for note in annotations:
        position = _position(note.at, buckets)
        if position is None:
            continue
        x = round(100 * position / len(buckets), 3)
        when = f"{note.at:%d %b %Y, %H:%M}" if unit in ("hour", "day") else f"{note.at:%d %b %Y}"
        out.append(Marker(x, note.text, f"{when} UTC: {note.text}", x > 50))
    return tuple(out)


def build(unit: str, buckets: list[Bucket], annotations: Sequence[Annotation] = (), comparison: str = "Period before") -> Chart:
    """The chart of ``buckets``; ``comparison`` names the period of the dashed lines ("": none)."""
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
            _title(bucket, unit, comparison),
        ))
        views_line.append(f"{center},{y(bucket.previous_views)}")
        visitors_line.append(f"{center},{y(bucket.previous_visitors)}")
    step = max(1, math.ceil(len(buckets) / MAX_X_LABELS))
    x_labels = tuple(
        XLabel(bucket_label(b.start, unit), i // step % 2 == 0) if i % step == 0 else XLabel("", False)
        for i, b in enumerate(buckets)
    )
    summary = f"Visitors and page views per {unit} (UTC)"
    if comparison:
        summary += f"; dashed lines: {comparison.lower()}"
    else:
        views_line, visitors_line = [], []
    if annotations:
        summary += f"; {len(annotations)} annotation{'s' if len(annotations) != 1 else ''} marked"
    return Chart(WIDTH, HEIGHT, tuple(bars), " ".join(views_line), " ".join(visitors_line), top, x_labels, summary,
                 markers(annotations, buckets, unit))
