"""Turn a batch of raw hits into an Arrow table of stored events (background writer only).

This is where the IP and the full User-Agent stop: they feed the visitor hash, the GeoIP
lookup and the User-Agent parser, and only what those produce goes into the table."""

from __future__ import annotations

import functools
import json
import math
import time
from typing import Any, Callable, Iterable, Mapping

import pyarrow as pa

from kero_core.capture import MAX_LABEL, MAX_LABELS, MAX_NAME, MAX_PATH, Hit, request_name
from kero_core.config import Config
from kero_core.enrich import (
    EMPTY_CAMPAIGN,
    AgentParser,
    GeoLookup,
    SaltStore,
    SaltUnavailable,
    VisitorIds,
    campaign,
    client_ip,
    decode_path,
    referrer_domain,
)
from kero_core.schema import ARROW_SCHEMA, COLUMN_NAMES

_NO_GEO = ("", "", "")
_decode = functools.lru_cache(maxsize=50_000)(decode_path)  # paths and referrers repeat a lot
# The range of a DuckDB TIMESTAMP (and of Python's datetime): years 1 to 9999.
_MIN_TS_US, _MAX_TS_US = -62_135_596_800_000_000, 253_402_300_799_999_999
_WARM_UP_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
_WARM_UP_IP = "192.0.2.1"  # TEST-NET-1: never located, but the lookup opens the GeoIP file
# Hits enriched between two calls of EventBuilder.pause (about 0.2 ms of work): the background
# writer pauses there so that a request thread waiting for the GIL gets it (see pipeline.Slices).
CHUNK = 16


def _bounded_text(value: Any, bound: int = MAX_LABEL) -> str:
    """``value`` as text that can be stored: lone surrogates (which no UTF-8 column accepts, and
    one of which would fail its whole batch) replaced, cut to ``bound`` characters."""
    text = value if isinstance(value, str) else str(value)
    if not text.isascii():
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text[:bound]


def _timestamp_us(ts: float) -> int:
    ts_us = int(ts * 1_000_000)  # NaN and infinities raise here
    if not _MIN_TS_US <= ts_us <= _MAX_TS_US:
        raise ValueError("a time outside the years 1 to 9999")
    return ts_us


def labels_json(labels: Mapping[str, Any] | None) -> str:
    """Custom event labels as bounded JSON text ('' for none); values become strings."""
    if not labels:
        return ""
    items = list(labels.items())[:MAX_LABELS]
    return json.dumps({_bounded_text(k): _bounded_text(v) for k, v in items}, ensure_ascii=False)


