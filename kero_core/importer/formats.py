"""Access log formats: each line to the :class:`~kero_core.capture.Hit` a live request would
have made, or to the reason it is skipped.

Text formats are read as latin-1 (which never fails), so a field holds the bytes the client sent,
as WSGI strings do; the writer's enrichment decodes UTF-8 where it is valid, like for live
requests. Request targets are percent-decoded into a ``PATH_INFO``, query strings are kept raw."""

from __future__ import annotations

import calendar
import datetime
import functools
import json
import math
import re
from typing import Any, Callable, Sequence
from urllib.parse import unquote_to_bytes

from kero_core.capture import Hit, hit_from_environ

FORMATS = ("combined", "common", "nginx", "caddy-json")

# Why a line was not imported (the keys of ImportReport.skipped).
MALFORMED = "malformed line"
NOT_HTTP = "not an HTTP request"
NOT_ACCESS = "not an access log entry"
IGNORED_PATH = "ignored path (web asset, dashboard, pixel)"
BOT = "bot or HTTP library (--ignore-bots)"
UNUSABLE = "unusable event (a time outside the years 1 to 9999)"
BLANK = "blank line"

_QUOTED = r'"([^"\\]*(?:\\.[^"\\]*)*)"'  # Apache escapes " as \", nginx as \x22
_COMMON = r"(\S+) \S+ \S+ \[([^\]]*)\] " + _QUOTED + r" (\d{3}) (?:\d+|-)"
_PATTERNS = {
    "common": re.compile(_COMMON),
    "combined": re.compile(f"{_COMMON} {_QUOTED} {_QUOTED}"),
    # nginx.conf's stock "main" format: combined plus "$http_x_forwarded_for"
    "nginx": re.compile(f'{_COMMON} {_QUOTED} {_QUOTED} "(-|[0-9A-Fa-f.:\\[\\], ]*)"'),
}
_ESCAPE = re.compile(r"\\(x[0-9A-Fa-f]{2}|.)")
_C_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "v": "\v", "f": "\f", "b": "\b", "a": "\a"}
_MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}


def _unescape_one(match: re.Match[str]) -> str:
    code = match.group(1)
    return chr(int(code[1:], 16)) if len(code) == 3 else _C_ESCAPES.get(code, code)


def _unescape(text: str) -> str:
    """A quoted log field as the bytes the client sent (latin-1 decoded, as WSGI strings are)."""
    return _ESCAPE.sub(_unescape_one, text) if "\\" in text else text


@functools.lru_cache(maxsize=1024)
def _day_start(date: str, zone: str) -> float:
    """Unix time of midnight of "10/Oct/2000" in the time zone "-0700"; raises ValueError."""
    day, month, year = int(date[:2]), _MONTHS.get(date[3:6], 0), int(date[7:11])
    datetime.date(year, month, day)  # rejects month 0, February 30th, ...
    if len(zone) != 5 or zone[0] not in "+-" or not zone[1:].isdigit():
        raise ValueError(zone)
    offset = int(zone[1:3]) * 3600 + int(zone[3:5]) * 60
    return calendar.timegm((year, month, day, 0, 0, 0)) - (offset if zone[0] == "+" else -offset)


def _clf_time(text: str) -> float | None:
    """Unix time of a Common Log Format time, "10/Oct/2000:13:55:36 -0700"; None if invalid."""
    if len(text) != 26 or text[11] != ":" or text[20] != " " or text[14] != ":" or text[17] != ":":
        return None
    try:
        return _day_start(text[:11], text[21:]) + int(text[12:14]) * 3600 + int(text[15:17]) * 60 + int(text[18:20])
    except ValueError:
        return None


def _target(method: str, target: str) -> tuple[str, str] | None:
    """(path, query) of a request target, the path percent-decoded as in a WSGI PATH_INFO."""
    if not (method.isalpha() and method.isupper() and len(method) <= 16) or not target:
        return None
    if target[0] != "/":  # absolute-form, as sent to proxies: keep what follows the host
        scheme, sep, rest = target.partition("://")
        if not sep or scheme.lower() not in ("http", "https"):
            return None
        target = "/" + rest.partition("/")[2]
    path, _, query = target.partition("?")
    path = path.partition("#")[0]
    if "%" in path:
        path = unquote_to_bytes(path.encode("latin-1")).decode("latin-1")
    return path, query.partition("#")[0]


def _request(line: str) -> tuple[str, str, str] | None:
    """(method, path, query) of a request line such as "GET /a?b=1 HTTP/1.1"."""
    method, _, rest = line.partition(" ")
    target, sep, protocol = rest.rpartition(" ")
    if not sep or not protocol.startswith("HTTP/"):
        target = rest  # HTTP/0.9 has no protocol
    found = _target(method, target)
    return None if found is None else (method, *found)


def _dash(value: str) -> str:
    return "" if value == "-" else value


