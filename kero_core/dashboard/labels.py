"""How stored values read on the dashboard: countries with their flag, form factors with Kero's
emoji, numbers and durations. Labels are plain text; templates escape them."""

from __future__ import annotations

from kero_core.dashboard.countries import COUNTRIES

FORM_FACTORS = {"desktop": "🖥️ Desktop", "mobile": "📱 Mobile", "tablet": "📱 Tablet", "bot": "🤖 Bot"}
UNKNOWN = "Unknown"
DIRECT = "Direct / none"


def flag(code: str) -> str:
    """The flag emoji of an ISO 3166-1 alpha-2 code (two regional indicator letters), or ''."""
    if len(code) != 2 or not code.isascii() or not code.isalpha():
        return ""
    return "".join(chr(0x1F1E6 + ord(letter) - ord("A")) for letter in code.upper())


def country(code: str) -> str:
    if not code:
        return UNKNOWN
    return COUNTRIES.get(code.upper(), code)


def form_factor(value: str) -> str:
    return FORM_FACTORS.get(value, value or UNKNOWN)


def integer(value: float) -> str:
    """1234567 -> '1,234,567'. The browser's script localises it."""
    return f"{round(value):,}"


COMPACT_FROM = 1_000_000  # key figures from here on are shortened: 2,823,298 overflows its tile


def compact(value: float) -> str:
    """1234567 -> '1.23M': three significant digits, as the browser's compact notation writes
    them; below COMPACT_FROM the same as :func:`integer`."""
    number = round(value)
    if abs(number) < COMPACT_FROM:
        return integer(number)
    for size, suffix in ((10**6, "M"), (10**9, "B"), (10**12, "T")):
        shown = float(f"{number / size:.3g}")  # 999.95M rounds to 1000M: then it is 1B
        if abs(shown) < 1000 or suffix == "T":
            break
    return f"{shown:g}{suffix}"


def decimal(value: float | None) -> str:
    return "–" if value is None else f"{value:,.1f}"


def percent(share: float | None) -> str:
    """A share in [0, 1] as a percentage with one decimal below 10%."""
    if share is None:
        return "–"
    pct = share * 100
    return f"{pct:.1f}%" if 0 < pct < 10 else f"{pct:.0f}%"


def seconds(value: float | None) -> str:
    """A visit's length: '42s', '3m 05s', '1h 02m'."""
    if value is None:
        return "–"
    total = round(value)
    if total < 60:
        return f"{total}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def milliseconds(value: float | None) -> str:
    if value is None:
        return "–"
    if value < 10:
        return f"{value:.1f} ms"
    if value < 10_000:
        return f"{value:,.0f} ms"
    return f"{value / 1000:,.1f} s"