def _finite(value: Any, default: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if math.isfinite(number) else default


class EventBuilder:
    """Enriches hits with the parsers, caches and salts of one process.

    A hit that cannot be stored (an unusable time, labels that fail to turn into text) is left
    out of its batch and counted in :attr:`rejected`: one bad hit never costs the others."""

    def __init__(self, config: Config, ignored_agents: list[str], salts: SaltStore,
                 clock: Callable[[], float] = time.time) -> None:
        self.agents = AgentParser(ignored_agents)
        self.geo = GeoLookup(config.geoip_db)
        self.visitors = VisitorIds(salts, clock=clock)
        self.trusted_proxies = config.trusted_proxies
        self.ignore_bots = config.ignore_bots
        self.measure_requests = config.measure_requests
        self.rejected = 0  # hits left out because they could not be stored
        # Bulk ingest builds a batch in one go; the background writer paces its builds (see pace).
        self.pause: Callable[[], None] = _no_pause
        self.chunk = 0  # hits enriched between two pauses; 0: the whole batch

    def pace(self, pause: Callable[[], None]) -> None:
        """Enrich CHUNK hits at a time and call ``pause`` between chunks and between the Arrow
        columns (the background writer's builds, beside the host app's requests: see
        pipeline.Slices). Bulk ingest, which no request waits on, does not pace."""
        self.pause, self.chunk = pause, CHUNK

    def close(self) -> None:
        self.geo.close()

    def warm_up(self) -> None:
        """Load what the first batch would otherwise wait for (the User-Agent regexes, the GeoIP
        file; seconds on a busy machine), so a fresh process does not hold its first events in
        memory longer than the others do."""
        self.agents.parse(_WARM_UP_AGENT)
        self.geo.lookup(_WARM_UP_IP)

    def build(self, hits: Iterable[Hit]) -> pa.Table:
        """The stored events of ``hits`` (bots left out when ``ignore_bots``).

        Column by column, each distinct User-Agent, IP, path, referrer and query string of the
        batch enriched once. A batch that fails that way is built again hit by hit, which leaves
        out (and counts) only the hits that cannot be stored."""
        hits = list(hits)
        try:
            return self._build_columns(hits)
        except SaltUnavailable:  # not the hits' fault: the writer keeps them for later
            raise
        except Exception:  # noqa: BLE001  the hit-by-hit path isolates the culprit
            return self._build_rows(hits)

    def _build_rows(self, hits: list[Hit]) -> pa.Table:
        rows = []
        step = self.chunk or len(hits)
        for i, hit in enumerate(hits):
            if i % step == 0:
                self.pause()
            try:
                row = self._row(hit)
            except SaltUnavailable:
                raise
            except Exception:  # noqa: BLE001  counted; the caller logs it
                self.rejected += 1
                continue
            if row is not None:
                rows.append(row)
        return _table(zip(*rows) if rows else [[] for _ in COLUMN_NAMES], self.pause)

    def _build_columns(self, hits: list[Hit]) -> pa.Table:
        requests = [hit for hit in hits if hit.method]
        if len(requests) < len(hits):  # custom events without a request: rare, no enrichment
            others = self._build_rows([hit for hit in hits if not hit.method])
            return pa.concat_tables([self._request_columns(requests), others]) if requests else others
        return self._request_columns(requests)

    def _request_columns(self, hits: list[Hit]) -> pa.Table:
        columns: list[list[Any]] = [[] for _ in COLUMN_NAMES]
        with self.visitors.batch():
            step = self.chunk or max(len(hits), 1)
            for start in range(0, len(hits), step):
                for column, part in zip(columns, self._enriched(hits[start:start + step])):
                    column.extend(part)
                self.pause()
        return _table(columns, self.pause)

    def _enriched(self, hits: list[Hit]) -> tuple[list[Any], ...]:
        """The stored columns of request ``hits``: each distinct User-Agent, IP, path, referrer
        and query string of them enriched once."""
        parse = self.agents.parse
        agent_of = {key: parse(*key) for key in {(hit.user_agent, hit.client_hints) for hit in hits}}
        if self.ignore_bots:
            hits = [hit for hit in hits if not agent_of[hit.user_agent, hit.client_hints].is_bot]
        if not hits:
            return tuple([] for _ in COLUMN_NAMES)
        (ts, names, methods, paths, queries, routes, statuses, durations, remote, forwarded, cf, real,
         user_agents, languages, encodings, referrers, labels, values, hosts, hints) = zip(*hits)
        agents = [agent_of[key] for key in zip(user_agents, hints)]
        proxies = self.trusted_proxies
        if any(forwarded) or any(cf) or any(real):
            ip_keys: list[Any] = list(zip(remote, forwarded, cf, real))
            ip_of = {key: client_ip(*key, proxies) for key in set(ip_keys)}
        else:  # no proxy headers (direct clients, imports, synthetic hits): the address decides alone
            ip_keys = list(remote)
            ip_of = {key: client_ip(key, "", "", "", proxies) for key in set(remote)}
        ips = [ip_of[key] for key in ip_keys]
        visitor_id = self.visitors.visitor_id
        visitors = [visitor_id(*fields) for fields in zip(ts, ips, user_agents, languages, encodings)]
        lookup = self.geo.lookup
        geo_of = {ip: (lookup(ip) if ip else _NO_GEO) for ip in set(ips)}
        geos = [geo_of[ip] for ip in ips]
        ref_keys = list(zip(referrers, hosts))
        ref_of = {key: _referral(*key) for key in set(ref_keys)}
        refs = [ref_of[key] for key in ref_keys]
        utm_of = {q: (campaign(q) if q else EMPTY_CAMPAIGN) for q in set(queries)}
        utms = [utm_of[q] for q in queries]
        measure = self.measure_requests
        columns = (
            [_timestamp_us(t) for t in ts],
            _each(tuple(map(request_name, names, methods)), lambda v: _bounded_text(v, MAX_NAME)),
            _each(methods, lambda v: _bounded_text(v, MAX_NAME)),
            _each(paths, _decode),
            _each(routes, lambda v: _bounded_text(v, MAX_PATH)),
            [_status(s) for s in statuses],
            [max(0.0, _finite(d, 0.0)) if measure and d is not None else None for d in durations],
            visitors,
            [a.browser for a in agents], [a.browser_version for a in agents], [a.os for a in agents],
            [a.os_version for a in agents], [a.device for a in agents], [a.form_factor for a in agents],
            [a.is_bot for a in agents],
            [r[0] for r in refs], [r[1] for r in refs],
            [u.utm_source for u in utms], [u.utm_medium for u in utms], [u.utm_campaign for u in utms],
            [u.utm_term for u in utms], [u.utm_content for u in utms], [u.click_id for u in utms],
            [g[0] for g in geos], [g[1] for g in geos], [g[2] for g in geos],
            [labels_json(v) if v else "" for v in labels],
            [v if v == 1.0 else _finite(v, 1.0) for v in values],
        )
        return columns

    def _row(self, hit: Hit) -> tuple[Any, ...] | None:
        ts_us = _timestamp_us(hit.ts)
        labels = labels_json(hit.labels)
        value = _finite(hit.value, 1.0)
        name = _bounded_text(hit.name, MAX_NAME)
        if not hit.method:  # a custom event recorded without a request: nothing to enrich
            return (ts_us, name, "", "", "", 0, None, 0, "", "", "", "", "", "", False,
                    "", "", "", "", "", "", "", "", "", "", "", labels, value)
        agent = self.agents.parse(hit.user_agent, hit.client_hints)
        if agent.is_bot and self.ignore_bots:
            return None
        ip = client_ip(hit.remote_addr, hit.forwarded_for, hit.cf_connecting_ip, hit.real_ip, self.trusted_proxies)
        visitor = self.visitors.visitor_id(hit.ts, ip, hit.user_agent, hit.accept_language, hit.accept_encoding)
        country, region, city = self.geo.lookup(ip) if ip else _NO_GEO
        referrer, domain = _referral(hit.referrer, hit.host)
        utm = campaign(hit.query) if hit.query else EMPTY_CAMPAIGN
        duration = None
        if self.measure_requests and hit.duration_ms is not None:
            duration = max(0.0, _finite(hit.duration_ms, 0.0))
        return (
            ts_us, request_name(name, hit.method), _bounded_text(hit.method, MAX_NAME), _decode(hit.path), _bounded_text(hit.route, MAX_PATH),
            _status(hit.status), duration,
            visitor, agent.browser, agent.browser_version, agent.os, agent.os_version, agent.device,
            agent.form_factor, agent.is_bot, referrer, domain, utm.utm_source, utm.utm_medium,
            utm.utm_campaign, utm.utm_term, utm.utm_content, utm.click_id, country, region, city,
            labels, value,
        )


def _table(columns: Iterable[Iterable[Any]], pause: Callable[[], None]) -> pa.Table:
    arrays = []
    for column, field in zip(columns, ARROW_SCHEMA):
        arrays.append(pa.array(column, type=field.type))
        pause()
    return pa.Table.from_arrays(arrays, schema=ARROW_SCHEMA)


def _no_pause() -> None:
    """EventBuilder.pause outside the background writer: run on."""


def _each(values: tuple[Any, ...], convert: Callable[[Any], Any]) -> list[Any]:
    """``convert`` applied once per distinct value (columns repeat a handful of values)."""
    converted = {value: convert(value) for value in set(values)}
    return [converted[value] for value in values]


def _referral(referrer: str, host: str) -> tuple[str, str]:
    """(referrer, its domain), both '' for none and for internal navigation (the site's own host)."""
    if not referrer:
        return "", ""
    decoded = _decode(referrer)
    domain = referrer_domain(decoded)
    if domain and domain == _site_domain(host):
        return "", ""
    return decoded, domain


def _status(status: Any) -> int:
    return status if isinstance(status, int) and 0 <= status < 1000 else 0


@functools.lru_cache(maxsize=64)
def _site_domain(host: str) -> str:
    """The Host header as referrer_domain() would spell it (no port, no "www.")."""
    return referrer_domain("http://" + host) if host else ""
