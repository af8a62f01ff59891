"""The synthetic traffic generator: the contract (count, bounds, order, determinism, batches),
valid hits, and the realism the demo, the example sites and the benchmarks rely on, checked with
the real ua-parser and the real GeoLite2 database."""

from __future__ import annotations

import ipaddress
import random
import re
import statistics
import sys
import time
from collections import Counter, defaultdict
from datetime import datetime, timezone
from typing import Callable, Iterator

import maxminddb
import pytest
from _maxminddb_geolite2 import geolite2_database
from ua_parser import parse

from kero_core import synthetic
from kero_core.capture import MAX_PATH, MAX_QUERY, MAX_REFERRER, MAX_USER_AGENT, Hit
from kero_core.synthetic import SITE_HOST, SiteProfile, flood, generate, generate_batches

END = datetime(2026, 11, 10, 12, 34, 56, 500_000, tzinfo=timezone.utc).timestamp()  # mid-hour on purpose
INTERNAL = f"https://{SITE_HOST}/"


@pytest.fixture(scope="module")
def hits() -> list[Hit]:
    return list(generate(50_000, days=14, seed=11, end=END))


@pytest.fixture(scope="module")
def spiders(hits: list[Hit]) -> set[str]:
    """User-Agents that ua-parser itself calls crawlers."""
    return {ua for ua in {h.user_agent for h in hits} if ua and parse(ua).with_defaults().device.family == "Spider"}


@pytest.fixture(scope="module")
def people(hits: list[Hit], spiders: set[str]) -> list[Hit]:
    """Hits from browsers (not crawlers, HTTP libraries or empty User-Agents)."""
    return [h for h in hits if h.user_agent.startswith("Mozilla/5.0 (") and h.user_agent not in spiders]


def _url(hit: Hit) -> str:
    return f"https://{SITE_HOST}{hit.path}" + (f"?{hit.query}" if hit.query else "")


def _share(hits: list[Hit], predicate: Callable[[Hit], bool]) -> float:
    return sum(1 for h in hits if predicate(h)) / len(hits)


# -- the contract ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("events", "days"), [(0, 1), (1, 1), (7, 30), (1_234, 1), (3_000, 3)])
def test_exact_count_within_bounds_in_ascending_order(events: int, days: int) -> None:
    made = list(generate(events, days=days, seed=5, end=END))
    assert len(made) == events
    assert all(END - days * 86_400 <= h.ts < END for h in made)
    assert all(a.ts <= b.ts for a, b in zip(made, made[1:]))


def test_the_large_sample_is_bounded_and_ordered(hits: list[Hit]) -> None:
    assert len(hits) == 50_000
    assert min(h.ts for h in hits) >= END - 14 * 86_400 and max(h.ts for h in hits) < END
    assert all(a.ts <= b.ts for a, b in zip(hits, hits[1:]))


@pytest.mark.parametrize("events", [0, 5, 1_000_000])
def test_time_slices_cover_the_range_and_bound_memory(events: int) -> None:
    """Busy hours are cut so that no slice holds more than ~20,000 hits, and the quotas add up."""
    slices = synthetic._quotas(events, END - 86_400, END, random.Random(1))
    assert sum(q for _, _, q in slices) == events
    assert slices[0][0] == END - 86_400 and slices[-1][1] == END
    assert all(a[1] == b[0] for a, b in zip(slices, slices[1:]))
    assert max(q for _, _, q in slices) <= synthetic._SLICE_MAX


def test_same_arguments_same_hits_other_seed_other_hits() -> None:
    first = list(generate(5_000, days=3, seed=4, end=END))
    assert first == list(generate(5_000, days=3, seed=4, end=END))
    other = list(generate(5_000, days=3, seed=5, end=END))
    assert other != first
    assert len({h.remote_addr for h in first} & {h.remote_addr for h in other}) < 500


def test_end_defaults_to_now() -> None:
    before = time.time()
    made = list(generate(100, days=2, seed=1))
    assert len(made) == 100
    assert all(before - 2 * 86_400 <= h.ts < time.time() for h in made)


