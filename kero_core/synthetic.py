"""Synthetic but realistic traffic, as raw hits, for demos, example sites, benchmarks and tests.

The generator makes what the request thread would have captured (client IP, full User-Agent,
Accept-Language, Referer, query string) and leaves every enrichment (UA parsing, GeoIP, visitor
hashing, referrer and UTM parsing) to the background writer, so synthetic data takes exactly the
path of live traffic through the code.

    from kero_core.synthetic import generate
    kero.ingest(generate(1_000_000, days=30, seed=7, end=1_790_000_000.0))

The site's shape (pages, referrers, User-Agents, countries) depends only on the
:class:`SiteProfile`; the seed decides the traffic, so two seeds are two months of one site.
"""

from __future__ import annotations

import functools
import ipaddress
import itertools
import math
import random
import statistics
import time
from bisect import bisect, bisect_left
from collections import Counter
from dataclasses import dataclass
from operator import itemgetter
from typing import Iterator, NamedTuple, Sequence

from kero_core.capture import Hit, as_hit

SITE_HOST = "example.com"
SITE_URL = f"https://{SITE_HOST}"

_Net = tuple[int, int, bool]  # first address as an int, host bits, IPv6?

_CATALOG_SEED = 0x5EED  # the site's shape must not change with the traffic seed
_SLICE_MAX = 20_000  # hits generated per time slice: bounds memory for any size
_REVISITS_KEPT = 50_000  # visitors of the day kept for a second visit
_DAY = 86_400.0

# UTC hour-of-day and weekday (Monday first) activity of a site read in Europe and the Americas.
_HOURLY = (0.42, 0.36, 0.31, 0.27, 0.26, 0.29, 0.37, 0.50, 0.64, 0.75, 0.82, 0.87,
           0.91, 0.96, 1.00, 1.00, 0.97, 0.92, 0.86, 0.80, 0.73, 0.66, 0.57, 0.49)
_WEEKDAY = (1.00, 1.03, 1.01, 0.97, 0.90, 0.66, 0.71)


@dataclass(frozen=True)
class SiteProfile:
    """The shape of the simulated site. The defaults are a mid-size content site."""

    paths: int = 2000  # distinct page paths (1-100,000), Zipf popularity (s = 1.1), "/" first
    referrer_domains: int = 500  # (1-20,000) big sources first, then a long tail (+ campaigns' own)
    countries: int = 100  # whose real networks the IPs come from (capped by what GeoLite2 has, ~150)
    user_agents: int = 1200  # distinct User-Agents, about (capped by the built-in pool, ~2,000)
    visitors_per_day: int | None = None  # default: one visitor per 3.2 hits

    def __post_init__(self) -> None:
        for name, most in (("paths", 100_000), ("referrer_domains", 20_000), ("countries", 300),
                           ("user_agents", 100_000)):
            if not 1 <= getattr(self, name) <= most:
                raise ValueError(f"SiteProfile.{name} must be from 1 to {most:,}, got {getattr(self, name)!r}.")
        if self.visitors_per_day is not None and self.visitors_per_day < 1:
            raise ValueError(f"SiteProfile.visitors_per_day must be at least 1, got {self.visitors_per_day!r}.")


def generate(
    events: int,
    *,
    days: int = 30,
    seed: int = 1,
    end: float | None = None,
    site: SiteProfile | None = None,
) -> Iterator[Hit]:
    """Exactly ``events`` hits with ``ts`` in ``[end - days * 86400, end)``, in ascending ``ts``,
    as requests to ``https://example.com`` (:data:`SITE_HOST`) would be captured.

    Deterministic for given arguments (pass ``end``; it defaults to now). Hits are made lazily
    in time slices of at most ~20,000, so 30M events stream in constant memory. Arguments are
    checked at call time, not at the first ``next()``. The first call in a process spends ~0.3 s
    building the site's catalog (see :func:`_catalog`)."""
    if events < 0:
        raise ValueError(f"events must be 0 or more, got {events!r}.")
    if days <= 0:
        raise ValueError(f"days must be more than 0, got {days!r}.")
    end = time.time() if end is None else float(end)
    return itertools.chain.from_iterable(_slices(events, days, seed, end, site or SiteProfile()))


