"""User-Agent client hints: what Chromium browsers send besides their frozen User-Agent.

Since Chrome 110 the User-Agent of Chromium browsers is reduced: the OS version is frozen
(``Windows NT 10.0`` for Windows 10 and 11, ``Android 10; K`` on every Android) and browsers built
on Chromium (Brave, for one) send Chrome's. On secure pages they send three low-entropy hints with
every request: ``Sec-CH-UA`` (brands and major versions), ``Sec-CH-UA-Mobile`` (``?1`` for a phone's
mobile layout, ``?0`` otherwise, an Android tablet included) and ``Sec-CH-UA-Platform``; a site that
asks for it with ``Accept-CH`` also gets ``Sec-CH-UA-Platform-Version``. Kero uses them where they
say more than the User-Agent, and keeps only the same names and versions as from a User-Agent.

Safari and Firefox send none, so iPadOS Safari, which by default sends the User-Agent of a Mac,
stays a desktop: no header of its requests tells it from a Mac (only scripts can, from the touch
screen), and Kero runs no script in the visitor's browser.

The capture (request thread) joins the raw headers into one bounded string, see :func:`joined`;
the writer parses it here, once per distinct (User-Agent, hints) pair."""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from kero_core.enrich import Agent

SEPARATOR = "\n"  # never inside a header value
MAX_BRANDS = 256  # Sec-CH-UA is about 80 characters; a few brands more fit
MAX_HINT = 32  # the platform, the platform version

_BRAND = re.compile(r'"([^"]{1,64})"\s*;\s*v\s*=\s*"(\d{1,6})')
_GREASE = re.compile(r"not.a.brand", re.IGNORECASE)  # "Not_A Brand", "Not/A)Brand", " Not;A Brand"...
# Sec-CH-UA-Platform values, as ua-parser names the same systems.
_PLATFORMS = {"windows": "Windows", "macos": "Mac OS X", "android": "Android", "linux": "Linux",
              "chrome os": "Chrome OS", "chromium os": "Chrome OS", "ios": "iOS", "fuchsia": "Fuchsia"}
# Brands, as ua-parser names the same browsers; None: the User-Agent names it as well already.
_BRANDS: dict[str, str | None] = {"google chrome": None, "microsoft edge": "Edge", "opera": "Opera",
                                  "brave": "Brave", "yandex": "Yandex Browser", "headlesschrome": "HeadlessChrome"}
# Browsers whose User-Agent may hide a Chromium browser of another brand.
_CHROMIUM_FAMILIES = {"", "Chrome", "Chrome Mobile", "Chromium", "Chrome Mobile WebView"}


class Hints(NamedTuple):
    """The parsed hints of one request ("" where a hint was not sent)."""

    platform: str  # ua-parser's name of the OS, e.g. "Mac OS X"; "" when unknown
    mobile: str  # "?1", "?0" or ""
    platform_version: str  # e.g. "15.0.0"
    brand: str  # the browser's own brand (not Chromium, not a GREASE brand), e.g. "Brave"
    brand_version: str  # its major version


def joined(platform: str, mobile: str, platform_version: str, brands: str) -> str:
    """The raw hints as the capture keeps them: one string, each part cut to its bound."""
    return SEPARATOR.join((platform[:MAX_HINT], mobile[:4], platform_version[:MAX_HINT], brands[:MAX_BRANDS]))


def parse(raw: str) -> Hints:
    """The hints of a string made by :func:`joined`; anything malformed is left out."""
    parts = raw.split(SEPARATOR)
    if len(parts) != 4:
        return Hints("", "", "", "", "")
    platform, mobile, version, brands = (p.strip() for p in parts)
    brand, brand_version = _brand(brands)
    return Hints(
        _PLATFORMS.get(platform.strip('"').lower(), ""),
        mobile if mobile in ("?0", "?1") else "",
        version.strip('"') if re.fullmatch(r'"?\d{1,5}(\.\d{1,5}){0,3}"?', version) else "",
        brand,
        brand_version,
    )


def _brand(brands: str) -> tuple[str, str]:
    for name, version in _BRAND.findall(brands):
        if name != "Chromium" and not _GREASE.search(name):
            return name.strip(), version
    return "", ""


def _os_version(platform: str, version: str) -> str:
    """Sec-CH-UA-Platform-Version as the User-Agent's OS version would read: Windows 11 reports
    13 and up (10 reports 1 to 10), other systems their own numbers (``14.5.0`` is 14.5)."""
    major, _, rest = version.partition(".")
    if platform == "Windows":
        return "11" if int(major) >= 13 else "10" if int(major) >= 1 else ""
    minor = rest.partition(".")[0]
    return major if minor in ("", "0") else f"{major}.{minor}"


def apply(agent: "Agent", raw: str) -> "Agent":
    """``agent`` (parsed from the User-Agent) corrected by the raw hints ``raw``."""
    hints = parse(raw)
    changes: dict[str, object] = {}
    if hints.brand and agent.browser in _CHROMIUM_FAMILIES:
        named = _BRANDS.get(hints.brand.lower(), hints.brand)
        version = hints.brand_version + ".0"  # as ua-parser reads Chromium's frozen "131.0.0.0"
        if named == "HeadlessChrome":  # a browser driven by a program, whatever its User-Agent says
            changes.update(browser=named, browser_version=version, is_bot=True, form_factor="bot")
        elif named is not None and not agent.browser.startswith(named):
            changes.update(browser=named[:64], browser_version=version)
    if agent.device == "K":  # the reduced User-Agent's stand-in for the Android model
        changes["device"] = ""
    if hints.platform:
        if hints.platform != agent.os:
            changes.update(os=hints.platform, os_version="")
        if hints.platform_version:
            changes["os_version"] = _os_version(hints.platform, hints.platform_version)
    is_bot = changes.get("is_bot", agent.is_bot)
    if not is_bot and hints.platform == "Android" and hints.mobile:
        # Chrome on an Android tablet sends ?0, on a phone ?1, whatever its User-Agent says
        changes["form_factor"] = "mobile" if hints.mobile == "?1" else "tablet"
    return dataclasses.replace(agent, **changes) if changes else agent