def _text_parser(log_format: str, host: str) -> Callable[[bytes], Hit | str]:
    match = _PATTERNS[log_format].match
    has_agent = log_format != "common"

    def parse(raw: bytes) -> Hit | str:
        line = raw.decode("latin-1")  # never fails: non-UTF-8 bytes stay bytes, as in WSGI
        found = match(line)
        if found is None:
            return MALFORMED if line.strip() else BLANK
        groups = found.groups()
        ts = _clf_time(groups[1])
        if ts is None:
            return MALFORMED
        request = _request(_unescape(groups[2]))
        if request is None:
            return NOT_HTTP
        environ = {
            "REQUEST_METHOD": request[0], "PATH_INFO": request[1], "QUERY_STRING": request[2],
            "REMOTE_ADDR": groups[0], "HTTP_HOST": host,
        }
        if has_agent:
            environ["HTTP_REFERER"] = _dash(_unescape(groups[4]))
            environ["HTTP_USER_AGENT"] = _dash(_unescape(groups[5]))
            if len(groups) > 6:
                environ["HTTP_X_FORWARDED_FOR"] = _dash(groups[6])
        return hit_from_environ(environ, ts, status=int(groups[3]))

    return parse


def _wsgi(value: Any) -> str:
    """A JSON string as a WSGI string (its UTF-8 bytes decoded as latin-1); '' if not a string."""
    return value.encode("utf-8", "surrogatepass").decode("latin-1") if isinstance(value, str) else ""


def _caddy_time(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):  # a time_format such as iso8601
        try:
            moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return (moment if moment.tzinfo else moment.replace(tzinfo=datetime.timezone.utc)).timestamp()
    return None


def _header(headers: Any, name: str) -> str:
    values = headers.get(name) if isinstance(headers, dict) else None
    if isinstance(values, list):
        values = values[0] if values else ""
    return _wsgi(values)


def _caddy_parser(host: str) -> Callable[[bytes], Hit | str]:
    """Caddy's structured access log: one JSON object per line, the request under "request"."""

    def parse(raw: bytes) -> Hit | str:
        if not raw.strip():
            return BLANK
        try:
            entry = json.loads(raw)
        except ValueError:  # UnicodeDecodeError included
            return MALFORMED
        if not isinstance(entry, dict):
            return MALFORMED
        request, status = entry.get("request"), entry.get("status")
        if not isinstance(request, dict):
            return NOT_ACCESS  # Caddy's other messages, when they share the file
        ts = _caddy_time(entry.get("ts"))
        method, uri = request.get("method"), request.get("uri")
        if ts is None or not isinstance(status, int) or not isinstance(method, str) or not isinstance(uri, str):
            return MALFORMED
        found = _target(method, _wsgi(uri))
        if found is None:
            return NOT_HTTP
        headers = request.get("headers")
        client = request.get("client_ip")  # Caddy >= 2.7 already applied its trusted proxies
        environ = {
            "REQUEST_METHOD": method, "PATH_INFO": found[0], "QUERY_STRING": found[1],
            "REMOTE_ADDR": _wsgi(client or request.get("remote_ip") or request.get("remote_addr")),
            "HTTP_X_FORWARDED_FOR": "" if client else _header(headers, "X-Forwarded-For"),
            "HTTP_USER_AGENT": _header(headers, "User-Agent"), "HTTP_REFERER": _header(headers, "Referer"),
            "HTTP_ACCEPT_LANGUAGE": _header(headers, "Accept-Language"),
            "HTTP_ACCEPT_ENCODING": _header(headers, "Accept-Encoding"),
            "HTTP_HOST": host or _wsgi(request.get("host")),
        }
        duration = entry.get("duration")  # seconds, Caddy's default duration_format
        ms = duration * 1000.0 if isinstance(duration, (int, float)) and not isinstance(duration, bool) else None
        return hit_from_environ(environ, ts, status=status, duration_ms=ms)

    return parse


def parser(log_format: str, site_host: str = "") -> Callable[[bytes], Hit | str]:
    """The line parser of ``log_format`` (one of :data:`FORMATS`): a raw line (bytes) to a Hit,
    or to the reason it is skipped. ``site_host`` is the site's own host name, so that links
    within the site are not counted as referrals (Caddy logs carry it themselves)."""
    if log_format == "caddy-json":
        return _caddy_parser(site_host)
    if log_format not in _PATTERNS:
        raise ValueError(f"unknown log format {log_format!r}; known: {', '.join(FORMATS)}")
    return _text_parser(log_format, site_host)


def detect_format(lines: Sequence[bytes]) -> str | None:
    """The most specific format that reads nearly as many of these sample lines as the best one
    (an odd line must not demote a whole file); None when no format reads any. nginx lines are
    combined lines too, and combined lines common ones."""
    sample = [line for line in lines if line.strip()][:50]
    scores = {}
    for log_format in ("caddy-json", "nginx", "combined", "common"):
        parse = parser(log_format)
        scores[log_format] = sum(1 for line in sample if parse(line) not in (MALFORMED, BLANK))
    best = max(scores.values())
    return next((f for f, score in scores.items() if score >= 0.8 * best), None) if best else None


def printable(raw: bytes, limit: int = 200) -> str:
    """A log line safe to show on a terminal: cut, and control characters escaped."""
    text = raw[:limit].decode("utf-8", "backslashreplace").rstrip("\r\n")
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text) + ("…" if len(raw) > limit else "")


