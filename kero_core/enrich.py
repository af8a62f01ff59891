"""Enrichment of raw hits, in the background writer: user agent, bots, geo, referrer, UTM, visitor id.

Everything here runs off the request thread, once per event of a batch, so the hot paths are
LRU-cached (repeated inputs cost about a microsecond each). Every input is attacker-controlled:
no function raises on bad text, garbage gives empty strings, and every returned string can be
encoded as UTF-8 (no lone surrogates) and holds no control characters. The IP and the full
User-Agent go in and never come out: only their parsed parts and a salted daily hash do."""

from __future__ import annotations

import contextlib
import datetime
import functools
import logging
import math
import io
import ipaddress
import os
import shutil
import re
import secrets
import socket
import tempfile
import time
from dataclasses import dataclass
from hashlib import blake2b
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import parse_qsl, urlsplit

import maxminddb
from ua_parser import BestAvailableResolver, Device, Domain, Resolver, load_lazy_builtins

from kero_core import client_hints, private
from kero_core.agent_names import KnownNames, known_names, safe_version
from kero_core.bots import DEFAULT_IGNORED_AGENTS, BotRules
from kero_core.capture import CONTROL, MAX_PATH, MAX_QUERY, MAX_USER_AGENT
from kero_core.form_factor import form_factor

__all__ = [
    "DEFAULT_IGNORED_AGENTS", "EMPTY_CAMPAIGN", "Agent", "AgentParser", "Campaign", "GeoLookup",
    "SaltStore", "VisitorIds", "campaign", "client_ip", "decode_path", "referrer_domain",
]

log = logging.getLogger("kero")

_SURROGATE = re.compile("[\ud800-\udfff]")
_MAX_FIELD = 128  # parsed User-Agent parts and geo names are short; bound what odd inputs produce
_MAX_UTM = 256


def _redecode(text: str) -> str:
    """WSGI strings are raw bytes decoded as latin-1: read them as UTF-8 again.

    A string that is not valid UTF-8 once re-encoded was either already decoded (a framework's
    ``request.path``: re-decoding would turn "/café" into "/caf\ufffd") or holds non-UTF-8
    bytes, which stay readable as latin-1. Lone surrogates, which cannot be stored, become U+FFFD."""
    try:
        raw = text.encode("latin-1")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return text


def _clean(text: str) -> str:
    """``text`` re-decoded (see :func:`_redecode`) without control characters."""
    return CONTROL.sub("", _redecode(text))


def decode_path(path: str) -> str:
    """A WSGI ``PATH_INFO`` (or an already-decoded path) as readable text, cut to 2048 characters.

    >>> decode_path("/caf\\xc3\\xa9")
    '/café'"""
    return _clean(path)[:MAX_PATH]


# -- user agents ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Agent:
    """What is kept of a User-Agent: its parsed parts, never the string itself."""

    browser: str  # a known name ('' for 'Other'; "Other bot" for a bot none of the lists names)
    browser_version: str  # "major" or "major.minor", '' if unknown
    os: str
    os_version: str
    device: str
    form_factor: str  # "desktop", "mobile", "tablet" or "bot"
    is_bot: bool  # a crawler, an HTTP client library, a headless browser, or an empty User-Agent


_EMPTY_AGENT = Agent("", "", "", "", "", "bot", True)
OTHER_BOT = "Other bot"  # a bot whose name is in no known list (its own words are never stored)


@functools.cache
def _resolver() -> Resolver:
    """ua-parser's fastest resolver, without its own cache (ours sits in front). Built once per
    process and on first use: compiling the regexes takes ~150 ms."""
    return BestAvailableResolver(load_lazy_builtins())


def _known(value: object, names: dict[str, str]) -> str:
    """ua-parser's ``family`` of ``value`` when it is a known name (see :mod:`kero_core.agent_names`),
    in that list's spelling; '' for 'Other' and for names taken from the User-Agent's own text."""
    family = getattr(value, "family", None)
    return names.get(family.lower(), "") if isinstance(family, str) else ""