def generate_batches(
    events: int,
    *,
    days: int = 30,
    seed: int = 1,
    end: float | None = None,
    site: SiteProfile | None = None,
    batch_size: int = 50_000,
) -> Iterator[list[Hit]]:
    """The hits of :func:`generate` with the same arguments, in lists of ``batch_size``
    (the last one shorter), for batch writers and progress bars."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size!r}.")
    hits = generate(events, days=days, seed=seed, end=end, site=site)
    return iter(lambda: list(itertools.islice(hits, batch_size)), [])


def flood(events: int, *, end: float, hours: float = 1.0, ip: str = "81.2.69.160",
          distinct: int | None = None) -> Iterator[Hit]:
    """``events`` hits from one client (``ip``) evenly over the ``hours`` before ``end``, each
    unique in every free-text field: path, UTM source, medium and campaign, Referer and
    User-Agent (half unique bot names, half unique browser versions); one in three is a 404. What
    an anonymous client can send to swell the number of distinct values (issue 14). With
    ``distinct``, the fields take that many values only (the same load without the flood of values)."""
    if events < 0 or hours <= 0 or (distinct is not None and distinct < 1):
        raise ValueError(f"events must be 0 or more, hours more than 0 and distinct at least 1, "
                         f"got {events!r}, {hours!r} and {distinct!r}.")
    return _flood_hits(events, float(end) - hours * 3600, hours * 3600 / max(events, 1), ip, distinct or events or 1)


def _flood_hits(events: int, start: float, step: float, ip: str, distinct: int) -> Iterator[Hit]:
    for n in range(events):
        i = n % distinct
        agent = (f"Mozilla/5.0 (compatible; Crawler{i}bot/1.{i}; +https://bot{i}.example.net/)" if i % 2 else
                 f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                 f"Chrome/131.0.{i}.0 Safari/537.36")
        yield as_hit((start + n * step, "http_req", "GET", f"/flood/{i}",
                      f"utm_source=s{i}&utm_medium=m{i}&utm_campaign=c{i}", "", 404 if i % 3 == 0 else 200, 3.0,
                      ip, "", "", "", agent, "en", "gzip", f"https://ref{i}.example.org/page/{i}", None, 1.0,
                      SITE_HOST, ""))


# --------------------------------------------------------------------------- time and sessions


def _slices(events: int, days: int, seed: int, end: float, site: SiteProfile) -> Iterator[list[Hit]]:
    """Hit lists per time slice, sorted; a session that runs past its slice end is carried over."""
    rng = random.Random(seed)
    catalog = _catalog(site)
    visitors = site.visitors_per_day or max(1, round(events / days / 3.2))
    sessions = events / catalog.hits_per_session
    traffic = _Traffic(catalog, rng, reuse=max(0.0, 1.0 - visitors * days / max(sessions, 1.0)))
    carry: list[Hit] = []
    for t0, t1, quota in _quotas(events, end - days * _DAY, end, rng):
        out = carry
        traffic.fill(out, t0, t1, quota, end)
        out.sort(key=_TS)
        cut = bisect_left(out, t1, key=_TS)
        carry = out[cut:]
        del out[cut:]
        if out:
            yield out
    if carry:
        yield carry


_TS = itemgetter(0)


def _quotas(events: int, start: float, end: float, rng: random.Random) -> list[tuple[float, float, int]]:
    """Split ``events`` over UTC hours by hour/weekday activity and a little day-to-day noise
    (largest remainder, so they add up exactly); busy hours are cut into smaller slices."""
    edges = [start, *range(int(start // 3600 + 1) * 3600, math.ceil(end), 3600)]
    edges = [e for e in edges if e < end] + [end]
    noise: dict[int, float] = {}
    weights = []
    for t0, t1 in itertools.pairwise(edges):
        day = int(t0 // _DAY)
        if day not in noise:
            noise[day] = max(0.5, rng.gauss(1.0, 0.08))
        hour = int(t0 % _DAY // 3600)
        weekday = (day + 3) % 7  # 1970-01-01 was a Thursday
        weights.append(_HOURLY[hour] * _WEEKDAY[weekday] * noise[day] * (t1 - t0))
    total = sum(weights)
    shares = [events * w / total for w in weights]
    quotas = [int(s) for s in shares]
    by_remainder = sorted(range(len(shares)), key=lambda i: quotas[i] - shares[i])
    for i in by_remainder[: events - sum(quotas)]:
        quotas[i] += 1
    return [piece for (t0, t1), q in zip(itertools.pairwise(edges), quotas) for piece in _split(t0, t1, q)]


def _split(t0: float, t1: float, quota: int) -> list[tuple[float, float, int]]:
    parts = -(-quota // _SLICE_MAX) or 1
    step = (t1 - t0) / parts
    return [(t0 + i * step, t1 if i == parts - 1 else t0 + (i + 1) * step,
             quota * (i + 1) // parts - quota * i // parts) for i in range(parts)]


class _Visitor(NamedTuple):
    kind: int  # index into _KINDS
    ip: str
    user_agent: str
    accept_language: str
    accept_encoding: str


class _Kind(NamedTuple):
    share: float  # of all hits
    mean_pages: float  # geometric session length
    gap_median: float  # seconds between two pages
    not_found: float  # share of 404s on junk paths


HUMAN, BOT, LIBRARY, EMPTY = range(4)
_KINDS = (
    _Kind(0.927, 3.0, 25.0, 0.02),
    _Kind(0.050, 6.0, 4.0, 0.06),  # crawlers read many pages fast and probe for junk
    _Kind(0.020, 1.5, 8.0, 0.06),
    _Kind(0.003, 1.2, 8.0, 0.06),
)
# Status of a human page view: below _P_OK a 200 (or a POST on a form page), then these bands.
_P_OK = 0.93
_RARE_LIMITS, _RARE_STATUSES = (0.96, 0.975, 0.995), (304, 301, 404, 500)
_EVENT_EVERY = 90  # a custom event follows ~1 human page view in 90
_P_CAMPAIGN = 0.10  # sessions arriving with UTM parameters
_P_DIRECT = 0.42  # of the other sessions: no Referer (typed, bookmarked, from an app)
_FORM_POST = 0.4  # share of POSTs on form pages


class _Traffic:
    """One generation run: the seeded RNG, the site catalog and the visitors seen today.

    Session lengths, page gaps and durations come from quantile tables indexed by random bits:
    the hot loop then costs one Python-level random draw per choice, the budget for 300k hits/s."""

    def __init__(self, catalog: _Catalog, rng: random.Random, reuse: float) -> None:
        self.c = catalog
        self.rng = rng
        self.reuse = reuse  # share of sessions made by a visitor already seen today
        self.day = -1
        self.today: list[_Visitor] = []
        self.durations = _lognormal_table(40.0, 1.4, 4096)  # median 40 ms, p95 ~400 ms
        self.gaps = [_lognormal_table(k.gap_median, 1.0, 1024) for k in _KINDS]

    def fill(self, out: list[Hit], t0: float, t1: float, quota: int, end: float) -> None:
        """Append ``quota`` hits of sessions starting in ``[t0, t1)`` (and not past ``end``)."""
        rand = self.rng.random
        if int(t0 // _DAY) != self.day:
            self.day, self.today = int(t0 // _DAY), []
        while quota > 0:
            visitor = self._visitor()
            ts = t0 + rand() * (t1 - t0)
            if visitor.kind == HUMAN:
                quota -= self._human_session(out, visitor, ts, quota, end)
            else:
                quota -= self._machine_session(out, visitor, ts, quota, end)

    def _visitor(self) -> _Visitor:
        rand, c = self.rng.random, self.c
        if self.today and rand() < self.reuse:
            return self.today[int(rand() * len(self.today))]
        kind = bisect(c.kind_cum, rand())
        country = c.countries[bisect(c.country_cum, rand())]
        if kind == EMPTY:
            ua, ae, style, net = "", "", _CHROMIUM, None
        else:
            ua, ae, style, net = c.agents[kind][bisect(c.agent_cums[kind], rand())]
        if net is None:
            nets = country.v6 if country.v6 and kind == HUMAN and rand() < 0.3 else country.v4
            net = nets[int(rand() * len(nets))]
        language = ""
        if kind == HUMAN:
            language = _ENGLISH[style] if rand() < 0.15 else country.languages[style]
        visitor = _Visitor(kind, _address(net, self.rng), ua, language, ae)
        if len(self.today) < _REVISITS_KEPT:
            self.today.append(visitor)
        else:  # bounded memory on huge days: a revisit comes from a random sample of today's visitors
            self.today[int(rand() * _REVISITS_KEPT)] = visitor
        return visitor

    def _human_session(self, out: list[Hit], v: _Visitor, ts: float, budget: int, end: float) -> int:
        """Page views a few seconds to minutes apart: the entry page carries the external
        Referer (and the campaign), every later one the URL of the page before."""
        rand, bits = self.rng.random, self.rng.getrandbits
        paths, cum, durations, gaps = self.c.paths, self.c.path_cum, self.durations, self.gaps[HUMAN]
        append, hit, ok, host = out.append, as_hit, _P_OK, SITE_HOST  # locals: this loop makes most hits
        _, ip, ua, al, ae = v
        query, referrer = self._entry()
        event = int(rand() * _EVENT_EVERY)  # the page after which a custom event fires, mostly none
        pages = min(budget, self.c.lengths[HUMAN][bits(12)])
        events = 0  # an event fits in the budget only when the pages leave room for it
        for page in range(pages):
            if page:
                ts += gaps[bits(10)]
                if ts >= end:
                    return page + events
                referrer = url
            path, route, url, post = paths[bisect(cum, rand())]
            u = rand()
            if u < ok:
                append(hit((ts, "http_req", "POST" if u < post else "GET", path, query, route, 200,
                            durations[bits(12)], ip, "", "", "", ua, al, ae, referrer, None, 1.0, host, "")))
            else:
                path, route, url, status = self._rare(u, path, route, url)
                append(hit((ts, "http_req", "GET", path, query, route, status,
                            durations[bits(12)], ip, "", "", "", ua, al, ae, referrer, None, 1.0, host, "")))
            if query:
                url, query = f"{url}?{query}", ""
            if page == event and pages < budget:
                made = self._event(ts, v, url)
                if made.ts < end:
                    append(made)
                    events = 1
        return pages + events

    def _machine_session(self, out: list[Hit], v: _Visitor, ts: float, budget: int, end: float) -> int:
        """Bots, HTTP libraries and empty UAs: no referrer, campaign, language or custom event;
        crawlers read robots.txt and spread evenly over the site, scripts hit popular pages."""
        rng = self.rng
        rand, bits = rng.random, rng.getrandbits
        kind, paths, gaps = _KINDS[v.kind], self.c.paths, self.gaps[v.kind]
        pages = min(budget, self.c.lengths[v.kind][bits(12)])
        for page in range(pages):
            if page:
                ts += gaps[bits(10)]
                if ts >= end:
                    return page
            u = rand()
            if u < kind.not_found:
                path, route, status = _junk(rng, scanner=True), "", 404
            elif v.kind == BOT and u < kind.not_found + 0.05:
                path, route, status = rng.choice(_CRAWLER_FILES), "", 200
            else:
                pick = int(rand() * len(paths)) if v.kind == BOT else bisect(self.c.path_cum, rand())
                path, route, _, _ = paths[pick]
                status = 304 if u > 0.95 else 200
            out.append(as_hit((ts, "http_req", "GET", path, "", route, status, self.durations[bits(12)],
                             v.ip, "", "", "", v.user_agent, "", v.accept_encoding, "", None, 1.0, SITE_HOST, "")))
        return pages

    def _entry(self) -> tuple[str, str]:
        """Query string and Referer of a session's landing page: ~10% campaigns, ~40% direct."""
        rng = self.rng
        u = rng.random()
        if u < _P_CAMPAIGN:
            query, referrer, click_id = _CAMPAIGNS[bisect(self.c.campaign_cum, rng.random())]
            if click_id:
                name, prefix, length = click_id
                query += f"&{name}={prefix}{''.join(rng.choices(_TOKEN_CHARS, k=length))}"
            return query, referrer
        if u < _P_CAMPAIGN + (1.0 - _P_CAMPAIGN) * _P_DIRECT:
            return "", ""
        return "", self.c.referrers[bisect(self.c.referrer_cum, rng.random())]

    def _rare(self, u: float, path: str, route: str, url: str) -> tuple[str, str, str, int]:
        """A page view that is not a plain 200: revalidation, redirect, 404 on junk, or error."""
        status = _RARE_STATUSES[bisect(_RARE_LIMITS, u)]
        if status == 404:
            path = _junk(self.rng, scanner=False)
            return path, "", SITE_URL + path, 404
        return path, route, url, status

    def _event(self, ts: float, v: _Visitor, page_url: str) -> Hit:
        """A custom event the app records while serving a form post."""
        rng = self.rng
        if rng.random() < 0.7:
            plan = rng.choice(("free", "free", "pro", "team"))
            name, path, labels, value = "signup", "/signup", {"plan": plan}, 1.0
        else:
            plan, price = rng.choice((("pro", 29.0), ("pro", 29.0), ("team", 99.0), ("pro-yearly", 290.0)))
            name, path, labels, value = "purchase", "/checkout", {"plan": plan, "currency": "USD"}, price
        return as_hit((ts + 0.2 + rng.random() * 2.0, name, "POST", path, "", path, 200, None,
                     v.ip, "", "", "", v.user_agent, v.accept_language, v.accept_encoding, page_url, labels, value,
                     SITE_HOST, ""))


