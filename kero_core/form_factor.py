"""Phone, tablet or desktop, from a User-Agent and what ua-parser found in it.

The User-Agent's own words decide first ("iPad", "Tablet", "Mobile"), but Android makers do not
follow Google's guidance (phones say "Mobile", tablets do not) consistently: many tablets say
"Mobile", and old phones omit it. The device model ua-parser extracts then decides: makers name
their tablets in patterns (Samsung SM-T..., Lenovo TB-..., Huawei AGS-..., Amazon KF..., Digma's
size digit, Teclast's _EEA builds). Only a browser's User-Agent follows the "Mobile" convention:
an app's (Dalvik, a cut WebView string) without a tablet model counts as a phone.
Measured on matomo device-detector's labelled samples: tests/core/test_agent_corpora.py.

iPadOS Safari sends a Mac's User-Agent: it counts as a desktop (see :mod:`kero_core.client_hints`)."""

from __future__ import annotations

import re

from ua_parser import Device

# Models that are tablets whatever the User-Agent says. Matched at the start of the model or of
# ua-parser's device family (which carries the brand: "samsung sm-t835"), in lower case.
_TABLET_MODELS = re.compile(
    r"""(?x)
    (?:^|\s|_)(?:
        sm-[txp]\d | gt-p\d | gt-n(?:80|51)\d | shw-m(?:180|380|480|500) | sch-i(?:800|815|905|925)
      | tb[-\d] | yt[-\d] | lenovo\s?(?:tab|tb|yt|a\d{4}-[fh]|b\d{4}|s\d{4}) | ideatab | a\d{4}-[fh]\b
      | (?:ags|bah|btv|kob|jdn|cpn|scm|dby|agr|krj|bg2|hey|mrx|bzw|bzi|bzt|bza|vrd|cmr|jms|got|fdr|ple|bdf
         |mon|tgr|eln|ndl|gem|bgo)\d?-
      | mediapad | matepad | m2-80\d | t1-(?:701|a21|821) |
        kf[a-z]{2,} | kindle | nexus\s(?:7|9|10)\b | xoom | transformer | tf\d{3} | me\d{3}[a-z]{0,2}\b
      | p0\d\d\b | k0\d[a-z0-9]\b | a[13]-\d{3} | b[13]-\d{3} | iconia
      | sgp\d{3} | lg-?v(?:4|5|7)\d\d | archos\b.*?\b[a-z]?(?:[7-9]\d|1\d\d)[a-z]?\b | surface | mz6\d\d
      | bq(?:ru)?-?(?:7|8|9|10)\d{2,3} | pmt\d | pmp\d | mid\d | mid[-_\s] | tab(?:let)?(?:\b|\d|_) | \w*pad(?:\b|\d|_)
      | nook | bnrv | bntv | surftab | lifetab | ktab | smarttab | yoga\s?tab | kids
      | tz\d{3} | \d{5}rp\w{2,4}\b
      | [a-z]\w*_(?:eea|row)\b | [89]\d{3}[a-z]_(?:eea|ru)\b
      | [a-z][cst][1789]\d{3}[a-z]{2}\b  # Digma: the first digit is the screen size (1 = 10 inches and up)
      | iplay | mfc\d | rmd[-_]\d | an\d+\w*g2 | visionbook[\s_]?\d+q | numy | eagle[\s_]?\d
    )""",
)
# The User-Agent's own word for a tablet ("Tablet", Yandex's apps' "/apad"), but not the
# "Tablet PC" token Windows adds on any touch-capable desktop.
_TABLET_WORDS = re.compile(r"tablet(?! pc)|/apad\b")
# A browser's User-Agent (Chrome, the Android browser, Samsung Internet: "Safari/"): only these
# follow Google's "Mobile" convention.
_BROWSER = re.compile(r"safari/")
# The model as an Android User-Agent names it ("Android 8.1.0; BQ-7036L Build/..."), for the
# User-Agents ua-parser only calls "Generic Smartphone".
_ANDROID_MODEL = re.compile(r"android[\d. ]*;(?: [a-z]{2}[-_][a-z]{2,4};)? ([^;)]+?)(?: build/|;|\)| applewebkit)")
# Words of phones' User-Agents besides "Mobile": feature phones (J2ME, WAP), Opera Mini, UC
# Browser's own format for iPhones, BlackBerry, Symbian, Windows Phone's Lumia.
_PHONE_WORDS = re.compile(r"mobi|phone|midp|cldc|up\.browser|wap|series ?[46]0|symbian|blackberry|opera mini"
                          r"|dv\(iph|lumia|nokia|palm ?os")
# Laptops and all-in-ones running Android (Chromebooks' Android apps, Windows machines with an
# Android system installed): desktops, though their User-Agent is an Android tablet's.
_DESKTOP_MODELS = re.compile(
    r"chromebook|inspiron|vostro|latitude|travelmate|aspire|satellite|thinkpad|ideapad|elitebook|probook"
    r"|pavilion|\baio\b|all-in-one|2in1|macbook|imac|macmini")
# Android models that are phones though their User-Agent omits "Mobile".
_PHONE_MODELS = re.compile(
    r"""(?x)
    (?:^|\s|_)(?:
        sm-[agjmnsefc]\d | gt-[iscbe]\d | sgh- | sch-[ir](?!800|815|905|925) | shv- | sph-
      | lg-?[dhkmp]\d | lm-[gkqvx] | moto | xt\d{3} | htc | nexus\s(?:4|5|6|s|one)\b | pixel\s?\d
      | redmi | mi\s?\d | poco | oneplus | cph\d | rmx\d | vivo | iphone
    )""",
)


def form_factor(lowered: str, os_family: str, device: Device | None) -> str:
    """"mobile", "tablet" or "desktop" for a User-Agent that is not a bot (``lowered``: it in
    lower case; ``os_family`` and ``device``: what ua-parser found)."""
    family = device.family if device else ""
    # Matched in lower case: case-insensitive regexes cost Python's re about five times more.
    model = f"{family} {(device.model or '') if device else ''}".strip().lower()
    if family == "Generic Smartphone" and (found := _ANDROID_MODEL.search(lowered)):
        family, model = "", found.group(1)
    if family in ("iPad", "Kindle") or _TABLET_WORDS.search(lowered):
        return "tablet"
    if model and "mobi" not in lowered and _DESKTOP_MODELS.search(model):
        return "desktop"
    if os_family == "iOS" or family in ("iPhone", "Generic Smartphone", "Generic Feature Phone"):
        return "mobile"
    if model and os_family != "Windows" and _TABLET_MODELS.search(model):
        return "tablet"
    if _PHONE_WORDS.search(lowered):
        return "mobile"
    if os_family == "Android":
        if model and _PHONE_MODELS.search(model):
            return "mobile"
        # Only a browser's own User-Agent follows the "Mobile Safari" convention: apps (Dalvik,
        # cut WebView strings) never say "Mobile", and most of them run on phones.
        return "tablet" if _BROWSER.search(lowered) else "mobile"
    return "desktop"