def test_batches_hold_the_same_hits() -> None:
    batches = list(generate_batches(10_001, days=2, seed=3, end=END, batch_size=1_000))
    assert [len(b) for b in batches] == [1_000] * 10 + [1]
    assert [h for b in batches for h in b] == list(generate(10_001, days=2, seed=3, end=END))
    assert list(generate_batches(0, end=END)) == []


@pytest.mark.parametrize(
    "call",
    [
        lambda: generate(-1),
        lambda: generate(10, days=0),
        lambda: generate_batches(10, batch_size=0),
        lambda: SiteProfile(paths=0),
        lambda: SiteProfile(paths=100_001),
        lambda: SiteProfile(visitors_per_day=0),
        lambda: flood(-1, end=END),
        lambda: flood(10, end=END, hours=0),
        lambda: flood(10, end=END, distinct=0),
    ],
)
def test_bad_arguments_fail_at_call_time(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError):
        call()


def test_a_flood_is_unique_in_every_free_text_field_and_within_its_hours() -> None:
    hits = list(flood(1000, end=END, hours=2))
    assert len(hits) == 1000
    assert all(END - 7200 <= h.ts < END for h in hits) and [h.ts for h in hits] == sorted(h.ts for h in hits)
    for field in ("path", "query", "referrer", "user_agent"):
        assert len({getattr(h, field) for h in hits}) == 1000, field
    assert sum("bot/" in h.user_agent for h in hits) == 500
    assert {h.remote_addr for h in hits} == {"81.2.69.160"}
    assert len({h.path for h in flood(1000, end=END, distinct=10)}) == 10


def test_every_hit_is_a_valid_hit(hits: list[Hit]) -> None:
    for h in hits:
        assert type(h) is Hit and Hit(*h) == h  # a full tuple: no field silently missing
        assert isinstance(h.ts, float) and isinstance(h.value, float) and h.host == SITE_HOST
        assert h.method in ("GET", "POST") and h.status in (200, 301, 304, 404, 500)
        assert h.path.startswith("/") and len(h.path) <= MAX_PATH and len(h.query) <= MAX_QUERY
        assert h.route == "" or h.route.startswith("/")
        assert len(h.user_agent) <= MAX_USER_AGENT and len(h.referrer) <= MAX_REFERRER
        assert (h.forwarded_for, h.cf_connecting_ip, h.real_ip) == ("", "", "")
        assert str(ipaddress.ip_address(h.remote_addr)) == h.remote_addr  # canonical form
        if h.name == "http_req":
            assert h.labels is None and h.value == 1.0 and h.duration_ms > 0
        else:
            assert isinstance(h.labels, dict) and h.duration_ms is None


# -- realism --------------------------------------------------------------------------------------


def test_paths_follow_a_power_law_with_route_templates(hits: list[Hit]) -> None:
    views = Counter(h.path for h in hits if h.status != 404)
    (top, count), = views.most_common(1)
    assert top == "/" and 0.08 < count / len(hits) < 0.30
    assert len(views) > 1_000
    routes = Counter(h.route for h in hits)
    shapes = {"/blog/<slug>": r"/blog/[a-z0-9-]+", "/products/<int:id>": r"/products/\d+",
              "/docs/<path:page>": r"/docs/.+"}
    for route, shape in shapes.items():
        assert routes[route] > 500
        assert all(re.fullmatch(shape, h.path) for h in hits if h.route == route)
    assert _share(hits, lambda h: "<" in h.route) > 0.3


def test_statuses_methods_and_durations(hits: list[Hit]) -> None:
    statuses = Counter(h.status for h in hits)
    assert statuses[200] / len(hits) > 0.85
    assert 0.015 < statuses[404] / len(hits) < 0.04
    assert 0.002 < statuses[500] / len(hits) < 0.01
    assert statuses[301] > 100 and statuses[304] > 100
    assert all(h.route == "" for h in hits if h.status == 404)
    assert 0.003 < _share(hits, lambda h: h.method == "POST") < 0.1
    durations = sorted(h.duration_ms for h in hits if h.duration_ms is not None)
    assert 30 < statistics.median(durations) < 55
    assert 250 < durations[int(len(durations) * 0.95)] < 600


