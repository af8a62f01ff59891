"""Turn a batch of raw hits into an Arrow table of stored events (background writer only).

This is where the IP and the full User-Agent stop: they feed the visitor hash, the GeoIP
lookup and the User-Agent parser, and only what those produce goes into the table."""

from __future__ import annotations

import functools
import json
import math
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import pyarrow as pa

from kero_core.capture import MAX_LABEL, MAX_LABELS, Hit
from kero_core.config import Config
from kero_core.enrich import (
    EMPTY_CAMPAIGN,
    AgentParser,
    GeoLookup,
    SaltStore,
    VisitorIds,
    campaign,
    client_ip,
    decode_path,
    referrer_domain,
)
from kero_core.schema import ARROW_SCHEMA, COLUMN_NAMES

_NO_GEO = ("", "", "")
_decode = functools.lru_cache(maxsize=50_000)(decode_path)  # paths and referrers repeat a lot


def _bounded_text(value: Any) -> str:
    return str(value).encode("utf-8", "replace").decode("utf-8")[:MAX_LABEL]


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
    """Enriches hits with the parsers, caches and salts of one process."""

    def __init__(self, config: Config, ignored_agents: list[str], salts_folder: Path,
                 clock: Callable[[], float] = time.time) -> None:
        self.agents = AgentParser(ignored_agents)
        self.geo = GeoLookup(config.geoip_db)
        self.visitors = VisitorIds(SaltStore(salts_folder), clock=clock)
        self.trusted_proxies = config.trusted_proxies
        self.ignore_bots = config.ignore_bots
        self.measure_requests = config.measure_requests

    def close(self) -> None:
        self.geo.close()

    def build(self, hits: Iterable[Hit]) -> pa.Table:
        """The stored events of ``hits`` (bots left out when ``ignore_bots``)."""
        rows = [row for row in map(self._row, hits) if row is not None]
        columns = zip(*rows) if rows else ([] for _ in COLUMN_NAMES)
        arrays = [pa.array(column, type=field.type) for column, field in zip(columns, ARROW_SCHEMA)]
        return pa.Table.from_arrays(arrays, schema=ARROW_SCHEMA)

    def _row(self, hit: Hit) -> tuple[Any, ...] | None:
        ts_us = int(hit.ts * 1_000_000)
        labels = labels_json(hit.labels)
        value = _finite(hit.value, 1.0)
        if not hit.method:  # a custom event recorded without a request: nothing to enrich
            return (ts_us, hit.name, "", "", "", 0, None, 0, "", "", "", "", "", "", False,
                    "", "", "", "", "", "", "", "", "", "", "", labels, value)
        agent = self.agents.parse(hit.user_agent)
        if agent.is_bot and self.ignore_bots:
            return None
        ip = client_ip(hit.remote_addr, hit.forwarded_for, hit.cf_connecting_ip, hit.real_ip, self.trusted_proxies)
        visitor = self.visitors.visitor_id(hit.ts, ip, hit.user_agent, hit.accept_language, hit.accept_encoding)
        country, region, city = self.geo.lookup(ip) if ip else _NO_GEO
        referrer = _decode(hit.referrer) if hit.referrer else ""
        domain = referrer_domain(referrer) if referrer else ""
        if domain and domain == _site_domain(hit.host):
            referrer = domain = ""  # internal navigation is not a referral
        utm = campaign(hit.query) if hit.query else EMPTY_CAMPAIGN
        duration = None
        if self.measure_requests and hit.duration_ms is not None:
            duration = max(0.0, _finite(hit.duration_ms, 0.0))
        return (
            ts_us, hit.name, hit.method, _decode(hit.path), hit.route, _status(hit.status), duration,
            visitor, agent.browser, agent.browser_version, agent.os, agent.os_version, agent.device,
            agent.form_factor, agent.is_bot, referrer, domain, utm.utm_source, utm.utm_medium,
            utm.utm_campaign, utm.utm_term, utm.utm_content, utm.click_id, country, region, city,
            labels, value,
        )


def _status(status: Any) -> int:
    return status if isinstance(status, int) and 0 <= status < 1000 else 0


@functools.lru_cache(maxsize=64)
def _site_domain(host: str) -> str:
    """The Host header as referrer_domain() would spell it (no port, no "www.")."""
    return referrer_domain("http://" + host) if host else ""