def _device(device: Device | None, names: KnownNames) -> str:
    """A known device name, else its known brand (a generic Android device has none): models
    named after the User-Agent's text ("Samsung SM-X...", any string on Android) are not kept."""
    known = _known(device, names.devices)
    if known or device is None or not device.brand or device.brand.startswith("Generic"):
        return known
    return names.brands.get(device.brand.lower(), "")


_PRODUCT_VERSION = re.compile(r"[\w.-]*?/v?(\d+)(?:\.(\d+))?")


def _product_version(user_agent: str, needle: str) -> str:
    """The version of the product token around ``needle``, e.g. "0.27" in "python-httpx/0.27.0"
    (numbers only: see :func:`kero_core.agent_names.safe_version`). Linear time."""
    core = needle.strip("/ ")
    found = re.search(re.escape(core), user_agent, re.IGNORECASE) if core else None
    if found is None:
        return ""
    match = _PRODUCT_VERSION.match(user_agent, found.end())
    return safe_version(match.group(1), match.group(2)) if match else ""


class AgentParser:
    """Parses User-Agents with ua-parser behind an LRU cache.

    ``ignored_agents`` is the live list users extend at runtime (``kero.ignored_agents``): each
    :meth:`parse` compares it with the copy the cache was built from (a list comparison, well under
    a microsecond) and starts a fresh cache when it changed, so there is nothing to call per batch.

    >>> AgentParser(list(DEFAULT_IGNORED_AGENTS)).parse("curl/8.5.0").is_bot
    True"""

    def __init__(self, ignored_agents: list[str], cache_size: int = 20_000) -> None:
        self.ignored_agents = ignored_agents
        self._seen: list[str] = []
        self._rules = BotRules(())
        self._cached = functools.lru_cache(maxsize=cache_size)(self._parse)
        self._reload()

    def parse(self, user_agent: str, hints: str = "") -> Agent:
        """The parsed ``user_agent`` (cut to 512 characters first), corrected by the request's
        client hints (as :func:`kero_core.client_hints.joined` made them). Never raises."""
        if self.ignored_agents != self._seen:
            self._reload()
        return self._cached(user_agent[:MAX_USER_AGENT], hints)

    def _reload(self) -> None:
        self._seen = list(self.ignored_agents)
        self._rules = BotRules(self._seen)  # keeps only non-empty strings: "" would match everything
        self._cached.cache_clear()

    def _parse(self, user_agent: str, hints: str) -> Agent:
        agent = self._parse_user_agent(user_agent)
        return client_hints.apply(agent, hints) if hints and agent is not _EMPTY_AGENT else agent

    def _parse_user_agent(self, user_agent: str) -> Agent:
        text = _clean(user_agent).strip()
        if not text:
            return _EMPTY_AGENT
        result = _resolver()(text, Domain.ALL)
        names = known_names()
        needle = self._rules.needle(text)
        is_bot = needle is not None or (result.device is not None and result.device.family == "Spider")
        agent = result.user_agent
        browser = _known(agent, names.browsers)
        browser_version = safe_version(agent.major, agent.minor) if browser and agent else ""
        if is_bot and not browser:  # a name from Kero's lists, else a generic one: never the agent's own text
            from_parser = self._rules.name(agent.family if agent else None)
            browser = self._rules.bot_name(text, needle, agent.family if agent else None) or OTHER_BOT
            if from_parser and agent:
                browser_version = safe_version(agent.major, agent.minor)
            elif browser != OTHER_BOT and needle:
                browser_version = _product_version(text, needle)
        os_family = _known(result.os, names.oses)
        os_version = safe_version(result.os.major, result.os.minor) if os_family and result.os else ""
        return Agent(
            browser, browser_version, os_family, os_version, _device(result.device, names),
            "bot" if is_bot else form_factor(text.lower(), os_family, result.device), is_bot,
        )