def test_custom_events(hits: list[Hit]) -> None:
    events = [h for h in hits if h.name != "http_req"]
    assert 0.005 < len(events) / len(hits) < 0.02
    assert {h.name for h in events} == {"signup", "purchase"}
    assert all("plan" in h.labels for h in events)
    assert all(h.value > 1 for h in events if h.name == "purchase")
    assert all(h.method == "POST" and h.referrer.startswith(INTERNAL) for h in events)


def test_bots_libraries_and_browsers_as_ua_parser_sees_them(hits: list[Hit], spiders: set[str]) -> None:
    assert 0.035 < _share(hits, lambda h: h.user_agent in spiders) < 0.08
    assert {"Googlebot", "bingbot", "AhrefsBot"} <= {parse(ua).with_defaults().user_agent.family for ua in spiders}
    libraries = ("curl/", "python-requests/", "Go-http-client/")
    assert 0.008 < _share(hits, lambda h: h.user_agent.startswith(libraries)) < 0.03
    assert 0 < _share(hits, lambda h: h.user_agent == "") < 0.01
    assert all(h.referrer == "" for h in hits if h.user_agent in spiders)


def test_browser_user_agents_are_recognised_with_realistic_shares(people: list[Hit]) -> None:
    families = {}
    for ua in {h.user_agent for h in people}:
        result = parse(ua).with_defaults()
        assert result.user_agent.family != "Other" and result.os.family != "Other", ua
        families[ua] = result.user_agent.family
    shares = Counter(families[h.user_agent] for h in people)
    chrome = sum(n for family, n in shares.items() if family.startswith("Chrome")) / len(people)
    assert 0.55 < chrome < 0.75
    assert shares["Mobile Safari"] / len(people) > 0.1
    assert {"Edge", "Firefox", "Samsung Internet", "Safari", "Opera"} <= set(shares)
    assert 0.3 < _share(people, lambda h: "Mobile" in h.user_agent) < 0.75


def test_referrers_campaigns_and_direct_visits(people: list[Hit]) -> None:
    entries = [h for h in people if h.name == "http_req" and not h.referrer.startswith(INTERNAL)]
    assert 0.33 < _share(entries, lambda h: h.referrer == "") < 0.5
    sources = Counter(h.referrer for h in entries if h.referrer)
    assert sources.most_common(1)[0][0] == "https://www.google.com/"
    assert len(sources) > 150
    tagged = [h for h in entries if "utm_source=" in h.query]
    assert 0.06 < len(tagged) / len(entries) < 0.14
    assert any("&gclid=" in h.query for h in tagged) and any("utm_medium=email" in h.query for h in tagged)
    assert not any("utm_" in h.query for h in people if h.referrer.startswith(INTERNAL) and h.name == "http_req")


def test_sessions_chain_internal_referrers(people: list[Hit]) -> None:
    last_url: dict[tuple[str, str, str], str] = {}
    chained = broken = 0
    gaps: list[float] = []
    last_ts: dict[tuple[str, str, str], float] = {}
    for h in people:
        visitor = (h.remote_addr, h.user_agent, h.accept_language)
        if h.referrer.startswith(INTERNAL):
            assert visitor in last_url  # never an internal referrer on a visitor's first hit
            if h.referrer == last_url[visitor]:
                chained += 1
            else:
                broken += 1  # two sessions of one visitor overlapping, as with two tabs
            if h.name == "http_req":
                gaps.append(h.ts - last_ts[visitor])
        if h.name == "http_req":
            last_url[visitor], last_ts[visitor] = _url(h), h.ts
    assert chained > 0.5 * len(people) and broken < 0.02 * chained
    assert 5 < statistics.median(gaps) < 120


