"""Import web server access logs into Kero: months of history on day one.

Each line becomes the :class:`~kero_core.capture.Hit` a live request would have made (the log's
time, method, path, query, status, client address, User-Agent, Referer), goes through the same
path rules as live tracking, and is enriched and stored by the writer's batch path. DNT cannot
apply: access logs do not record it.

Re-runs are idempotent. ``<db_path>/imports.json`` remembers every file by a fingerprint of its
first 4 KB (decompressed, so ``access.log`` is still recognised once rotated to ``access.log.2.gz``)
and the byte offset after its last imported line; a re-run reads only what was appended since.
A batch's spool file and its new offset are written together with Ctrl-C and SIGTERM held back,
so an interrupted import resumes where it stopped without counting anything twice.

Visitor ids use a salt per event day made for this import in a temporary folder and deleted
when it ends: ids of imported days cannot be recomputed afterwards, as with live salts."""

from __future__ import annotations

import calendar
import contextlib
import datetime
import fcntl
import functools
import gzip
import hashlib
import json
import math
import os
import re
import signal
import tempfile
import threading
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Iterator, Sequence
from urllib.parse import unquote_to_bytes

from kero_core.batch import EventBuilder
from kero_core.capture import Hit, hit_from_environ
from kero_core.enrich import SaltStore, VisitorIds
from kero_core.kero import Kero

FORMATS = ("combined", "common", "nginx", "caddy-json")
STDIN = "-"
STATE_FILE = "imports.json"
LOCK_FILE = "import.lock"
FINGERPRINT_BYTES = 4096
SAMPLE_BYTES = 65536  # read ahead once per file: the fingerprint and the format detection
MALFORMED_SHOWN = 5

# Why a line was not imported (the keys of ImportReport.skipped).
MALFORMED = "malformed line"
NOT_HTTP = "not an HTTP request"
NOT_ACCESS = "not an access log entry"
IGNORED_PATH = "ignored path (web asset, dashboard, pixel)"
BOT = "bot or HTTP library (--ignore-bots)"
BLANK = "blank line"


class LogImportError(RuntimeError):
    """The import cannot start (another import runs, or the state file is unreadable)."""


# -- parsing ---------------------------------------------------------------------------------------

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


# -- sources, and what the database already holds of them ------------------------------------------

class _Source:
    """An open log file, gzip file or stdin, with its first bytes read ahead."""

    def __init__(self, name: str, stdin: IO[bytes] | None) -> None:
        self.name = name
        self.raw: IO[bytes] | None = None  # the file on disk (compressed for .gz), for progress
        if name == STDIN:
            if stdin is None:
                raise OSError("standard input is not available")
            self.stream, self.size, self.appendable, self.inode = stdin, None, False, 0
        else:
            raw = self.raw = open(name, "rb")  # noqa: SIM115  closed by close()
            stat = os.fstat(raw.fileno())
            self.size, self.inode = stat.st_size, stat.st_ino
            compressed = raw.read(2) == b"\x1f\x8b"  # by content: rotated logs are named anything
            raw.seek(0)
            self.stream = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
            self.appendable = not compressed  # only a plain file can still be written to
        self.head = self.stream.read(SAMPLE_BYTES)
        if self.raw is not None:
            self.stream.seek(0)

    def sample(self) -> list[bytes]:
        """The complete lines of the bytes read ahead (or the one line it has, if incomplete)."""
        lines = self.head.split(b"\n")
        return lines[:-1] or lines

    def lines(self, offset: int) -> Iterator[bytes]:
        """The lines from byte ``offset`` (decompressed) on, each with its b"\\n" but maybe the last."""
        if self.raw is not None:
            self.stream.seek(offset)
            return iter(self.stream)
        return self._stdin_lines(offset)

    def _stdin_lines(self, offset: int) -> Iterator[bytes]:
        skip = offset - len(self.head)
        while skip > 0:  # already imported: read past it
            chunk = self.stream.read(min(skip, SAMPLE_BYTES))
            if not chunk:
                return
            skip -= len(chunk)
        *complete, tail = self.head[offset:].split(b"\n")
        for line in complete:
            yield line + b"\n"
        if tail:
            yield tail + self.stream.readline()
        yield from self.stream

    def disk_position(self, offset: int) -> int:
        """Bytes of the file on disk read so far (compressed ones for a .gz), for progress."""
        return self.raw.tell() if self.raw is not None else offset

    def close(self) -> None:
        if self.raw is not None:
            self.stream.close()
            self.raw.close()


