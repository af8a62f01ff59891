"""The request-thread side of tracking: the raw hit tuple and the should-track rules.

Everything here runs on the host app's request thread, so it is O(1) string work: no parsing,
no hashing, no I/O. Raw fields are cut to their bounds here so a huge header cannot make the
in-memory buffer large; the background writer (see ``pipeline``) does the rest."""

from __future__ import annotations

import functools
import itertools
import re
import reprlib
from typing import Any, Callable, Mapping, NamedTuple

from kero_core.client_hints import joined

# Upper bounds of what is kept from a request (characters). Stored strings are cut to these.
MAX_PATH = 2048
MAX_QUERY = 2048
MAX_REFERRER = 2048
MAX_USER_AGENT = 512  # long User-Agents make regex parsers slow; 512 covers every real browser
MAX_HEADER = 256  # Accept-Language, Accept-Encoding, forwarding headers
MAX_FORWARDED = 512  # X-Forwarded-For, kept by both ends (see _forwarded_for)
_FORWARDED_HEAD = 64  # its start; the rest is its last entries (what the proxies appended)
MAX_NAME = 128  # custom event names, routes' methods
MAX_LABELS = 32  # labels per custom event
MAX_LABEL = 256  # label keys and values
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")  # removed from tracked text (log lines, CSV cells)
_SHORT_REPR = reprlib.Repr()  # a bounded text of a container or a huge number, in bounded time
_SHORT_REPR.maxstring = _SHORT_REPR.maxother = _SHORT_REPR.maxlong = MAX_LABEL
_LONGEST_INT = 3000  # bits (about 900 digits) of a number written out in full


def captured_text(value: Any, bound: int) -> str:
    """``value`` as text of at most ``bound`` characters without control characters, in time
    bounded by ``bound`` for strings, numbers and containers (a string is cut before it is
    cleaned; containers and numbers are written by :mod:`reprlib`); other objects by ``str()``."""
    if isinstance(value, str):
        text = value[: 2 * bound]
    elif isinstance(value, int) and value.bit_length() > _LONGEST_INT:
        text = f"(a {value.bit_length()}-bit number)"  # its digits would cost quadratic time, or raise
    elif isinstance(value, (int, float, list, tuple, dict, set, frozenset)):
        text = _SHORT_REPR.repr(value)
    else:
        text = str(value)[: 2 * bound]
    return CONTROL.sub("", text)[:bound]


def captured_labels(labels: Any) -> dict[str, str] | None:
    """A copy of what is kept of a custom event's ``labels``, made on the caller's thread so a
    later change to the caller's mapping is not stored: its first MAX_LABELS items, keys and
    values as :func:`captured_text` of at most MAX_LABEL characters. O(MAX_LABELS) whatever the
    mapping's size; None for none. TypeError when ``labels`` is not a mapping."""
    if labels is None:
        return None
    if not isinstance(labels, Mapping):
        raise TypeError(f"labels must be a mapping, got {type(labels).__name__}")
    items = itertools.islice(labels.items(), MAX_LABELS)
    return {captured_text(key, MAX_LABEL): captured_text(value, MAX_LABEL) for key, value in items} or None

# What a page view is: a GET or HEAD request (whatever its status: a 404 is a page someone saw).
# Other requests (a form's POST, an API's PUT or DELETE, a CORS OPTIONS) are stored as
# OTHER_REQUEST: they count in the routes, status and not-found cards, never as page views,
# visitors or visits. The writer names each request (request_name), so live requests, imported
# log lines and synthetic traffic follow the same rule.
PAGE_VIEW = "http_req"
OTHER_REQUEST = "http_other"
REQUEST_NAMES = (PAGE_VIEW, OTHER_REQUEST)
PAGE_VIEW_METHODS = frozenset({"GET", "HEAD"})


def request_name(name: str, method: str) -> str:
    """The stored event name of a captured request named ``name`` (custom events keep theirs)."""
    return OTHER_REQUEST if name == PAGE_VIEW and method not in PAGE_VIEW_METHODS else name


DEFAULT_IGNORED_PREFIXES = ("/.", "/_", "//", "/wp", "/public", "/wordpress", "/favicon.ico")
DEFAULT_IGNORED_SUFFIXES = (
    ".css", ".js", ".mjs", ".map", ".json", ".xml", ".txt",
    ".png", ".jpg", ".jpeg", ".gif", ".svg", ".ico", ".webp", ".avif", ".bmp",
    ".woff", ".woff2", ".ttf", ".otf", ".eot",
    ".php", ".asp", ".aspx", ".jsp", ".cgi", ".env", ".ini", ".bak", ".sql",
)