def _geometric_table(mean: float, size: int) -> list[int]:
    """Quantiles of a geometric distribution (1, 2, ...) with the given mean."""
    stay = 1.0 - 1.0 / mean
    return [1 + int(math.log(1.0 - (i + 0.5) / size) / math.log(stay)) if stay else 1 for i in range(size)]


def _lognormal_table(median: float, sigma: float, size: int) -> list[float]:
    """Quantiles of a log-normal: indexing with random bits samples it far faster than
    ``random.lognormvariate``."""
    normal = statistics.NormalDist()
    return [round(median * math.exp(sigma * normal.inv_cdf((i + 0.5) / size)), 2) for i in range(size)]


def _address(net: _Net, rng: random.Random) -> str:
    """A random host address inside a network (for IPv4, not its first or last address)."""
    base, host_bits, v6 = net
    if v6:
        x = base | rng.getrandbits(host_bits)
        # Hand formatting is ~5x faster than ipaddress; it is canonical unless zero groups
        # need "::" compression, which random host bits make rare.
        text = "%x:%x:%x:%x:%x:%x:%x:%x" % (x >> 112, x >> 96 & 0xFFFF, x >> 80 & 0xFFFF, x >> 64 & 0xFFFF,
                                            x >> 48 & 0xFFFF, x >> 32 & 0xFFFF, x >> 16 & 0xFFFF, x & 0xFFFF)
        return str(ipaddress.IPv6Address(x)) if ":0:0" in text else text
    x = base | (1 + int(rng.random() * ((1 << host_bits) - 2)))
    return f"{x >> 24}.{x >> 16 & 255}.{x >> 8 & 255}.{x & 255}"


