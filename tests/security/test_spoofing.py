"""X-Forwarded-For is written by whoever sends the request. Behind ``trusted_proxies=N`` proxies
only the N-th entry from the right counts (the one the nearest trusted proxy appended), so a
client cannot pick its visitor id or its country, not even with a header long enough to push
the real entry out of what Kero keeps. (Auth never looks at these headers: test_auth.py.)"""

from __future__ import annotations

from typing import Callable

import pytest

from kero_core import Kero
from tests.conftest import environ

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


def test_without_trusted_proxies_the_leftmost_entry_is_believed(make_kero: Callable[..., Kero], geoip_db: str) -> None:
    """The default (documented): easy to set up, and spoofable; kept here so a change shows."""
    kero = make_kero(geoip_db=geoip_db)
    assert visitor_and_country(kero, "6.6.6.6, " + CLIENT) != visitor_and_country(kero, "7.7.7.7, " + CLIENT)


def test_zero_trusted_proxies_ignores_the_header(make_kero: Callable[..., Kero]) -> None:
    kero = make_kero(trusted_proxies=0)
    assert len({visitor_and_country(kero, spoof) for spoof in SPOOFS}) == 1