class ImportState:
    """``<db_path>/imports.json``: for each log imported, the SHA-256 of its first bytes (up to
    4 KB), how many bytes and lines of it are stored, and its last name, size and inode (shown by
    ``kero doctor``). Files are recognised by content, so renamed and compressed copies too."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / STATE_FILE
        self.files: list[dict[str, Any]] = self._load()

    def _load(self) -> list[dict[str, Any]]:
        try:
            data = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise LogImportError(f"cannot read {self.path} ({exc}); move it aside to import every file again") from None
        files = data.get("files") if isinstance(data, dict) else None
        keys = (("head", str), ("head_bytes", int), ("offset", int), ("lines", int))
        if not isinstance(files, list) or not all(
            isinstance(f, dict) and all(isinstance(f.get(k), t) for k, t in keys) for f in files
        ):
            raise LogImportError(f"{self.path} is not a Kero import state file; move it aside to import every file again")
        return files

    def find(self, head: bytes) -> dict[str, Any] | None:
        """The entry of the log starting with ``head`` (a log shorter than 4 KB then may have grown)."""
        for entry in self.files:
            size = entry["head_bytes"]
            if 0 < size <= len(head) and hashlib.sha256(head[:size]).hexdigest() == entry["head"]:
                return entry
        return None

    def record(self, entry: dict[str, Any] | None, source: _Source, head: bytes, offset: int, lines: int) -> dict[str, Any]:
        if entry is None:
            entry = {}
            self.files.append(entry)
        entry.update(
            head=hashlib.sha256(head).hexdigest(), head_bytes=len(head), offset=offset, lines=lines,
            name=os.path.abspath(source.name) if source.name != STDIN else STDIN,
            size=source.size, inode=source.inode,
            updated=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        )
        return entry

    def save(self) -> None:
        """Replace the file atomically, synced: a crash leaves the old state or the new one."""
        tmp = self.path.with_name(f".{STATE_FILE}.{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8") as file:
            json.dump({"version": 1, "files": self.files}, file, indent=1)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, self.path)


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """One import per database at a time: two would each remember only their own offsets."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LogImportError("another kero import is writing to this database; wait for it to finish") from None
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM back while a batch and its offset are written: stopping between
    the two would store the batch again on the next run. Re-raised right after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, _frame: caught.append(signum)) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        if caught:
            signal.raise_signal(caught[0])


# -- the import ------------------------------------------------------------------------------------

class _ImportSalts(SaltStore):
    """Salts made for one import's days. None is destroyed while it runs, because files may go
    back in time (``access.log`` given before ``access.log.1``) and a day must keep one salt; the
    whole folder is deleted when the import ends."""

    def destroy_before(self, day: datetime.date) -> int:
        return 0


@dataclass
class FileReport:
    """What happened to one input. ``status``: new, resumed, failed."""

    name: str
    log_format: str = ""
    status: str = "new"
    lines: int = 0  # lines read in this run
    imported: int = 0  # events stored in this run
    waiting_line: bool = False  # its last line has no newline yet: left for the next run
    error: str = ""


@dataclass
class ImportReport:
    files: list[FileReport] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    malformed: list[tuple[str, int, str]] = field(default_factory=list)  # (file, line number, line)
    seconds: float = 0.0

    @property
    def lines(self) -> int:
        return sum(f.lines for f in self.files)

    @property
    def imported(self) -> int:
        return sum(f.imported for f in self.files)