class Hit(NamedTuple):
    """One raw event as captured on the request thread (or made by an importer or generator).

    It still holds the IP and the User-Agent: it lives only in memory, and the background
    writer turns it into a stored event without them."""

    ts: float  # unix seconds, UTC
    name: str  # PAGE_VIEW for requests (the writer renames those that are no page view), else the custom event name
    method: str
    path: str  # as in the WSGI environ (latin-1 decoded bytes) or already decoded
    query: str
    route: str
    status: int
    duration_ms: float | None
    remote_addr: str
    forwarded_for: str
    cf_connecting_ip: str
    real_ip: str
    user_agent: str
    accept_language: str
    accept_encoding: str
    referrer: str
    labels: Mapping[str, Any] | None = None
    value: float = 1.0
    host: str = ""  # the site's own host, to tell internal navigation from referrals
    client_hints: str = ""  # Sec-CH-UA-Platform, -Mobile, -Platform-Version and Sec-CH-UA (see client_hints)


# A Hit of fields already in order, built by tuple.__new__: the NamedTuple's own __new__ is a
# Python function whose 19 arguments cost about 0.6 µs of the ~3 a capture takes.
as_hit: Callable[[tuple[Any, ...]], Hit] = functools.partial(tuple.__new__, Hit)


def hit_from_environ(environ: Mapping[str, Any], ts: float, **fields: Any) -> Hit:
    """Capture the raw fields of a WSGI-like environ (Django's ``request.META`` works too) as a
    :class:`Hit`; ``fields`` as :func:`fields_from_environ`'s."""
    return as_hit(fields_from_environ(environ, ts, **fields))


def fields_from_environ(
    environ: Mapping[str, Any],
    ts: float,
    *,
    name: str = "http_req",
    path: str | None = None,
    route: str = "",
    status: int = 0,
    duration_ms: float | None = None,
    referrer: str | None = None,
    query: str | None = None,
    labels: Mapping[str, Any] | None = None,
    value: float = 1.0,
) -> tuple[Any, ...]:
    """The fields of a :class:`Hit`, in order, as a plain tuple: what the pipeline buffers (see
    ``Pipeline.record``), so a request builds one tuple where a Hit would be copied into another.

    WSGI guarantees ``str`` values, so there is no conversion here: this runs on every request."""
    get = environ.get
    return hit_fields(
        ts, name, route, status, duration_ms, labels, value,
        get("REQUEST_METHOD") or "GET",
        path if path is not None else (get("PATH_INFO") or "/"),
        query if query is not None else (get("QUERY_STRING") or ""),
        get("REMOTE_ADDR") or "",
        get("HTTP_X_FORWARDED_FOR") or "",
        get("HTTP_CF_CONNECTING_IP") or "",
        get("HTTP_X_REAL_IP") or "",
        get("HTTP_USER_AGENT") or "",
        get("HTTP_ACCEPT_LANGUAGE") or "",
        get("HTTP_ACCEPT_ENCODING") or "",
        referrer if referrer is not None else (get("HTTP_REFERER") or ""),
        get("HTTP_HOST") or "",
        get("HTTP_SEC_CH_UA_PLATFORM") or "",
        get("HTTP_SEC_CH_UA_MOBILE") or "",
        get("HTTP_SEC_CH_UA_PLATFORM_VERSION") or "",
        get("HTTP_SEC_CH_UA") or "",
    )


