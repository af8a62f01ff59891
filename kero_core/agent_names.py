"""The names Kero may store for a browser, an OS or a device: only names from a known list, never
text a client chose.

ua-parser names many agents after what its regexes capture: its catch-all bot rule turns
``acme-internal-token-9f8e7d6c5b4a-bot/1.0`` into the family ``acme-internal-token-9f8e7d6c5b4a-bot``,
and generic Android devices are named after the model text of the User-Agent. So a name is kept
only when ua-parser could have produced it from a finite set: a rule's fixed replacement (``Opera
Mini``), or a capture whose every possible value the rule spells out (``(Firefox|Iceweasel)``,
``(?:Chrome|CriOS)`` ...). These sets are read from ua-parser's own rules when first needed, so
they follow its updates. Any other name is not stored (the caller records a generic one).

Versions are numbers only: ``major`` or ``major.minor`` of at most six digits each."""

from __future__ import annotations

import functools
import itertools
import re
from typing import Iterable, NamedTuple

try:  # Python 3.11+
    from re import _parser as sre_parse  # type: ignore[attr-defined]
    from re._constants import (  # type: ignore[attr-defined]
        ASSERT, ASSERT_NOT, AT, BRANCH, IN, LITERAL, MAX_REPEAT, MAXREPEAT, MIN_REPEAT, RANGE, SUBPATTERN,
    )
except ImportError:  # pragma: no cover  Python 3.10
    import sre_parse  # type: ignore[no-redef]
    from sre_constants import (  # type: ignore[no-redef]
        ASSERT, ASSERT_NOT, AT, BRANCH, IN, LITERAL, MAX_REPEAT, MAXREPEAT, MIN_REPEAT, RANGE, SUBPATTERN,
    )

from ua_parser import load_lazy_builtins

__all__ = ["KnownNames", "finite_matches", "known_names", "safe_version"]

_LIMIT = 256  # values of one capture past which it counts as free text
_GROUP = re.compile(r"\$(\d)")
_VERSION = re.compile(r"\d{1,6}(?:\.\d{1,6})?")


class KnownNames(NamedTuple):
    """Lowercased name -> its spelling, for each kind of name ua-parser gives."""

    browsers: dict[str, str]
    oses: dict[str, str]
    devices: dict[str, str]
    brands: dict[str, str]


def _values(items: list, limit: int) -> set[str] | None:  # type: ignore[type-arg]
    """Every string a parsed regex sequence matches, or None when they are unbounded or too many."""
    found = {""}
    for op, arg in items:
        if op == LITERAL:
            choices: set[str] | None = {chr(arg)}
        elif op == IN:
            choices = set()
            for kind, value in arg:
                if kind == LITERAL:
                    choices.add(chr(value))
                elif kind == RANGE and value[1] - value[0] < 10:
                    choices.update(chr(c) for c in range(value[0], value[1] + 1))
                else:  # a category (\d, \w), a negation: unbounded text
                    return None
        elif op == BRANCH:
            choices = set()
            for branch in arg[1]:
                more = _values(list(branch), limit)
                if more is None:
                    return None
                choices |= more
        elif op == SUBPATTERN:
            choices = _values(list(arg[-1]), limit)
        elif op in (MAX_REPEAT, MIN_REPEAT):
            low, high, item = arg
            if high == MAXREPEAT or high > 3:
                return None
            one = _values(list(item), limit)
            if one is None:
                return None
            choices = {"".join(p) for n in range(low, high + 1) for p in itertools.product(sorted(one), repeat=n)}
        elif op in (AT, ASSERT, ASSERT_NOT):  # anchors and lookarounds match no text
            choices = {""}
        else:  # any character, a back-reference...
            return None
        if choices is None:
            return None
        found = {a + b for a in found for b in choices}
        if len(found) > limit:
            return None
    return found


def finite_matches(regex: str, limit: int = _LIMIT) -> set[str] | None:
    """Every string ``regex`` matches when they are at most ``limit`` (``Ahrefs(Bot|SiteAudit)``:
    two), else None."""
    try:
        return _values(list(sre_parse.parse(regex)), limit)
    except (re.error, OverflowError, RecursionError):
        return None


def _group(items: list, number: int) -> list | None:  # type: ignore[type-arg]
    """The parsed contents of capture group ``number``."""
    for op, arg in items:
        if op == SUBPATTERN:
            if arg[0] == number:
                return list(arg[-1])
            inner = _group(list(arg[-1]), number)
        elif op == BRANCH:
            inner = next((g for b in arg[1] if (g := _group(list(b), number)) is not None), None)
        elif op in (MAX_REPEAT, MIN_REPEAT):
            inner = _group(list(arg[2]), number)
        else:
            inner = None
        if inner is not None:
            return inner
    return None


def _names(regex: str, replacement: str) -> set[str]:
    """The values ``replacement`` ("$1", "Samsung $1", "Opera") can take for ``regex`` when they
    are finitely many; empty when one of its captures is free text."""
    numbers = sorted({int(n) for n in _GROUP.findall(replacement)})
    if not numbers:
        return {replacement.strip()} - {""}
    try:
        parsed = list(sre_parse.parse(regex))
    except re.error:
        return set()
    options = []
    for number in numbers:
        contents = _group(parsed, number)
        values = _values(contents, _LIMIT) if contents is not None else None
        if values is None:
            return set()
        options.append(sorted(values))
    names = set()
    for chosen in itertools.product(*options):
        name = replacement
        for number, value in zip(numbers, chosen):
            name = name.replace(f"${number}", value)
        names.add(name.strip())
    return names - {""}


def _spellings(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    spelled: dict[str, str] = {}
    for regex, replacement in pairs:
        for name in _names(regex, replacement):
            spelled.setdefault(name.lower(), name)
    return spelled


@functools.cache
def known_names() -> KnownNames:
    """The names ua-parser's rules can give from a finite set, read once per process (~0.2 s)."""
    agents, oses, devices = load_lazy_builtins()
    return KnownNames(
        _spellings((m.regex, m.family) for m in agents),
        _spellings((m.regex, m.family) for m in oses),
        _spellings((m.regex, m.family) for m in devices),
        _spellings((m.regex, m.brand) for m in devices if m.brand),
    )


def safe_version(major: str | None, minor: str | None = None) -> str:
    """``major`` or ``major.minor`` when they are numbers of at most six digits, else ''."""
    if not major:
        return ""
    version = f"{major}.{minor}" if minor else major
    return version if _VERSION.fullmatch(version) else ""