# -- referrers and campaigns ----------------------------------------------------------------------

_HOST = re.compile(r"[\w-]+(?:\.[\w-]+)*|[0-9a-f:.]*:[0-9a-f:.]*")


@functools.lru_cache(maxsize=4096)
def referrer_domain(referrer: str) -> str:
    """The lowercase host of an http(s) URL without "www." and port; '' for anything else.

    >>> referrer_domain("https://WWW.Example.com:8443/a?b")
    'example.com'"""
    try:
        parts = urlsplit(referrer.strip())
        host = parts.hostname  # lowercase, no userinfo, no port, no IPv6 brackets
    except ValueError:  # an invalid IPv6 literal or port
        return ""
    if parts.scheme not in ("http", "https") or not host:
        return ""
    host = host.rstrip(".")
    if host.startswith("www."):
        host = host[4:]
    return host if len(host) <= 253 and _HOST.fullmatch(host) else ""


@dataclass(frozen=True, slots=True)
class Campaign:
    """The UTM parameters of a landing page, and which kind of ad click id it carried.

    Only the kind of click id is kept, never its value: a click id is a per-click identifier that
    links the visit to the ad platform's profile of the person who clicked."""

    utm_source: str
    utm_medium: str
    utm_campaign: str
    utm_term: str
    utm_content: str
    click_id: str  # "gclid", "fbclid", "msclkid", "twclid" or ''


EMPTY_CAMPAIGN = Campaign("", "", "", "", "", "")
_UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
_CLICK_IDS = ("gclid", "fbclid", "msclkid", "twclid")  # when several are present, the first here wins
_CAMPAIGN_KEYS = frozenset(_UTM_KEYS + _CLICK_IDS)


def campaign(query: str) -> Campaign:
    """The campaign of a raw query string. Keys match case-insensitively after percent-decoding;
    a repeated key keeps its first non-empty value. Never raises.

    >>> campaign("utm_source=news&gclid=abc").click_id
    'gclid'"""
    return _campaign(query[:MAX_QUERY]) if query else EMPTY_CAMPAIGN


@functools.lru_cache(maxsize=4096)
def _campaign(query: str) -> Campaign:
    found: dict[str, str] = {}
    for key, value in parse_qsl(_redecode(query), errors="replace"):
        key = key.strip().lower()
        if key in _CAMPAIGN_KEYS and key not in found:
            value = CONTROL.sub("", value).strip()[:_MAX_UTM]
            if value:
                found[key] = value
    if not found:
        return EMPTY_CAMPAIGN
    click_id = next((kind for kind in _CLICK_IDS if kind in found), "")
    return Campaign(*(found.get(key, "") for key in _UTM_KEYS), click_id)


# -- client address -------------------------------------------------------------------------------

def _without_port(address: str) -> str:
    """"1.2.3.4:5678" and "[2001:db8::1]:443" (some proxies add the port) as bare addresses: the
    port changes per connection and would split one visitor into many."""
    if address.startswith("["):
        return address[1:].partition("]")[0]
    if address.count(":") == 1:
        return address.partition(":")[0]
    return address