class Importer:
    """Imports access logs into ``kero``'s database (see the module docstring).

    ``progress(disk_bytes, lines)`` is called every few thousand lines with the bytes of the
    files read since the previous call (compressed bytes for .gz) and the lines read so far.

    >>> Importer(kero, site_host="example.com").run(["/var/log/nginx/access.log"])  # doctest: +SKIP
    """

    PROGRESS_EVERY = 10_000

    def __init__(self, kero: Kero, *, log_format: str = "auto", site_host: str = "", stdin: IO[bytes] | None = None,
                 batch_size: int = 50_000, progress: Callable[[int, int], None] | None = None) -> None:
        if log_format != "auto":
            parser(log_format)  # unknown formats fail here, not after the first file
        self.kero = kero
        self.log_format = log_format
        self.site_host = site_host
        self.stdin = stdin
        self.batch_size = batch_size
        self.progress = progress
        self.report = ImportReport()

    def run(self, names: Sequence[str]) -> ImportReport:
        """Import each file ("-" is stdin), then ingest everything into the database."""
        started = time.perf_counter()
        folder = self.kero.config.db_path
        with _exclusive(folder / LOCK_FILE), tempfile.TemporaryDirectory(prefix="kero-import-salts-") as salts:
            state = ImportState(folder)
            builder = EventBuilder(self.kero.config, self.kero.ignored_agents, Path(salts), self.kero.clock)
            builder.visitors = VisitorIds(_ImportSalts(salts), clock=self.kero.clock)
            try:
                for name in names:
                    self.report.files.append(self._import(name, builder, state))
            finally:
                builder.close()
        with self.kero.store.session(wait=None):
            pass
        self.report.seconds = time.perf_counter() - started
        return self.report

    def _import(self, name: str, builder: EventBuilder, state: ImportState) -> FileReport:
        result = FileReport(name)
        try:
            source = _Source(name, self.stdin)
        except (OSError, EOFError, zlib.error) as exc:
            result.status, result.error = "failed", f"cannot read it ({getattr(exc, 'strerror', None) or exc})"
            return result
        try:
            self._read(source, result, builder, state)
        except _ReadError as exc:
            result.status, result.error = "failed", f"stopped reading after line {exc.line} ({exc.cause})"
        finally:
            source.close()
        return result

    def _read(self, source: _Source, result: FileReport, builder: EventBuilder, state: ImportState) -> None:
        head = source.head[:FINGERPRINT_BYTES]
        entry = state.find(head)
        offset = lines = 0
        # A plain file now shorter than what was imported was truncated and written anew.
        if entry is not None and not (source.appendable and (source.size or 0) < entry["offset"]):
            offset, lines, result.status = entry["offset"], entry["lines"], "resumed"
        log_format = self.log_format if self.log_format != "auto" else detect_format(source.sample())
        if log_format is None:
            result.status, result.error = "failed", "unrecognised log format (pass --format)"
            return
        result.log_format = log_format
        parse, track = parser(log_format, self.site_host), self.kero.rules.should_track
        skipped, malformed = self.report.skipped, self.report.malformed
        batch: list[Hit] = []
        shown = source.disk_position(0)
        try:
            for line in _guarded(source.lines(offset), lines):
                if source.appendable and not line.endswith(b"\n"):
                    result.waiting_line = True  # being written right now, or cut: the next run gets it whole
                    break
                offset += len(line)
                lines += 1
                result.lines += 1
                parsed = parse(line)
                if isinstance(parsed, str):
                    skipped[parsed] += 1
                    if parsed == MALFORMED and len(malformed) < MALFORMED_SHOWN:
                        malformed.append((source.name, lines, printable(line)))
                elif track(parsed.path):
                    batch.append(parsed)
                else:
                    skipped[IGNORED_PATH] += 1
                if result.lines % self.batch_size == 0:
                    entry = self._commit(builder, state, entry, source, batch, offset, lines, result)
                    batch = []
                if result.lines % self.PROGRESS_EVERY == 0:
                    shown = self._show(source, result, offset, shown)
        except (_ReadError, KeyboardInterrupt):  # keep what was read before it
            self._commit(builder, state, entry, source, batch, offset, lines, result)
            raise
        self._commit(builder, state, entry, source, batch, offset, lines, result)
        self._show(source, result, offset, shown)

    def _commit(self, builder: EventBuilder, state: ImportState, entry: dict[str, Any] | None, source: _Source,
                batch: list[Hit], offset: int, lines: int, result: FileReport) -> dict[str, Any] | None:
        """Store a batch and remember how far the file is imported, both or neither."""
        table = builder.build(batch) if batch else None
        stored = table.num_rows if table is not None else 0
        if len(batch) > stored:
            self.report.skipped[BOT] += len(batch) - stored
        if not stored and offset == (entry["offset"] if entry is not None else 0):
            return entry
        with _signals_held():
            if table is not None and stored:
                self.kero.store.spool(table)
            entry = state.record(entry, source, source.head[:FINGERPRINT_BYTES], offset, lines)
            state.save()
        result.imported += stored
        return entry

    def _show(self, source: _Source, result: FileReport, offset: int, shown: int) -> int:
        position = source.disk_position(offset)
        if self.progress is not None:  # the report lists a file once it is done
            self.progress(max(0, position - shown), self.report.lines + result.lines)
        return position


class _ReadError(Exception):
    def __init__(self, line: int, cause: BaseException) -> None:
        super().__init__(line, cause)
        self.line, self.cause = line, cause


def _guarded(lines: Iterator[bytes], done: int) -> Iterator[bytes]:
    """The lines, with a read failure (a corrupt or cut .gz, a disk error) as a _ReadError
    saying how far the file was read: what was read before it stays imported."""
    try:
        for line in lines:
            done += 1
            yield line
    except (OSError, EOFError, zlib.error) as exc:
        raise _ReadError(done, exc) from None