def test_night_and_weekend_are_quieter(hits: list[Hit]) -> None:
    hours = Counter(int(h.ts // 3600 % 24) for h in hits)
    assert sum(hours[h] for h in (2, 3, 4, 5)) < 0.45 * sum(hours[h] for h in (13, 14, 15, 16))
    days = Counter(datetime.fromtimestamp(h.ts, timezone.utc).date() for h in hits)
    full = [day for day in days if END - 14 * 86_400 < datetime(day.year, day.month, day.day,
                                                                tzinfo=timezone.utc).timestamp() < END - 86_400]
    weekend = statistics.fmean(days[d] for d in full if d.weekday() >= 5)
    weekday = statistics.fmean(days[d] for d in full if d.weekday() < 5)
    assert weekend < 0.85 * weekday


def _stream(events: int) -> Iterator[Hit]:
    return generate(events, days=30, seed=9, end=END)


def test_large_samples_are_diverse_and_located() -> None:
    agents: set[str] = set()
    addresses: set[str] = set()
    languages: dict[str, str] = {}
    for h in _stream(200_000):
        agents.add(h.user_agent)
        if h.remote_addr not in addresses and h.accept_language and len(languages) < 4_000:
            languages[h.remote_addr] = h.accept_language
        addresses.add(h.remote_addr)
    assert len(agents) >= 1_000
    assert len(addresses) >= 10_000
    assert 0.1 < sum(":" in a for a in addresses) / len(addresses) < 0.4  # some IPv6
    countries: Counter[str] = Counter()
    speaks_own = 0
    own = {"DE": "de", "FR": "fr", "JP": "ja", "BR": "pt", "ES": "es", "IT": "it", "NL": "nl"}
    with maxminddb.open_database(geolite2_database()) as reader:
        for address, language in languages.items():
            country = (reader.get(address) or {}).get("country", {}).get("iso_code", "")
            countries[country] += 1
            speaks_own += country in own and language.startswith(own[country])
    assert len(countries) >= 50 and countries[""] == 0
    assert countries.most_common(1)[0][0] == "US"
    assert speaks_own > 0.7 * sum(countries[c] for c in own)


def test_a_small_site_profile_is_respected() -> None:
    site = SiteProfile(paths=40, referrer_domains=5, countries=3, user_agents=100)
    made = list(generate(20_000, days=7, seed=1, end=END, site=site))
    crawler_files = ("/robots.txt", "/sitemap.xml", "/feed.xml")
    assert len({h.path for h in made if h.status != 404 and h.path not in crawler_files}) == 40
    assert len({h.referrer for h in made if h.referrer and not h.referrer.startswith(INTERNAL)}) <= 12
    assert 80 <= len({h.user_agent for h in made}) <= 110
    with maxminddb.open_database(geolite2_database()) as reader:
        records = [reader.get(ip) or {} for ip in {h.remote_addr for h in made if h.accept_language}]
    assert len({r["country"]["iso_code"] for r in records}) == 3  # people's IPs (crawlers have their own)


def test_visitors_per_day_is_respected() -> None:
    made = generate(20_000, days=7, seed=1, end=END, site=SiteProfile(visitors_per_day=50))
    per_day = defaultdict(set)
    for h in made:
        per_day[int(h.ts // 86_400)].add((h.remote_addr, h.user_agent))
    assert 40 <= statistics.fmean(len(per_day[d]) for d in sorted(per_day)[1:-1]) <= 60


@pytest.fixture
def without_geolite2(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The fault of a missing maxminddb-geolite2 package (its import fails)."""
    monkeypatch.setitem(sys.modules, "_maxminddb_geolite2", None)
    synthetic._geo_networks.cache_clear()
    synthetic._catalog.cache_clear()
    yield
    synthetic._geo_networks.cache_clear()
    synthetic._catalog.cache_clear()


def test_works_without_the_geolite2_package(without_geolite2: None) -> None:
    made = list(generate(2_000, days=1, seed=1, end=END))
    assert len(made) == 2_000
    public = [ipaddress.ip_address(h.remote_addr) for h in made]
    assert all(a.is_global for a in public) and len(set(public)) > 300


def test_the_network_table_builds_fast() -> None:
    synthetic._geo_networks.cache_clear()
    started = time.process_time()
    table = synthetic._geo_networks()
    assert time.process_time() - started < 2.0  # ~0.4 s here; walking the whole database takes ~50 s
    assert len(table) >= 100