def hit_fields(
    ts: float, name: str, route: str, status: int, duration_ms: float | None, labels: Mapping[str, Any] | None,
    value: float, method: str, path: str, query: str, remote_addr: str, forwarded_for: str, cf_connecting_ip: str,
    real_ip: str, user_agent: str, accept_language: str, accept_encoding: str, referrer: str, host: str,
    platform: str, mobile: str, platform_version: str, brands: str,
) -> tuple[Any, ...]:
    """The fields of a :class:`Hit`, in its order, each cut to its bound: the one capture of
    every request, whether read from a WSGI environ (:func:`fields_from_environ`) or from an
    ASGI scope (:func:`request_from_scope`). What describes the request comes last, in the
    order of ``_HEADERS``, so the ASGI middleware reads it once, when the request starts, and
    adds the first seven when it ends."""
    if len(forwarded_for) > MAX_FORWARDED:
        forwarded_for = _forwarded_for(forwarded_for)
    return (
        ts,
        name[:MAX_NAME],
        method[:16],
        path[:MAX_PATH],
        query[:MAX_QUERY],
        route[:MAX_PATH],
        status,
        duration_ms,
        remote_addr[:MAX_HEADER],
        forwarded_for,
        cf_connecting_ip[:MAX_HEADER],
        real_ip[:MAX_HEADER],
        user_agent[:MAX_USER_AGENT],
        accept_language[:MAX_HEADER],
        accept_encoding[:MAX_HEADER],
        referrer[:MAX_REFERRER],
        labels,
        value,
        host[:MAX_HEADER],
        # Chromium sends its hints (on secure pages) with Sec-CH-UA-Platform always among them.
        joined(platform, mobile, platform_version, brands) if platform else "",
    )


def _forwarded_for(header: str) -> str:
    """A long X-Forwarded-For cut in its middle, never at its end: trusted proxies append the
    real client's address on the right, so keeping only the start would let a client push that
    entry out with a long header and choose the address (visitor id, country) Kero uses. The
    end keeps the last ten entries or so."""
    return header[:_FORWARDED_HEAD] + "," + header[_FORWARDED_HEAD + 1 - MAX_FORWARDED:]


# The request headers Kero reads, under their ASGI names (lowercase) and their WSGI names. The
# first twelve, in this order, are what :func:`hit_fields` keeps of them.
_HEADERS = {
    b"x-forwarded-for": "HTTP_X_FORWARDED_FOR",
    b"cf-connecting-ip": "HTTP_CF_CONNECTING_IP",
    b"x-real-ip": "HTTP_X_REAL_IP",
    b"user-agent": "HTTP_USER_AGENT",
    b"accept-language": "HTTP_ACCEPT_LANGUAGE",
    b"accept-encoding": "HTTP_ACCEPT_ENCODING",
    b"referer": "HTTP_REFERER",
    b"host": "HTTP_HOST",
    b"sec-ch-ua-platform": "HTTP_SEC_CH_UA_PLATFORM",
    b"sec-ch-ua-mobile": "HTTP_SEC_CH_UA_MOBILE",
    b"sec-ch-ua-platform-version": "HTTP_SEC_CH_UA_PLATFORM_VERSION",
    b"sec-ch-ua": "HTTP_SEC_CH_UA",
    b"dnt": "HTTP_DNT",
    b"sec-gpc": "HTTP_SEC_GPC",
    b"authorization": "HTTP_AUTHORIZATION",
}
_PLACES = {name: place for place, name in enumerate(_HEADERS)}
_DNT, _GPC = _PLACES[b"dnt"], _PLACES[b"sec-gpc"]
_KEPT = _DNT
_WSGI_NAMES = tuple(_HEADERS.values())
_NO_TEXTS = ("",) * len(_HEADERS)


def app_path(scope: Mapping[str, Any]) -> str:
    """The path below the app's mount point (WSGI's ``PATH_INFO``): servers put ``root_path``
    in front of ``path``, and the dashboard and the tracking rules are relative to the app."""
    path: str = scope.get("path") or "/"
    root: str = scope.get("root_path") or ""
    if root and path.startswith(root) and path[len(root):len(root) + 1] in ("/", ""):
        path = path[len(root):] or "/"
    return path


def wsgi_str(text: str) -> str:
    """A decoded ASGI string as WSGI carries it (its UTF-8 bytes as latin-1), the form the
    capture and the enrichment expect."""
    return text if text.isascii() else text.encode("utf-8", "surrogateescape").decode("latin-1")


def header_texts(headers: Any) -> list[str]:
    """The values of the headers in ``_HEADERS``, in its order, from an ASGI scope's
    ``headers``: latin-1 decoded as WSGI carries them, repeated ones joined by commas (as WSGI
    servers do), "" for those not sent. One pass, decoding only the headers Kero reads."""
    texts = list(_NO_TEXTS)
    places = _PLACES
    for name, value in headers:
        if name in places:  # most of a browser's headers are not: no call for them
            place = places[name]
            text = value.decode("latin-1")
            texts[place] = texts[place] + "," + text if texts[place] else text
    return texts


