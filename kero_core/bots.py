"""Is a User-Agent automated? Kero's bot rules, each one well-delimited, all matching words, not substrings.

A request is a bot when its (lowercased, cleaned) User-Agent shows any of:

1. an entry of ``ignored_agents`` at the start of a word and not followed by a letter, digit, space,
   ``_`` or ``-``: ``curl`` marks ``curl/8.5`` but not ``ocurl`` nor ``curly``, ``ruby`` marks Ruby's
   ``Ruby`` but not an ``HTC Ruby Build``;
2. a word ending in a crawler's generic name (``Googlebot``, ``FooCrawler``, ``my-spider``), except
   phone brands that end so (``Cubot``): ``OrangeBotswana`` and ``htc_botdugls`` are words that do not;
3. a URL or an e-mail address: browsers never carry one, crawlers name their home page or owner;
4. a pattern of the public crawler list ``crawler-user-agents`` (``data/crawler_patterns.txt``, MIT),
   its plain names at the start of a word.

:func:`bot_needle` returns the text that matched; :meth:`BotRules.name` gives a bot's name only from
these lists (an ``ignored_agents`` entry as configured, a plain name of the public list as spelled
there), never from the User-Agent's own text."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Iterable

from kero_core.agent_names import finite_matches

__all__ = ["DEFAULT_IGNORED_AGENTS", "BotRules", "bot_needle"]

# HTTP client libraries, headless browsers, monitors and scanners, matched as words (rule 1).
DEFAULT_IGNORED_AGENTS: tuple[str, ...] = (
    "slurp", "scrapy", "curl", "wget", "python-requests", "python-urllib", "python-httpx", "aiohttp",
    "go-http-client", "axios", "node-fetch", "undici", "okhttp", "java/", "apache-httpclient",
    "libwww-perl", "httpie", "postmanruntime", "guzzlehttp", "ruby", "php/", "dart:io", "winhttp",
    "headlesschrome", "phantomjs", "lighthouse", "pingdom", "uptime", "facebookexternalhit",
    "feedfetcher", "wordpress", "zgrab", "masscan", "nmap", "nuclei", "sqlmap", "nikto",
    # server-side feed fetchers: one request per subscriber feed, never a person reading the page
    "feedparser", "universalfeedparser", "tiny tiny rss", "miniflux", "feedbin", "feedburner", "newsblur",
)

# Rule 2: the generic names crawlers end their product name with.
_GENERIC = re.compile(r"(?:bot|crawler|crawl|spider|scraper|robot|spyder|harvest)(?![a-z])")
_BOT_BRANDS = ("cubot",)
_WORD_END = re.compile(r"[a-z0-9_]*$")  # phones whose brand ends like a crawler's name
_ADDRESS = re.compile(r"https?://|www\.|\b[\w.+-]+@[\w-]+\.[a-z]{2,}|\([^)]*\+http")
_PATTERNS = Path(__file__).with_name("data") / "crawler_patterns.txt"


def _entries(lines: Iterable[str]) -> list[str]:
    return [line for line in (raw.rstrip("\n") for raw in lines) if line and not line.startswith("#")]


_UNESCAPE = re.compile(r"\\([^\w])")
_LETTERS = re.compile(r"\\.|[A-Z]+")  # an escape is kept as is
_REGEX_SYNTAX = re.compile(r"[\\^$*+?()\[\]{}|]")
_NAME = re.compile(r"[\w][\w .-]*")  # a product's name, not a fragment like "yandex.com/bots"
_NAME_ENDS = "/:;,. -_"  # what ends a product token rather than names it ("Googlebot/", "php/")


class _CrawlerList:
    """The public list's patterns, searched fast and as words: most are plain names ("Googlebot\\/"), looked up
    through their first three characters; the few real regexes form one regex.
    One regex of all 1,500 patterns costs about 4 ms per User-Agent; this about 50 µs. A name counts
    at the start of a word only: "sonic" (a crawler) is not "Panasonic", "DS9" not "XDS94K"."""

    def __init__(self, patterns: list[str]) -> None:
        self.literals: dict[str, list[str]] = {}
        self.names: dict[str, str] = {}  # lowercased name -> the list's spelling ("googlebot" -> "Googlebot")
        regexes = []
        for pattern in patterns:
            plain = _UNESCAPE.sub(r"\1", pattern)
            if _REGEX_SYNTAX.search(plain) or len(plain) < 3:
                regexes.append(pattern)
                names = finite_matches(pattern) or set()  # "Ahrefs(Bot|SiteAudit)": two names
            else:
                self.literals.setdefault(plain[:3].lower(), []).append(plain.lower())
                names = {plain}
            for name in sorted(n.strip(_NAME_ENDS) for n in names):
                if len(name) >= 3 and _NAME.fullmatch(name):
                    self.names.setdefault(name.lower(), name)
        # Lowercased outside escapes ("\\S" stays), then searched in lowercased text: re.IGNORECASE
        # costs about eight times more here.
        lowered = (_LETTERS.sub(lambda m: m.group(0) if m.group(0)[0] == "\\" else m.group(0).lower(), p) for p in regexes)
        self.regex = re.compile("|".join(f"(?:{p})" for p in lowered))

    def search(self, text: str) -> str | None:
        lowered = text.lower()
        literals = self.literals
        for i in range(len(lowered) - 2):
            for literal in literals.get(lowered[i:i + 3], ()):
                if lowered.startswith(literal, i) and (i == 0 or not lowered[i - 1].isalnum()):
                    return text[i:i + len(literal)]
        found = self.regex.search(lowered)
        return text[found.start():found.end()] if found else None


# Patterns of the public list that real browsers and apps match, left out: an Android build number
# (every Android 15 phone of that build: the list's one instance is Instagram's in-app browser), and
# "Sogou", the name of a browser and an app as well as of a crawler (whose User-Agents all say
# "spider", which rule 2 finds).
_NOT_CRAWLERS = frozenset({r"AP3A\.240617\.008", "Sogou"})


@functools.cache
def _crawler_list() -> _CrawlerList:
    """The public crawler list, loaded once per process on first use."""
    with open(_PATTERNS, encoding="utf-8") as file:
        return _CrawlerList([p for p in _entries(file) if p not in _NOT_CRAWLERS])


def _word(entry: str) -> str:
    """The regex of one ``ignored_agents`` entry: the entry, then no more of the same word (an entry
    ending in "/" or ":" has ended its word: "php/" marks "PHP/8.2")."""
    return re.escape(entry) + (r"(?![a-z0-9 _-])" if entry[-1].isalnum() else "")


class BotRules:
    """Rules 1 to 4 for one list of ``ignored_agents`` (lowercase, non-empty entries).

    >>> BotRules(["curl"]).needle("curl/8.5.0")
    'curl'"""

    def __init__(self, ignored_agents: Iterable[str]) -> None:
        entries = [e for e in ignored_agents if isinstance(e, str) and e.strip()]
        words = sorted({e.lower() for e in entries}, key=len, reverse=True)
        self._words = (re.compile(r"(?<![a-z0-9])(?:" + "|".join(map(_word, words)) + ")") if words else None)
        self._names = {e.strip(_NAME_ENDS).lower(): e.strip(_NAME_ENDS) for e in reversed(entries) if e.strip(_NAME_ENDS)}

    def name(self, text: str | None) -> str | None:
        """The known bot name ``text`` (a matched needle, or a name ua-parser captured) stands
        for, spelled as its list spells it: an ``ignored_agents`` entry or a name of the public
        crawler list; None for any other text."""
        if not text:
            return None
        key = text.strip(_NAME_ENDS).lower()
        return self._names.get(key) or _crawler_list().names.get(key)

    def bot_name(self, text: str, needle: str | None, parsed: str | None) -> str | None:
        """A bot's name from the lists: what ua-parser named it (``parsed``, its own text), the
        needle that marked it, or a name of the public list found in ``text``; None if none is
        known (the caller stores a generic name, never the User-Agent's words)."""
        return self.name(parsed) or self.name(needle) or self.name(_crawler_list().search(text))

    def needle(self, text: str) -> str | None:
        """What marks ``text`` (a cleaned User-Agent) as automated, None for a person's browser."""
        lowered = text.lower()
        if self._words is not None and (found := self._words.search(lowered)):
            return found.group(0)
        for found in _GENERIC.finditer(lowered):
            word = _WORD_END.search(lowered, 0, found.end()).group(0)  # type: ignore[union-attr]
            alone = word == found.group(0) and not lowered.startswith("/", found.end())
            if word not in _BOT_BRANDS and not alone:  # "M bot 51" is a phone, "bot/1.0" a bot
                return found.group(0)
        if _ADDRESS.search(lowered):
            return ""
        return _crawler_list().search(text)


def bot_needle(text: str, ignored_agents: Iterable[str]) -> str | None:
    """:meth:`BotRules.needle` with a one-off rule set (tests and scripts; the writer keeps one)."""
    return BotRules(ignored_agents).needle(text)