_WORDS = ("analytics django flask python privacy server cookies deploy cache docker queries metrics "
          "dashboard postgres duckdb async testing scaling routing sessions forms security "
          "performance logging release migrations templates search pricing teams hosting api").split()
_VERBS = "build deploy test measure speed-up secure migrate debug monitor cache profile ship".split()
_TOKEN_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_CRAWLER_FILES = ("/robots.txt", "/robots.txt", "/sitemap.xml", "/feed.xml")
_SCANNER_PATHS = ("/wp-login.php", "/xmlrpc.php", "/.env", "/.git/config", "/wp-admin/", "/admin",
                  "/phpmyadmin/", "/config.json", "/backup.zip", "/api/v1/users", "/server-status")


def _junk(rng: random.Random, *, scanner: bool) -> str:
    """A path that does not exist: scanners probe for well-known files, people follow old links."""
    if scanner and rng.random() < 0.6:
        return rng.choice(_SCANNER_PATHS)
    a, b = rng.choice(_WORDS), rng.choice(_WORDS)
    return rng.choice((f"/blog/{a}-{b}-{rng.randrange(1, 99)}", f"/{a}.html", f"/docs/v1/{a}",
                       f"/products/{rng.randrange(10**7, 10**8)}", f"/{a}/{b}/", f"/p/{rng.getrandbits(32):x}"))


# --------------------------------------------------------------------------- the site's catalog


class _Country(NamedTuple):
    iso: str
    v4: Sequence[_Net]
    v6: Sequence[_Net]
    languages: tuple[str, str, str]  # Accept-Language as sent by Chromium, Firefox, Safari


@dataclass(frozen=True)
class _Catalog:
    paths: list[tuple[str, str, str, float]]  # path, route, URL, threshold below which it is a POST
    path_cum: list[float]
    referrers: list[str]
    referrer_cum: list[float]
    campaign_cum: list[float]
    kind_cum: list[float]
    agents: dict[int, list[tuple[str, str, int, _Net | None]]]  # UA, encoding, style, net
    agent_cums: dict[int, list[float]]
    countries: list[_Country]
    country_cum: list[float]
    lengths: list[list[int]]  # session lengths (pages) per kind, as quantile tables
    hits_per_session: float


def _cumulative(weights: Sequence[float]) -> list[float]:
    """Normalised running sums for ``bisect(cum, random())``; the last one is exactly 1.0 so
    the index is always in range."""
    total = sum(weights)
    cum = list(itertools.accumulate(w / total for w in weights))
    cum[-1] = 1.0
    return cum


def _zipf(n: int, s: float) -> list[float]:
    """Power-law weights by rank: the shape of page, referrer and country popularity."""
    return [1.0 / (rank ** s) for rank in range(1, n + 1)]


@functools.lru_cache(maxsize=8)
def _catalog(site: SiteProfile) -> _Catalog:
    """The site's shape for a profile, built once per process (~0.5 s, mostly the GeoLite2 probe)."""
    rng = random.Random(_CATALOG_SEED)
    paths = _site_paths(site.paths, rng)
    referrers, referrer_weights = _referrer_urls(site.referrer_domains, rng)
    agents = {kind: _user_agents(kind, site.user_agents) for kind in (HUMAN, BOT, LIBRARY)}
    countries = _countries(site.countries)
    lengths = [_geometric_table(k.mean_pages, 4096) for k in _KINDS]
    hits = [statistics.fmean(t) * (1.0 + (i == HUMAN) / _EVENT_EVERY) for i, t in enumerate(lengths)]
    return _Catalog(
        paths=paths,
        path_cum=_cumulative(_zipf(len(paths), 1.1)),
        referrers=referrers,
        referrer_cum=_cumulative(referrer_weights),
        campaign_cum=_cumulative([c[3] for c in _CAMPAIGN_TABLE]),
        kind_cum=_cumulative([k.share / h for k, h in zip(_KINDS, hits)]),
        agents={kind: [a[1:] for a in entries] for kind, entries in agents.items()},
        agent_cums={kind: _cumulative([a[0] for a in entries]) for kind, entries in agents.items()},
        countries=countries,
        country_cum=_cumulative(_zipf(len(countries), 1.1)),
        lengths=lengths,
        hits_per_session=1.0 / sum(k.share / h for k, h in zip(_KINDS, hits)),
    )