def request_from_scope(scope: Mapping[str, Any], path: str, honour_dnt: bool) -> tuple[str, ...] | None:
    """The request's part of :func:`hit_fields`' arguments (from ``method`` on), read from an
    ASGI ``http`` scope whose app path (see :func:`app_path`) is ``path``, already in the form
    of :func:`wsgi_str`; None when the browser asks not to be tracked and ``honour_dnt``. What
    the ASGI middleware keeps of a request while the app runs (routers rewrite the scope's
    ``path`` and ``root_path``)."""
    texts = header_texts(scope.get("headers") or ())
    if honour_dnt and do_not_track(texts[_DNT], texts[_GPC]):
        return None
    client = scope.get("client")
    return (
        scope.get("method") or "GET",
        path,
        (scope.get("query_string") or b"").decode("latin-1"),
        str(client[0]) if client else "",
        *texts[:_KEPT],
    )


def environ_from_scope(scope: Mapping[str, Any], path: str | None = None) -> dict[str, str]:
    """The WSGI-style fields Kero reads, from an ASGI ``http`` scope (for what reads an
    environ: custom events, the pixel, the dashboard's auth): method, path (``path``, the
    scope's :func:`app_path` when the caller has it already), query string, client address and
    the headers in ``_HEADERS`` that were sent (see :func:`header_texts`). Not ``SCRIPT_NAME``:
    no capture reads it."""
    client = scope.get("client")
    environ = {
        "REQUEST_METHOD": scope.get("method") or "GET",
        "PATH_INFO": wsgi_str(app_path(scope) if path is None else path),
        "QUERY_STRING": (scope.get("query_string") or b"").decode("latin-1"),
        "REMOTE_ADDR": str(client[0]) if client else "",
    }
    texts = header_texts(scope.get("headers") or ())
    environ.update((key, text) for key, text in zip(_WSGI_NAMES, texts) if text)
    return environ


def do_not_track(dnt: str | None, gpc: str | None) -> bool:
    """True when the browser asks not to be tracked: its ``DNT`` or ``Sec-GPC`` header is ``1``."""
    return dnt == "1" or gpc == "1"


def sends_do_not_track(environ: Mapping[str, Any]) -> bool:
    """True when the browser asks not to be tracked (``DNT: 1`` or ``Sec-GPC: 1``)."""
    return do_not_track(environ.get("HTTP_DNT"), environ.get("HTTP_SEC_GPC"))


class PathRules:
    """Which paths are tracked. The prefix and suffix lists are the live lists users extend."""

    def __init__(
        self,
        dashboard_path: str,
        pixel_path: str | None,
        ignore_web_assets: bool,
        ignored_prefixes: list[str],
        ignored_suffixes: list[str],
    ) -> None:
        self.own_paths = tuple(p for p in (dashboard_path, pixel_path) if p)
        self._own_subpaths = tuple(p + "/" for p in self.own_paths)
        self.ignore_web_assets = ignore_web_assets
        self.ignored_prefixes = ignored_prefixes
        self.ignored_suffixes = ignored_suffixes
        self._key: tuple[int, int] | None = None
        self._cached: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())

    def is_own(self, path: str) -> bool:
        """The dashboard (and everything under it) and the pixel: never tracked."""
        return path in self.own_paths or path.startswith(self._own_subpaths)

    def _active(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The prefixes and suffixes in force: all of them with ``ignore_web_assets``, else only
        the ones the user added. Recomputed only when a list changed length (users append)."""
        key = (len(self.ignored_prefixes), len(self.ignored_suffixes))
        if key != self._key:
            prefixes, suffixes = self.ignored_prefixes, self.ignored_suffixes
            if not self.ignore_web_assets:
                prefixes = [p for p in prefixes if p not in DEFAULT_IGNORED_PREFIXES]
                suffixes = [s for s in suffixes if s not in DEFAULT_IGNORED_SUFFIXES]
            self._cached = (tuple(prefixes), tuple(s.lower() for s in suffixes))
            self._key = key
        return self._cached

    def should_track(self, path: str) -> bool:
        return not self.is_own(path) and not self.ignores(path)

    def ignores(self, path: str) -> bool:
        """An ignored prefix or suffix (the web assets' with ``ignore_web_assets``)."""
        prefixes, suffixes = self._active()
        if prefixes and path.startswith(prefixes):
            return True
        return bool(suffixes) and path.lower().endswith(suffixes)
