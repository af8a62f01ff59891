"""The view-models of goals (the Goals card) and funnels (the funnel view and its SVG), built
from :mod:`kero_core.goal_queries`' counts. Templates and exports only read what is built here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from kero_core.dashboard import labels
from kero_core.dashboard.view import View
from kero_core.goal_queries import FunnelStep, GoalCounts
from kero_core.goals import Funnel, Step

# The funnel's SVG, in its own units (stretched to the page's width like the chart).
WIDTH, HEIGHT = 1000, 220


@dataclass(frozen=True)
class GoalView:
    goal: Step
    visitors: int
    conversions: int
    rate: float | None  # converting visitors / visitors of the view (0 to 1)
    previous_rate: float | None
    previous_visitors: int
    previous_conversions: int
    rate_text: str
    previous_rate_text: str
    change: object  # model.Change
    href: str  # the view filtered by this goal
    active: bool

    @property
    def kind_text(self) -> str:
        return "Page" if self.goal.kind == "page" else "Event"


def _rate(part: int, whole: int) -> float | None:
    return min(1.0, part / whole) if whole else None


def goal_views(view: View, goals: Sequence[Step], counts: Sequence[tuple[GoalCounts, GoalCounts]],
               visitors: int, previous_visitors: int) -> tuple[GoalView, ...]:
    from kero_core.dashboard.model import change  # model imports this module

    out = []
    for goal, (current, previous) in zip(goals, counts):
        rate, before = _rate(current.visitors, visitors), _rate(previous.visitors, previous_visitors)
        out.append(GoalView(
            goal, current.visitors, current.conversions, rate, before, previous.visitors, previous.conversions,
            labels.percent(rate), labels.percent(before), change(rate, before, points=True),
            view.with_goal(None if view.goal == goal else goal), view.goal == goal,
        ))
    return tuple(out)


@dataclass(frozen=True)
class FunnelStepView:
    number: int  # 1-based
    label: str  # the step as defined: "/pricing" or "signup"
    kind: str  # "page" or "event"
    visitors: int
    from_previous: float | None  # share of the previous step's visitors (None for the first)
    dropped: int  # visitors of the previous step who did not reach this one
    from_first: float | None  # share of the first step's visitors
    x: float  # the bar's geometry in the SVG
    width: float
    y: float
    height: float
    title: str  # the bar's hover text

    @property
    def from_previous_text(self) -> str:
        return labels.percent(self.from_previous) if self.from_previous is not None else "–"

    @property
    def from_first_text(self) -> str:
        return labels.percent(self.from_first)


@dataclass(frozen=True)
class FunnelView:
    funnel: Funnel
    steps: tuple[FunnelStepView, ...]
    rate: float | None  # last step's visitors / first step's
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def rate_text(self) -> str:
        return labels.percent(self.rate)

    @property
    def summary(self) -> str:
        parts = "; ".join(f"step {s.number} {s.label}: {labels.integer(s.visitors)} visitors" for s in self.steps)
        return f"Funnel {self.funnel.name}: {parts}"


def funnel_view(funnel: Funnel, counts: Sequence[FunnelStep]) -> FunnelView:
    first = counts[0].visitors if counts else 0
    slot = WIDTH / len(counts)
    gap = slot * 0.2
    out = []
    for i, (step, c) in enumerate(zip(funnel.steps, counts)):
        before = counts[i - 1].visitors if i else None
        share = _rate(c.visitors, first)
        height = round(HEIGHT * (share or 0), 2)
        from_previous = _rate(c.visitors, before) if before is not None else None
        title = f"Step {i + 1}, {step.text}: {labels.integer(c.visitors)} visitors ({labels.percent(share)} of step 1)"
        out.append(FunnelStepView(
            i + 1, step.text, step.kind, c.visitors, from_previous,
            (before - c.visitors) if before is not None else 0, share,
            round(i * slot + gap / 2, 2), round(slot - gap, 2), round(HEIGHT - height, 2), height, title,
        ))
    return FunnelView(funnel, tuple(out), _rate(counts[-1].visitors, first) if counts else None)


@dataclass(frozen=True)
class FunnelLink:
    name: str
    steps: str  # "/pricing → /signup → signup"
    href: str
    active: bool


def funnel_links(view: View, funnels: Sequence[Funnel]) -> tuple[FunnelLink, ...]:
    return tuple(FunnelLink(f.name, " → ".join(s.text for s in f.steps),
                            view.with_funnel(None if view.funnel == f else f), view.funnel == f) for f in funnels)