_FIXED_PAGES = ("/", "/pricing", "/blog", "/docs", "/features", "/about", "/signup", "/login",
                "/changelog", "/contact", "/products", "/search", "/careers", "/privacy", "/terms",
                "/checkout", "/newsletter")
_FORMS = {"/signup", "/login", "/contact", "/checkout", "/newsletter"}


def _site_paths(n: int, rng: random.Random) -> list[tuple[str, str, str, float]]:
    """Fixed pages (most popular first), then templated pages in random popularity order."""
    fixed = [(p, p) for p in _FIXED_PAGES[:n]]
    templated: dict[str, str] = {}
    while len(fixed) + len(templated) < n:
        a, b, c = rng.choice(_VERBS), rng.choice(_WORDS), rng.choice(_WORDS)
        u = rng.random()
        if u < 0.45:
            path, route = f"/blog/how-to-{a}-{b}-with-{c}", "/blog/<slug>"
        elif u < 0.70:
            path, route = f"/docs/{b}/{c}", "/docs/<path:page>"
        elif u < 0.90:
            path, route = f"/products/{rng.randrange(100, 100 + 50 * n)}", "/products/<int:id>"
        elif u < 0.95:
            path, route = f"/blog/tag/{b}", "/blog/tag/<tag>"
        else:
            path, route = f"/authors/{b}-{c}{rng.randrange(100)}", "/authors/<name>"
        templated.setdefault(path, route)
    pages = fixed + rng.sample(sorted(templated.items()), len(templated))
    return [(p, r, SITE_URL + p, _P_OK * _FORM_POST if p in _FORMS else 0.0) for p, r in pages]


# (weight, referrer URLs as browsers send them: mostly the origin only, per the default policy)
_BIG_REFERRERS = (
    (45, ("https://www.google.com/",)), (7, ("https://www.bing.com/",)), (4, ("https://duckduckgo.com/",)),
    (5, ("https://news.ycombinator.com/",)), (5, ("https://www.reddit.com/", "https://old.reddit.com/")),
    (3, ("https://t.co/Xz3kPq9LmA", "https://t.co/a8Jd02mQvR", "https://t.co/0pLkE5zWcT")),
    (3, ("https://l.facebook.com/", "https://m.facebook.com/")), (3, ("https://www.linkedin.com/",)),
    (3, ("https://github.com/",)), (2, ("https://www.google.de/",)), (2, ("https://www.google.co.uk/",)),
    (1.5, ("https://search.yahoo.com/",)), (1.5, ("https://yandex.ru/",)), (1.2, ("https://www.ecosia.org/",)),
    (1.2, ("https://search.brave.com/",)), (1, ("https://stackoverflow.com/",)),
    (1, ("https://www.youtube.com/",)), (1, ("https://chatgpt.com/",)), (0.8, ("https://www.baidu.com/",)),
    (0.8, ("https://dev.to/",)), (0.8, ("https://medium.com/",)), (0.6, ("https://lobste.rs/",)),
    (0.6, ("https://www.producthunt.com/",)), (0.5, ("https://www.perplexity.ai/",)),
    (0.5, ("https://www.instagram.com/",)),
)
_TLDS = ("com", "com", "com", "dev", "io", "org", "net", "de", "co.uk", "fr", "blog")


def _referrer_urls(n: int, rng: random.Random) -> tuple[list[str], list[float]]:
    """Referrer URLs and weights: the big sources, then a long tail of blogs and forums."""
    urls: list[str] = []
    weights: list[float] = []
    for weight, choices in _BIG_REFERRERS[:n]:
        urls += choices
        weights += [weight / len(choices)] * len(choices)
    domains: set[str] = set()
    while len(domains) < n - min(n, len(_BIG_REFERRERS)):
        domains.add(f"{rng.choice(('', '', 'blog.', 'www.'))}{rng.choice(_WORDS)}"
                    f"{rng.choice(_WORDS + _VERBS)}.{rng.choice(_TLDS)}")
    for rank, domain in enumerate(rng.sample(sorted(domains), len(domains)), 1):
        origin = f"https://{domain}/"
        if rng.random() < 0.2:  # some sites send the full page URL
            origin += f"{rng.choice(_WORDS)}-{rng.choice(_WORDS)}"
        urls.append(origin)
        weights.append(2.5 / rank)
    return urls, weights


# (query, Referer, click id (name, prefix, random characters) or None, weight)
_CAMPAIGN_TABLE = (
    ("utm_source=newsletter&utm_medium=email&utm_campaign=spring-sale", "", None, 25),
    ("utm_source=newsletter&utm_medium=email&utm_campaign=weekly-digest&utm_content=header", "", None, 10),
    ("utm_source=twitter&utm_medium=social&utm_campaign=launch-week", "https://t.co/Xz3kPq9LmA", None, 15),
    ("utm_source=google&utm_medium=cpc&utm_campaign=brand-search&utm_term=web+analytics",
     "https://www.google.com/", ("gclid", "Cj0KCQjw", 60), 15),
    ("utm_source=facebook&utm_medium=paid_social&utm_campaign=retargeting", "https://l.facebook.com/",
     ("fbclid", "IwAR", 56), 8),
    ("utm_source=bing&utm_medium=cpc&utm_campaign=brand-search", "https://www.bing.com/", ("msclkid", "", 32), 5),
    ("utm_source=linkedin&utm_medium=social&utm_campaign=webinar", "https://www.linkedin.com/", None, 6),
    ("utm_source=reddit&utm_medium=social&utm_campaign=show-off", "https://www.reddit.com/", None, 4),
    ("utm_source=producthunt&utm_medium=referral&utm_campaign=launch", "https://www.producthunt.com/", None, 4),
    ("utm_source=partner&utm_medium=affiliate&utm_campaign=black-friday", "", None, 4),
)
_CAMPAIGNS = [c[:3] for c in _CAMPAIGN_TABLE]



# --------------------------------------------------------------------------- User-Agents

