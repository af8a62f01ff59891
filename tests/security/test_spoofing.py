"""X-Forwarded-For is written by whoever sends the request. Behind ``trusted_proxies=N`` proxies
only the N-th entry from the right counts (the one the nearest trusted proxy appended), so a
client cannot pick its visitor id or its country, not even with a header long enough to push
the real entry out of what Kero keeps. (Auth never looks at these headers: test_auth.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from kero_core import Kero
from tests.conftest import environ
from tests.reliability.servers import gunicorn
from tests.security.conftest import raw_request

PROXY = "10.0.0.1"  # REMOTE_ADDR: the reverse proxy
CLIENT = "81.2.69.142"  # the real client, in GB
SPOOFS = ["", "6.6.6.6", "6.6.6.6, 7.7.7.7", "2001:db8::1", "[::1]:443", "garbage, , ,", "1.2.3.4, " * 60,
          "x" * 300, "9.9.9.9," * 200]


def visitor_and_country(kero: Kero, forwarded_for: str) -> tuple[int, str]:
    kero.record_request(environ("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded_for), status=200)
    [event] = kero.query(limit=1)
    return event.visitor_id, event.country


@pytest.mark.parametrize("proxies", [1, 2])
def test_spoofed_entries_change_neither_the_visitor_nor_the_country(make_kero: Callable[..., Kero], geoip_db: str,
                                                                    proxies: int) -> None:
    kero = make_kero(trusted_proxies=proxies, geoip_db=geoip_db)
    # What the proxies append: the client's address, then (with two) the first proxy's.
    appended = CLIENT if proxies == 1 else f"{CLIENT}, 10.0.0.2"
    seen = {spoof[:20]: visitor_and_country(kero, f"{spoof}, {appended}" if spoof else appended) for spoof in SPOOFS}
    print(f"\n[trusted_proxies={proxies}] {len(SPOOFS)} spoofed prefixes -> {len(set(seen.values()))} distinct "
          f"(visitor, country): {set(seen.values())}")
    assert len(set(seen.values())) == 1 and next(iter(seen.values()))[1] == "GB"


def test_by_default_spoofed_entries_change_neither_the_visitor_nor_the_country(make_kero: Callable[..., Kero],
                                                                              geoip_db: str) -> None:
    """The default: behind one proxy on a private address, the right-most public entry counts."""
    kero = make_kero(geoip_db=geoip_db)
    seen = {visitor_and_country(kero, f"{spoof}, {CLIENT}" if spoof else CLIENT) for spoof in SPOOFS}
    assert len(seen) == 1 and next(iter(seen))[1] == "GB"


def test_zero_trusted_proxies_ignores_the_header(make_kero: Callable[..., Kero]) -> None:
    kero = make_kero(trusted_proxies=0)
    assert len({visitor_and_country(kero, spoof) for spoof in SPOOFS}) == 1


def test_forged_headers_over_http_count_as_one_visitor_in_the_real_country(tmp_path: Path) -> None:
    """Finding 2 of issue 14, as reproduced: 301 requests from one client, each with a different
    forged X-Forwarded-For start, CF-Connecting-IP and X-Real-IP, through a proxy on 127.0.0.1
    that appended the address it saw (CLIENT). Under the old default they counted as many
    visitors in the countries the client chose."""
    forged = [f"{(i * 37) % 223 + 1}.{i % 250}.{(i * 7) % 250}.{i % 200 + 1}" for i in range(301)]
    with gunicorn("tests.security.sites:with_geo()", tmp_path, workers=1) as server:
        for address in forged:
            reply = raw_request(server.url, "GET", "/", {
                "X-Forwarded-For": f"{address}, {CLIENT}", "CF-Connecting-IP": address, "X-Real-IP": address,
                "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"})
            assert reply.status == 200
    with Kero(db_path=tmp_path / "kero", geoip_db=None) as kero:
        page = {"path": "/"}  # not the start-up probe gunicorn() sends
        views, visitors = kero.count(filters=page), kero.count_visitors(filters=page)
        countries = kero.top("country", filters=page, metric="events")
    print(f"\n301 forged requests -> {views} page views, {visitors} visitors, countries {countries}")
    assert (views, visitors, countries) == (301, 1, [("GB", 301)])
