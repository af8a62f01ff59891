"""Goals and funnels as the options define them: what each one matches, validated once at
start-up. No SQL here: :mod:`kero_core.goal_queries` turns them into bound conditions.

A step (of a goal or a funnel) is either a page path starting with ``/``, where ``*`` matches
any characters (``/docs/*``), or the name of a custom event (``signup``), matched exactly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from kero_core.config import KeroConfigError

MAX_STEP = 256  # characters of one path pattern or event name
MAX_GOALS = 50
MAX_FUNNELS = 20
MAX_FUNNEL_STEPS = 8
MAX_FUNNEL_NAME = 64


@dataclass(frozen=True)
class Step:
    """One thing a visitor can do: view a page (``kind == "page"``) or send a custom event."""

    text: str  # as written in the option: "/docs/*" or "signup"
    kind: str  # "page" or "event"

    @property
    def like(self) -> str | None:
        """The SQL LIKE pattern of a wildcard path (``\\`` escapes), else None (exact match)."""
        if self.kind != "page" or "*" not in self.text:
            return None
        escaped = self.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return escaped.replace("*", "%")


@dataclass(frozen=True)
class Funnel:
    name: str
    steps: tuple[Step, ...]


def parse_step(option: str, value: Any) -> Step:
    """A goal or a funnel step; a bad one raises KeroConfigError naming ``option``."""
    if not isinstance(value, str) or not value.strip():
        raise KeroConfigError(f"{option}: each goal or step must be a page path like '/thanks' or an event name like 'signup', got {value!r}.")
    if len(value) > MAX_STEP:
        raise KeroConfigError(f"{option}: {value[:40]!r}... is longer than {MAX_STEP} characters.")
    if value != value.strip() or any(ord(c) < 32 for c in value):
        raise KeroConfigError(f"{option}: {value[:40]!r} has surrounding spaces or control characters.")
    if value.startswith("/"):
        return Step(value, "page")
    if "*" in value:
        raise KeroConfigError(
            f"{option}: {value[:40]!r} has a '*' but is not a path; wildcards work in page paths only "
            "(they start with '/', e.g. '/docs/*'); an event name is matched exactly."
        )
    return Step(value, "event")


def parse_goals(value: Any) -> tuple[Step, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise KeroConfigError(f"goals must be a list such as ['signup', '/thanks', '/docs/*'], got {value!r}.")
    if len(value) > MAX_GOALS:
        raise KeroConfigError(f"goals: at most {MAX_GOALS} goals, got {len(value)}.")
    goals = tuple(parse_step("goals", v) for v in value)
    duplicates = sorted({g.text for g in goals if [h.text for h in goals].count(g.text) > 1})
    if duplicates:
        raise KeroConfigError(f"goals: {duplicates[0]!r} is listed twice.")
    return goals


def parse_funnels(value: Any) -> tuple[Funnel, ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise KeroConfigError(f"funnels must be a dict such as {{'Checkout': ['/pricing', '/signup', 'signup']}}, got {value!r}.")
    if len(value) > MAX_FUNNELS:
        raise KeroConfigError(f"funnels: at most {MAX_FUNNELS} funnels, got {len(value)}.")
    out = []
    for name, steps in value.items():
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_FUNNEL_NAME:
            raise KeroConfigError(f"funnels: a funnel's name must be a text of 1 to {MAX_FUNNEL_NAME} characters, got {name!r}.")
        if isinstance(steps, str) or not isinstance(steps, (list, tuple)) or not 2 <= len(steps) <= MAX_FUNNEL_STEPS:
            raise KeroConfigError(
                f"funnels: {name!r} must be a list of 2 to {MAX_FUNNEL_STEPS} steps (paths or event names), got {steps!r}."
            )
        out.append(Funnel(name, tuple(parse_step(f"funnels[{name!r}]", s) for s in steps)))
    return tuple(out)


def find_goal(goals: tuple[Step, ...], text: str) -> Step | None:
    return next((g for g in goals if g.text == text), None)


def find_funnel(funnels: tuple[Funnel, ...], name: str) -> Funnel | None:
    return next((f for f in funnels if f.name == name), None)