# Newest stable majors when these tables were written; older versions follow with decaying share.
_CHROME, _EDGE, _FIREFOX, _SAMSUNG, _OPERA = 141, 141, 144, 28, 122
_IOS = ("18_6", "18_5", "18_6_2", "18_4_1", "18_3_2", "17_6_1", "18_1_1", "17_7", "16_7_10",
        "17_5_1", "15_8_3", "16_6_1")  # by share
_MAC_SAFARI = ("18.6", "18.5", "26.0", "18.4", "17.6", "18.3", "17.5", "16.6")
_ANDROID_BUILDS = {"15": "AP3A.240905.015", "14": "UP1A.231005.007", "13": "TP1A.220624.014",
                   "12": "SP1A.210812.016", "11": "RP1A.200720.012", "10": "QP1A.190711.020"}
_PHONES = ("SM-S928B", "SM-A546B", "SM-S921B", "Pixel 8", "SM-A155F", "SM-G991B", "Pixel 7a", "SM-A536B",
           "2201117TG", "SM-S918B", "23129RAA4G", "CPH2581", "SM-A256B", "Pixel 9 Pro", "M2101K6G",
           "moto g54 5G", "RMX3630", "SM-A145R", "V2250", "CPH2451", "Pixel 6", "22101316G", "SM-G780G",
           "motorola edge 40", "NE2213", "moto g(60)", "IN2013", "TECNO KI5q", "Infinix X6833B", "ELS-NX9")
_TABLETS = ("SM-X710", "SM-X200", "SM-T220", "Lenovo TB-X606F", "SM-P610")
_CHROMIUM, _GECKO, _WEBKIT = range(3)  # how the browser formats Accept-Language
_ENCODINGS = ("gzip, deflate, br, zstd", "gzip, deflate, br, zstd", "gzip, deflate, br")