@functools.lru_cache(maxsize=4096)
def _is_internal(address: str) -> bool:
    """Whether ``address`` is a loopback, private, link-local or unique-local address (a hop
    inside the deployment, not a client on the internet); garbage counts as not internal."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback or ip.is_private or ip.is_link_local


def client_ip(remote_addr: str, forwarded_for: str, cf_connecting_ip: str, real_ip: str,
              trusted_proxies: int | None) -> str:
    """The client's address as the deployment says it can be trusted.

    ``None`` (the default): forwarding headers count only when the direct peer (REMOTE_ADDR) is a
    loopback or private address, i.e. a reverse proxy on the same host or network; then the
    right-most X-Forwarded-For entry that is not internal is the client (entries to its left were
    written by the client, entries to its right by internal proxies), else the right-most entry,
    else X-Real-IP, else REMOTE_ADDR. A client that reaches the app directly, or through a proxy
    that appends to X-Forwarded-For, cannot choose the address. CF-Connecting-IP is never believed
    by default (any client can send it). ``0``: REMOTE_ADDR only. ``N``: the N-th X-Forwarded-For
    entry from the right, as werkzeug's ProxyFix does, else REMOTE_ADDR. The result may be
    garbage: :class:`GeoLookup` handles that.

    >>> client_ip("10.0.0.2", "6.6.6.6, 81.2.69.142", "", "", 1)
    '81.2.69.142'
    >>> client_ip("127.0.0.1", "6.6.6.6, 81.2.69.142, 10.0.0.3", "7.7.7.7", "", None)
    '81.2.69.142'"""
    peer = _without_port(remote_addr.strip())
    if trusted_proxies is None:
        # Nothing forwarded (most hits, every synthetic one): the peer is the client, whatever
        # its address, and parsing that address (~3 µs, rarely cached) can be skipped.
        if not (forwarded_for or real_ip.strip()) or not _is_internal(peer):
            return peer
        entries = [_without_port(e.strip()) for e in forwarded_for.split(",") if e.strip()]
        for entry in reversed(entries):
            if not _is_internal(entry):
                return entry
        if entries:
            return entries[-1]
        if real_ip.strip():
            return _without_port(real_ip.strip())
    elif trusted_proxies > 0 and forwarded_for:
        entries = forwarded_for.split(",")
        if len(entries) >= trusted_proxies and entries[-trusted_proxies].strip():
            return _without_port(entries[-trusted_proxies].strip())
    return peer


# -- geo ------------------------------------------------------------------------------------------

_NO_GEO = ("", "", "")
_CHECK_SECONDS = 10.0
_NEVER_CHECKED = (-1, -1, -1)


def _english_name(record: object) -> str:
    names = record.get("names") if isinstance(record, dict) else None
    name = names.get("en") if isinstance(names, dict) else None
    return CONTROL.sub("", name)[:_MAX_FIELD] if isinstance(name, str) else ""


def _location(record: object) -> tuple[str, str, str]:
    """(country ISO code, first subdivision, city) of a GeoLite2-City record, tolerant of any shape."""
    if not isinstance(record, dict):
        return _NO_GEO
    country = record.get("country")
    iso = country.get("iso_code") if isinstance(country, dict) else None
    subdivisions = record.get("subdivisions")
    region = _english_name(subdivisions[0]) if isinstance(subdivisions, list) and subdivisions else ""
    iso = CONTROL.sub("", iso)[:8] if isinstance(iso, str) else ""
    return iso, region, _english_name(record.get("city"))


def _private_reader(source: "io.BufferedReader") -> maxminddb.Reader:
    """A memory-mapped reader (maxminddb's C extension: ~20 µs per uncached lookup against ~120 µs
    for its pure-Python modes) over a private, already unlinked copy of the database.

    Mapping the user's file directly would be unsafe: a file truncated or rewritten in place under
    an mmap (`cp new.mmdb GeoLite2-City.mmdb`) kills the whole host process with SIGBUS. Nobody
    can truncate an unlinked copy; it costs one copy per process (page cache, ~60 MB)."""
    with tempfile.NamedTemporaryFile(prefix="kero-geoip-", suffix=".mmdb", delete=False) as copy:
        try:
            shutil.copyfileobj(source, copy, 1 << 20)
            copy.flush()
            return maxminddb.open_database(copy.name, maxminddb.MODE_MMAP_EXT)
        finally:
            os.unlink(copy.name)


class _Networks:
    """Locations by the database's own networks: every address of the network a lookup returns
    has the same record, so one decoded record (about 18 µs, most of a lookup: the C reader builds
    the whole record with every language's names) serves all of its visitors' addresses. A cached
    network is found in a few dictionary probes, one per prefix length seen (about twenty)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._located: dict[tuple[int, int, int], tuple[str, str, str]] = {}
        self._lengths: dict[int, tuple[int, ...]] = {32: (), 128: ()}  # address bits -> prefix lengths

    def get(self, packed: bytes) -> tuple[str, str, str] | None:
        bits = len(packed) * 8
        number = int.from_bytes(packed, "big")
        located = self._located
        for length in self._lengths[bits]:
            location = located.get((bits, length, number >> (bits - length)))
            if location is not None:
                return location
        return None

    def add(self, packed: bytes, length: int, location: tuple[str, str, str]) -> None:
        bits = len(packed) * 8
        if not 0 <= length <= bits:  # not a prefix of this address: leave it uncached
            return
        if len(self._located) >= self._size:
            self.clear()
        self._located[(bits, length, int.from_bytes(packed, "big") >> (bits - length))] = location
        if length not in self._lengths[bits]:
            self._lengths[bits] = tuple(sorted((*self._lengths[bits], length), reverse=True))

    def clear(self) -> None:
        self._located.clear()
        self._lengths = {32: (), 128: ()}


class GeoLookup:
    """(country, region, city) of IP addresses from a MaxMind GeoLite2-City file, LRU-cached.

    The file may be replaced (geoipupdate), rewritten in place, or deleted (MaxMind's licence asks
    to delete outdated copies) while the app runs: at most every 10 s, a lookup compares the file's
    (inode, mtime, size) with the one loaded and reloads it. An unusable or missing file turns geo
    off with one warning on the ``kero`` logger, until the file changes again. Opened lazily, on
    the first lookup, in the process that looks up (not before a fork)."""

    def __init__(self, path: os.PathLike[str] | str | None, cache_size: int = 50_000, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.path = None if path is None else os.fspath(path)
        self._clock = clock
        self._reader: maxminddb.Reader | None = None
        self._signature: tuple[int, int, int] | None = _NEVER_CHECKED
        self._next_check = -math.inf
        self._cached = functools.lru_cache(maxsize=cache_size)(self._lookup)
        self._networks = _Networks(cache_size)

    def lookup(self, ip: str) -> tuple[str, str, str]:
        """(ISO country code, region, city) of ``ip``; ('', '', '') when unknown, private, invalid,
        or without a usable database. Never raises.

        >>> GeoLookup(None).lookup("81.2.69.142")
        ('', '', '')"""
        if self.path is None:
            return _NO_GEO
        now = self._clock()
        if now >= self._next_check:
            self._next_check = now + _CHECK_SECONDS
            self._check(self.path)
        return self._cached(ip) if self._reader is not None else _NO_GEO

    def close(self) -> None:
        """Free the database (about 60 MB); a later lookup loads it again."""
        self._drop()
        self._signature = _NEVER_CHECKED
        self._next_check = -math.inf

    def _drop(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self._cached.cache_clear()
        self._networks.clear()

    def _check(self, path: str) -> None:
        try:
            st = os.stat(path)
            signature: tuple[int, int, int] | None = (st.st_ino, st.st_mtime_ns, st.st_size)
        except OSError as exc:
            signature, reason = None, exc.strerror
        if signature == self._signature:
            return
        self._drop()
        self._signature = signature
        if signature is None:
            log.warning("kero: cannot read the GeoIP database %s (%s); locations stay empty until it is back.",
                        path, reason)
            return
        self._open(path)

    def _open(self, path: str) -> None:
        try:
            with open(path, "rb") as source:
                st = os.fstat(source.fileno())
                self._reader = _private_reader(source)
            self._signature = (st.st_ino, st.st_mtime_ns, st.st_size)  # exactly what was read
        except Exception as exc:  # noqa: BLE001  maxminddb raises many types for a bad file
            log.warning("kero: the GeoIP database %s is not usable (%s); locations stay empty until it changes.",
                        path, exc)

    def _lookup(self, ip: str) -> tuple[str, str, str]:
        reader = self._reader
        if reader is None:
            return _NO_GEO
        try:
            # Strict: the C reader accepts inet_aton shorthands ("81.2.69" is 81.2.0.69), inet_pton
            # takes only real addresses (and costs 0.2 µs where ipaddress costs 3).
            packed = socket.inet_pton(socket.AF_INET6 if ":" in ip else socket.AF_INET, ip)
        except (OSError, ValueError, TypeError):  # not an IP address (UnicodeError is a ValueError)
            return _NO_GEO
        location = self._networks.get(packed)
        if location is not None:
            return location
        try:
            record, prefix = reader.get_with_prefix_len(ipaddress.ip_address(packed))
            location = _location(record)
        except (ValueError, TypeError):  # IPv6 in an IPv4-only database
            return _NO_GEO
        except Exception as exc:  # noqa: BLE001  a corrupt data section: geo off until the file changes
            log.warning("kero: the GeoIP database %s is corrupt (%s); locations stay empty until it changes.",
                        self.path, exc)
            self._drop()
            return _NO_GEO
        self._networks.add(packed, prefix, location)
        return location


# -- daily salts and visitor ids ------------------------------------------------------------------

_SALT_BYTES = 32
_DAY_NAME = re.compile(r"\d{4}-\d{2}-\d{2}")


class SaltUnavailable(RuntimeError):
    """A day's salt cannot be had now (a shared salt store is unreachable): the hits that need
    it wait for it instead of getting ids that would count their visitors twice."""


class SaltStore:
    """Daily random salts shared by every process using the same folder (``<db_path>/salts``).

    A day's salt is the file ``<folder>/<YYYY-MM-DD>``. Creators write a temporary file and
    ``os.link()`` it to that name: the link fails when the name exists, so concurrent creators
    (workers of one server) agree on one winner and read its salt. :meth:`destroy_before` deletes
    older salts, after which the ids of those days can never be recomputed, not even by Kero.

    If the folder cannot be used, salts stay in memory (ids then differ between processes) and
    one warning is logged: visitor ids must never stop the writer."""

    def __init__(self, folder: os.PathLike[str] | str) -> None:
        self.folder = Path(folder)
        self._salts: dict[datetime.date, bytes] = {}
        self._horizon: datetime.date | None = None
        self._warned = False

    def salt_for(self, day: datetime.date) -> bytes:
        """The salt of ``day`` (32 random bytes), created if missing, then cached in memory."""
        salt = self._salts.get(day)
        if salt is None:
            salt = self._salts[day] = self._load_or_create(day)
        return salt

    def destroy_before(self, day: datetime.date) -> int:
        """Delete the salts of the days before ``day`` (files and memory); returns how many files
        were deleted. Salts asked for later for those days are never written to disk again."""
        self._horizon = day if self._horizon is None else max(self._horizon, day)
        for old in [d for d in self._salts if d < day]:
            del self._salts[old]
        try:
            names = os.listdir(self.folder)
        except OSError:  # no folder yet: nothing was ever stored
            return 0
        deleted = 0
        for name in names:  # temporary files count too: they hold a salt until unlinked
            if _DAY_NAME.match(name) and name[:10] < day.isoformat():
                try:
                    os.unlink(self.folder / name)
                    deleted += 1
                except FileNotFoundError:  # another process destroyed it first
                    pass
                except OSError as exc:
                    log.warning("kero: cannot delete the old visitor salt %s (%s).", name, exc)
        return deleted

    def _load_or_create(self, day: datetime.date) -> bytes:
        if self._horizon is not None and day < self._horizon:
            return secrets.token_bytes(_SALT_BYTES)  # that day's salt is destroyed: never recreate it on disk
        path = self.folder / day.isoformat()
        try:
            salt = self._read(path) or self._create(path)
            if len(salt) < 16:
                raise OSError(f"{path} holds {len(salt)} bytes, not a salt")
            return salt
        except OSError as exc:
            if not self._warned:
                self._warned = True
                log.warning("kero: cannot keep visitor salts in %s (%s); salts stay in this process's memory.",
                            self.folder, exc)
            return secrets.token_bytes(_SALT_BYTES)

    @staticmethod
    def _read(path: Path) -> bytes | None:
        """The salt in ``path``; None if there is none. A salt another user wrote is not used:
        whoever chose it could recompute the day's visitor ids."""
        try:
            with open(path, "rb") as file:
                if not private.owned(os.fstat(file.fileno())):
                    raise OSError(f"{path} belongs to another user")
                return file.read()
        except FileNotFoundError:
            return None

    def cached(self, day: datetime.date) -> bytes | None:
        """The day's salt if this folder holds it (never creates one)."""
        if self._horizon is not None and day < self._horizon:
            return None
        try:
            return self._read(self.folder / day.isoformat())
        except OSError:
            return None

    def keep(self, day: datetime.date, salt: bytes) -> None:
        """Store ``salt`` as the day's salt unless the folder has one (a copy of a shared salt,
        for the other processes of this host); best effort."""
        if self._horizon is not None and day < self._horizon:
            return
        with contextlib.suppress(OSError):
            self._create(self.folder / day.isoformat(), salt)

    def _create(self, path: Path, salt: bytes | None = None) -> bytes:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        salt = salt or secrets.token_bytes(_SALT_BYTES)
        fd, temp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=self.folder)  # mode 0600
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(salt)
                file.flush()
                os.fsync(file.fileno())  # the name never points to a salt that a crash could empty
            try:
                os.link(temp, path)
            except FileExistsError:
                return self._read(path) or b""  # another process won: its salt is the day's salt
            return salt
        finally:
            with contextlib.suppress(FileNotFoundError):  # destroy_before() of another process
                os.unlink(temp)


_SECONDS_PER_DAY = 86_400
_CARRY_SECONDS = 30 * 60
_EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()
_MIN_DAY = 2 - _EPOCH_ORDINAL  # the day before must be a date too (carry-over, destruction)
_MAX_DAY = datetime.date.max.toordinal() - _EPOCH_ORDINAL


def _utc_day(ts: float) -> int | None:
    """Days since 1970-01-01 (UTC) of a unix time; None for NaN, infinities and dates outside
    0001-01-02..9999-12-31."""
    try:
        day = math.floor(ts / _SECONDS_PER_DAY)
    except (OverflowError, ValueError, TypeError):
        return None
    return day if _MIN_DAY <= day <= _MAX_DAY else None


class VisitorIds:
    """Anonymous visitor ids: a keyed BLAKE2b hash (8 bytes, an unsigned 64-bit int for a DuckDB
    UBIGINT) of IP, User-Agent, Accept-Language and Accept-Encoding, keyed by the salt of the UTC
    day. Ids are stable within a day, unlinkable across days, and irreversible (the salt is random
    and destroyed after yesterday, so the small IPv4 space cannot be brute-forced).

    A visit crossing midnight stays one visitor, as in Plausible: if the same fields got an id with
    the previous day's salt less than 30 minutes earlier, that id is kept. Only ids seen in the last
    30 minutes of a day (or carried over since) are remembered, so memory is bounded by those.

    ``clock`` (unix seconds) guards the shared salts: an event more than a day in the future (a
    bad clock, a bad import) gets id 0 instead of destroying today's salt in every process."""

    def __init__(self, salts: SaltStore, *, clock: Callable[[], float] = time.time) -> None:
        self._salts = salts
        self._clock = clock
        self._day: int | None = None  # newest UTC day seen
        self._day_start = math.inf  # its first second
        self._keys: dict[int, bytes] = {}  # UTC day -> salt, for today and yesterday (and rare old days)
        self._late: dict[int, dict[int, float]] = {}  # salt's day -> {id: last seen}, for the carry-over
        self._next_prune = -math.inf
        self._batch: dict[tuple[int, tuple[str, str, str, str]], int] | None = None  # see batch

    def visitor_id(self, ts: float, ip: str, user_agent: str, accept_language: str, accept_encoding: str) -> int:
        """The visitor id of a hit at unix time ``ts`` (0 when ``ts`` is not a usable time)."""
        day = self._day
        if not self._day_start <= ts < self._day_start + _SECONDS_PER_DAY:  # NaN lands here too
            day = self._other_day(ts)
            if day is None:
                return 0
        fields = (ip, user_agent, accept_language, accept_encoding)
        if day - 1 in self._late:
            carried = self._carried(day, ts, fields)
            if carried is not None:
                return carried
        visitor = self._hash(day, fields)
        # Remember the last 30 minutes of today or yesterday: the only ids a carry-over can use.
        if ts >= (day + 1) * _SECONDS_PER_DAY - _CARRY_SECONDS and ts >= self._day_start - _CARRY_SECONDS:
            self._late.setdefault(day, {})[visitor] = ts
        return visitor

    def _other_day(self, ts: float) -> int | None:
        """The UTC day of ``ts`` when it is not the newest day seen; a newer day becomes the newest."""
        day = _utc_day(ts)
        if day is None or (self._day is not None and day <= self._day):
            return day
        if day > (_utc_day(self._clock()) or 0) + 1:
            return None
        self._new_day(day)
        return day

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Within it, :meth:`visitor_id` hashes each visitor's fields once per day: a visit's page
        views share them, and the hash is most of an id's cost. What is remembered for that goes
        when it ends (a batch at a time, however it is sliced)."""
        self._batch = {}
        try:
            yield
        finally:
            self._batch = None

    def _carried(self, day: int, ts: float, fields: tuple[str, str, str, str]) -> int | None:
        """The previous day's id of these fields, if it was seen less than 30 minutes ago."""
        if ts >= self._next_prune:
            self._prune(day - 1, ts)
            if day - 1 not in self._late:
                return None
        recent = self._late[day - 1]
        previous = self._hash(day - 1, fields)
        seen = recent.get(previous)
        if seen is None or abs(ts - seen) >= _CARRY_SECONDS:
            return None
        recent[previous] = max(seen, ts)  # an ongoing visit keeps its id
        return previous

    def _prune(self, salt_day: int, ts: float) -> None:
        """Forget ids too old to carry over, at most once a minute (a scan of all of them)."""
        self._next_prune = ts + 60
        recent = self._late[salt_day]
        for visitor in [v for v, seen in recent.items() if ts - seen >= _CARRY_SECONDS]:
            del recent[visitor]
        if not recent:
            del self._late[salt_day]  # back to one hash per event

    def _hash(self, day: int, fields: tuple[str, str, str, str]) -> int:
        batch = self._batch
        if batch is not None:
            visitor = batch.get((day, fields))
            if visitor is not None:
                return visitor
        key = self._keys.get(day)
        if key is None:
            key = self._keys[day] = self._salts.salt_for(datetime.date.fromordinal(_EPOCH_ORDINAL + day))
        ip, user_agent, accept_language, accept_encoding = fields
        # Netstring-like: each field prefixed with its length, so no field can pass for another.
        message = (f"{len(ip)}:{ip}{len(user_agent)}:{user_agent}{len(accept_language)}:{accept_language}"
                   f"{len(accept_encoding)}:{accept_encoding}").encode("utf-8", "surrogatepass")
        visitor = int.from_bytes(blake2b(message, digest_size=8, key=key).digest(), "big")
        if batch is not None:
            batch[(day, fields)] = visitor
        return visitor

    def _new_day(self, day: int) -> None:
        self._day, self._day_start = day, day * _SECONDS_PER_DAY
        self._keys = {d: k for d, k in self._keys.items() if d >= day - 1}
        self._late = {d: ids for d, ids in self._late.items() if d >= day - 1}
        self._salts.destroy_before(datetime.date.fromordinal(_EPOCH_ORDINAL + day - 1))