# (weight, UA, network the operator crawls from or "")
_BOTS = (
    (30, "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "66.249.64.0/19"),
    (20, "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/141.0.7390.122 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
     "66.249.64.0/19"),
    (12, "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "157.55.39.0/24"),
    (8, "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", "54.36.148.0/23"),
    (6, "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)", ""),
    (5, "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)", "5.255.231.0/24"),
    (4, "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)", "17.241.208.0/20"),
    (4, "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)", ""),
    (3, "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)", ""),
    (3, "DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)", ""),
    (3, "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)", "116.179.32.0/24"),
    (2, "Mozilla/5.0 (compatible; MJ12bot/v1.4.8; http://mj12bot.com/)", ""),
    (2, "Mozilla/5.0 (compatible; DotBot/1.2; +https://opensiteexplorer.org/dotbot; help@moz.com)", ""),
    (2, "Mozilla/5.0 (Linux; Android 7.0;) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 "
        "(compatible; PetalBot;+https://webmaster.petalsearch.com/site/petalbot)", ""),
    (2, "Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 "
        "(compatible; Bytespider; spider-feedback@bytedance.com)", ""),
    (2, "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", ""),
    (1, "Twitterbot/1.0", ""),
    (1, "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)", ""),
    (2, "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)", ""),
    (1, "Mozilla/5.0 (compatible; Yahoo! Slurp; http://help.yahoo.com/help/us/ysearch/slurp)", ""),
)
# (weight, UA, Accept-Encoding the client sends)
_LIBRARIES = (
    (12, "curl/8.5.0", ""), (8, "curl/7.81.0", ""), (5, "curl/8.7.1", ""),
    (10, "python-requests/2.31.0", "gzip, deflate"), (8, "python-requests/2.32.3", "gzip, deflate"),
    (12, "Go-http-client/1.1", "gzip"), (4, "Go-http-client/2.0", "gzip"), (4, "Wget/1.21.4", "identity"),
    (5, "okhttp/4.12.0", "gzip"), (5, "axios/1.7.7", "gzip, compress, deflate, br"),
    (3, "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)", "gzip,deflate"),
    (3, "Python-urllib/3.11", "identity"), (2, "Java/17.0.2", ""), (3, "PostmanRuntime/7.42.0", "gzip, deflate, br"),
    (2, "HTTPie/3.2.2", "gzip, deflate"), (3, "python-httpx/0.27.2", "gzip, deflate"),
    (3, "Python/3.12 aiohttp/3.10.10", "gzip, deflate"),
)

_Agent = tuple[float, str, str, int, _Net | None]  # weight, UA, Accept-Encoding, language style, network
_Group = tuple[float, int, list[tuple[float, str]]]  # share of people's hits, language style, (weight, UA)


def _user_agents(kind: int, wanted: int) -> list[_Agent]:
    """The weighted User-Agents of one kind of client; people's browsers are trimmed (each
    group keeps its most common strings and its share) so that all kinds together make about
    ``wanted`` distinct strings."""
    if kind == BOT:
        return [(w, ua, "gzip, deflate, br", _CHROMIUM, _network(net) if net else None) for w, ua, net in _BOTS]
    if kind == LIBRARY:
        return [(w, ua, ae, _CHROMIUM, None) for w, ua, ae in _LIBRARIES]
    groups = _chromium_groups() + _apple_and_gecko_groups()
    pool = sum(len(variants) for _, _, variants in groups)
    target = max(len(groups), wanted - len(_BOTS) - len(_LIBRARIES) - 1)
    agents: list[_Agent] = []
    for share, style, variants in groups:
        keep = sorted(variants, key=lambda v: -v[0])[: max(1, round(len(variants) * target / pool))]
        total = sum(w for w, _ in keep)
        agents += [(share * w / total, ua, _ENCODINGS[style], style, None) for w, ua in keep]
    return agents


def _versions(latest: int, count: int, decay: float) -> list[tuple[int, float]]:
    """The last ``count`` major versions, newest first, each ``decay`` times as common as the next."""
    return [(latest - k, decay ** k) for k in range(count)]


def _chrome_full(major: int, patch: int) -> str:
    """A plausible full Chrome version: the build number grows ~62 per major."""
    return f"{major}.0.{6099 + 62 * (major - 120)}.{(major * 37 + patch * 53) % 180 + 20}"


_KHTML = "AppleWebKit/537.36 (KHTML, like Gecko)"
_WINDOWS = "Windows NT 10.0; Win64; x64"


def _chromium_groups() -> list[_Group]:
    """Chrome on every platform (reduced UAs, plus Android WebViews with full versions and
    device models), Edge, Opera and Samsung Internet: ~75% of people's hits."""
    chrome = _versions(_CHROME, 12, 0.7)
    android = list(_ANDROID_BUILDS)
    samsungs = [m for m in _PHONES if m.startswith("SM-")]
    legacy = [(0.01, f"Mozilla/5.0 (Windows NT 6.{m}; Win64; x64) {_KHTML} Chrome/109.0.5414.{p} Safari/537.36")
              for m in (1, 3) for p in (120, 165)]  # Windows 7 and 8.1 stay on Chrome 109
    desktop = [(share, _CHROMIUM, [(w, f"Mozilla/5.0 ({os}) {_KHTML} Chrome/{v}.0.0.0 Safari/537.36")
                                   for v, w in chrome])
               for os, share in ((_WINDOWS, 25.0), ("Macintosh; Intel Mac OS X 10_15_7", 8.0),
                                 ("X11; Linux x86_64", 2.0))]
    desktop[0][2].extend(legacy)
    return desktop + [
        (0.5, _CHROMIUM, [(w, f"Mozilla/5.0 (X11; CrOS x86_64 {15662 + 55 * (v - 120)}.{p}.0) {_KHTML} "
                              f"Chrome/{v}.0.0.0 Safari/537.36") for v, w in chrome for p in (0, 58)]),
        (16.0, _CHROMIUM, [(w, f"Mozilla/5.0 (Linux; Android 10; K) {_KHTML} Chrome/{v}.0.0.0 Mobile Safari/537.36")
                           for v, w in chrome]),
        (8.0, _CHROMIUM, [(w / (i + 1) ** 0.6 * (1.0 if a == android[i % 3] else 0.6),
                           f"Mozilla/5.0 (Linux; Android {a}; {model} Build/{_ANDROID_BUILDS[a]}; wv) {_KHTML} "
                           f"Version/4.0 Chrome/{_chrome_full(v, p)} Mobile Safari/537.36")
                          for i, model in enumerate(_PHONES) for a in (android[i % 3], android[i % 3 + 2])
                          for v, w in chrome[:8] for p in range(3)]),
        (1.0, _CHROMIUM, [(w / (i + 1), f"Mozilla/5.0 (Linux; Android {a}; {tablet}) {_KHTML} "
                                        f"Chrome/{v}.0.0.0 Safari/537.36")  # no "Mobile": a tablet
                          for i, tablet in enumerate(_TABLETS) for a in android[1:3] for v, w in chrome[:4]]),
        (5.0, _CHROMIUM, [(w / (b + 1), f"Mozilla/5.0 ({_WINDOWS}) {_KHTML} Chrome/{v}.0.0.0 Safari/537.36 "
                                        f"Edg/{v}.0.{3485 + 60 * (v - _EDGE)}.{(v * 17 + b * 29) % 120}")
                          for v, w in _versions(_EDGE, 10, 0.65) for b in range(3)]),
        (1.0, _CHROMIUM, [(w, f"Mozilla/5.0 ({_WINDOWS}) {_KHTML} Chrome/{o + 15}.0.0.0 Safari/537.36 OPR/{o}.0.0.0")
                          for o, w in _versions(_OPERA, 6, 0.6)]),
        (3.0, _CHROMIUM, [(w / (i + 1) ** 0.6, f"Mozilla/5.0 (Linux; Android {a}; {model}) {_KHTML} "
                                               f"SamsungBrowser/{s}.0 Chrome/{2 * s + 76}.0.0.0 Mobile Safari/537.36")
                          for i, model in enumerate(samsungs) for a in android[:3]
                          for s, w in _versions(_SAMSUNG, 5, 0.6)]),
    ]


def _apple_and_gecko_groups() -> list[_Group]:
    """Safari on iPhone, iPad and Mac, Chrome and Firefox on iOS, Firefox elsewhere: ~25%."""
    ios = [(o, 1.0 / (rank ** 0.8)) for rank, o in enumerate(_IOS, 1)]
    iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS {} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko)"
    firefox_os = (("Windows NT 10.0; Win64; x64", 1.0), ("Macintosh; Intel Mac OS X 10.15", 0.4),
                  ("X11; Linux x86_64", 0.3), ("X11; Ubuntu; Linux x86_64", 0.15))
    firefox = [*_versions(_FIREFOX, 10, 0.6), (140, 0.1), (128, 0.05), (115, 0.03)]  # the last three: ESR
    return [
        (15.0, _WEBKIT, [(w, f"{iphone.format(o)} Version/{o.replace('_', '.')} Mobile/15E148 Safari/604.1")
                         for o, w in ios]),
        (2.5, _WEBKIT, [(wi * wv, f"{iphone.format(o)} CriOS/{_chrome_full(v, 1)} Mobile/15E148 Safari/604.1")
                        for o, wi in ios for v, wv in _versions(_CHROME, 8, 0.7)]),
        (0.6, _WEBKIT, [(w, f"{iphone.format(o)} FxiOS/{_FIREFOX - k}.0 Mobile/15E148 Safari/605.1.15")
                        for o, w in ios for k in range(3)]),
        (2.0, _WEBKIT, [(w, f"Mozilla/5.0 (iPad; CPU OS {o} like Mac OS X) AppleWebKit/605.1.15 "
                            f"(KHTML, like Gecko) Version/{o.replace('_', '.')} Mobile/15E148 Safari/604.1")
                        for o, w in ios[:8]]),
        (4.5, _WEBKIT, [(1.0 / (rank ** 0.8), f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
                                               f"(KHTML, like Gecko) Version/{v} Safari/605.1.15")
                        for rank, v in enumerate(_MAC_SAFARI, 1)]),
        (3.0, _GECKO, [(w * ow, f"Mozilla/5.0 ({os}; rv:{v}.0) Gecko/20100101 Firefox/{v}.0")
                       for os, ow in firefox_os for v, w in firefox]),
        (0.5, _GECKO, [(w, f"Mozilla/5.0 (Android {a}; Mobile; rv:{v}.0) Gecko/{v}.0 Firefox/{v}.0")
                       for a in list(_ANDROID_BUILDS)[:4] for v, w in _versions(_FIREFOX, 5, 0.6)]),
    ]


# --------------------------------------------------------------------------- countries and networks

# Countries roughly by their share of an English-language site's visitors; the rest follow by size.
_COUNTRY_RANK = ("US IN GB DE CA FR BR AU NL ES IT JP PL SE CN RU MX KR CH TR ID UA BE AT SG IE DK NO FI "
                 "PT CZ AR CO ZA IL PH VN TW HK NZ RO GR HU NG PK BD EG MY TH CL").split()
_LANGUAGE_OF = {cc: lang for lang, ccs in {
    "de": "DE AT CH LI LU", "fr": "FR BE MC SN CI MA DZ TN", "pt": "BR PT AO MZ", "it": "IT SM", "nl": "NL",
    "es": "ES MX AR CO CL PE VE EC GT CU BO DO HN PY SV NI CR PA UY", "pl": "PL", "sv": "SE", "da": "DK",
    "nb": "NO", "fi": "FI", "cs": "CZ", "sk": "SK", "hu": "HU", "ro": "RO MD", "bg": "BG", "el": "GR CY",
    "tr": "TR", "ru": "RU BY KZ KG", "uk": "UA", "ja": "JP", "ko": "KR", "zh": "CN TW HK MO", "id": "ID",
    "vi": "VN", "th": "TH", "ms": "MY", "he": "IL", "ar": "EG SA AE IQ JO KW QA", "fa": "IR", "hr": "HR",
    "sr": "RS", "sl": "SI", "lt": "LT", "lv": "LV", "et": "EE",
}.items() for cc in ccs.split()}
_ENGLISH = ("en-US,en;q=0.9", "en-US,en;q=0.5", "en-US")  # by _CHROMIUM, _GECKO, _WEBKIT
# Public /8 blocks used, without any country, when the GeoLite2 package is not installed.
_FALLBACK_BLOCKS = (3, 13, 23, 31, 45, 62, 77, 81, 84, 91, 104, 142, 151, 176, 185, 188, 193, 212, 217)
_PROBES_V4, _PROBES_V6 = 16_000, 20_000
_RIR_V6 = (0x2400, 0x2600, 0x2800, 0x2A00, 0x2C00)  # the /12 blocks the regional registries allocate from
_KEEP_V4, _KEEP_V6 = 6, 4  # networks kept per country


def _network(cidr: str) -> _Net:
    net = ipaddress.ip_network(cidr)
    return int(net.network_address), net.max_prefixlen - net.prefixlen, net.version == 6


def _languages(iso: str) -> tuple[str, str, str]:
    lang = _LANGUAGE_OF.get(iso, "en")
    tag = f"{lang}-{iso}" if iso else "en-US"
    if lang == "en":
        return f"{tag},en;q=0.9", f"{tag},en;q=0.5", tag
    return (f"{tag},{lang};q=0.9,en-US;q=0.8,en;q=0.7", f"{tag},{lang};q=0.8,en-US;q=0.5,en;q=0.3",
            f"{tag},{lang};q=0.9")


def _countries(n: int) -> list[_Country]:
    """The ``n`` countries visitors come from, most visitors first, with real networks of each."""
    found = _geo_networks()
    if not found:
        return [_Country("", [(b << 24, 24, False) for b in _FALLBACK_BLOCKS], (), _languages(""))]
    ranked = [cc for cc in _COUNTRY_RANK if cc in found]
    ranked += sorted(set(found) - set(ranked), key=lambda cc: (-found[cc][0], cc))
    return [_Country(cc, found[cc][1], found[cc][2], _languages(cc)) for cc in ranked[:n]]


@functools.cache
def _geo_networks() -> dict[str, tuple[int, list[_Net], list[_Net]]]:
    """Country -> (probes that landed there, IPv4 networks, IPv6 networks) from the GeoLite2-City
    database, or {} without it. Walking the whole database takes ~50 s, so this looks up a fixed
    sequence of random addresses instead (~0.4 s); a country's share of hits follows its share of
    the address space, which is only used to order the countries outside _COUNTRY_RANK."""
    try:
        import maxminddb
        from _maxminddb_geolite2 import geolite2_database
    except ImportError:
        return {}
    rng = random.Random(_CATALOG_SEED)
    hits: Counter[str] = Counter()
    nets: dict[str, tuple[list[_Net], list[_Net]]] = {}
    with maxminddb.open_database(geolite2_database()) as reader:
        probes = itertools.chain(
            (ipaddress.IPv4Address(rng.getrandbits(32)) for _ in range(_PROBES_V4)),
            (ipaddress.IPv6Address((rng.choice(_RIR_V6) | rng.getrandbits(4)) << 112 | rng.getrandbits(112))
             for _ in range(_PROBES_V6)),
        )
        for address in probes:
            record, prefix = reader.get_with_prefix_len(address)
            iso = isinstance(record, dict) and record.get("country", {}).get("iso_code")
            host_bits = address.max_prefixlen - prefix
            if not iso or host_bits < 2:
                continue
            hits[iso] += 1
            v4, v6 = nets.setdefault(iso, ([], []))
            kept, keep = (v6, _KEEP_V6) if address.version == 6 else (v4, _KEEP_V4)
            if len(kept) < keep:
                kept.append((int(address) >> host_bits << host_bits, host_bits, address.version == 6))
    return {iso: (hits[iso], v4, v6) for iso, (v4, v6) in nets.items() if v4}
