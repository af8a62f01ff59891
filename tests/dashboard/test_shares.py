"""Shared links through real HTTP (KeroMiddleware, no credentials): they open the read-only
dashboard, never more; their locked filters cannot be escaped; expired, revoked and unknown
tokens get a clear page; tokens are stored hashed and compared in constant time; rate limits."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Callable

import pytest
from werkzeug.test import Client

from kero_core import Kero, shares
from kero_core.dashboard import sharing
from tests.conftest import FakeClock
from tests.dashboard.conftest import at, get, ingest, view_hit
from tests.dashboard.html import parse

CH, US = "195.186.1.1", "3.3.3.3"  # a Swiss address and an American one in GeoLite2


@pytest.fixture
def kero(make_kero: Callable[..., Kero], clock: FakeClock) -> Kero:
    from _maxminddb_geolite2 import geolite2_database

    return make_kero(clock=clock, retention=400, geoip_db=geolite2_database())


@pytest.fixture
def traffic(kero: Kero) -> Kero:
    """Swiss visitors on /ch-page and /admin, American ones on /us-page."""
    ingest(kero, [view_hit(at(minutes=-m), "/ch-page", ip=CH) for m in range(3)]
           + [view_hit(at(minutes=-2), "/admin", ip=CH)]
           + [view_hit(at(minutes=-m), "/us-page", ip=US) for m in range(5)])
    return kero


def anonymous(client: Client, url: str, method: str = "GET"):  # type: ignore[no-untyped-def]
    return client.open(url, method=method)  # no Authorization header


def stats(client: Client, url: str) -> dict:  # type: ignore[type-arg]
    answer = anonymous(client, url)
    assert answer.status_code == 200, answer.data[:300]
    return json.loads(answer.data)


def figure(data: dict, id: str) -> float:  # type: ignore[type-arg]
    return next(f["value"] for f in data["figures"] if f["id"] == id)


def test_a_shared_link_opens_the_read_only_dashboard_without_credentials(traffic: Kero, client: Client) -> None:
    _, token = traffic.create_share()
    base = f"/_kero/share/{token}/"
    assert anonymous(client, "/_kero/").status_code == 401  # the dashboard itself stays closed
    page = anonymous(client, base + "?period=today")
    assert page.status_code == 200 and page.headers["X-Robots-Tag"] == "noindex, nofollow"
    tree = parse(page.data)
    assert tree.find("meta", name="robots").attrs["content"] == "noindex, nofollow"
    assert tree.find("p", cls="shared-note").text() == "Shared view, read-only"
    assert figure(stats(client, base + "api/stats?period=today"), "views") == 9
    assert anonymous(client, f"/_kero/share/{token}").headers["Location"] == f"{token}/"
    css = tree.find("link", rel="stylesheet").attrs["href"]
    assert anonymous(client, base + css).status_code == 200
    assert anonymous(client, base + "?period=today&show=pages&partial=modal").status_code == 200
    assert anonymous(client, base + "?period=today&format=csv").headers["Content-Type"].startswith("text/csv")


def test_a_shared_link_reaches_nothing_but_the_read_only_views(traffic: Kero, client: Client) -> None:
    _, token = traffic.create_share()
    base = f"/_kero/share/{token}/"
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        answer = anonymous(client, base + "api/stats", method)
        assert answer.status_code == 405 and answer.headers["Allow"] == "GET, HEAD"
    assert anonymous(client, base + "share/" + token + "/").status_code == 404
    assert anonymous(client, base + "api/other").status_code == 404
    assert anonymous(client, base + "static/../../api/stats").status_code in (401, 404)
    assert traffic.shares()[0].revoked is False  # nothing a viewer did changed the link


def test_a_locked_link_cannot_escape_its_filters(traffic: Kero, client: Client) -> None:
    _, token = traffic.create_share("country=CH&path!=/admin")
    base = f"/_kero/share/{token}/api/stats?period=today"
    locked = stats(client, base)
    assert figure(locked, "views") == 3 and figure(locked, "visitors") == 1
    assert {(f["dimension"], f["operator"], f["value"]) for f in locked["filters"]} == {
        ("country", "is", "CH"), ("path", "is not", "/admin")}
    # Asking for another country, for "not CH", or for the excluded path changes nothing.
    for escape in ("&country=US", "&country!=CH", "&path=/admin", "&path=/us-page", "&path!=/x", "&country=US&country!=CH"):
        assert stats(client, base + escape)["figures"] == locked["figures"], escape
    # Filters on other dimensions only narrow the locked view.
    assert figure(stats(client, base + "&status=200"), "views") == 3
    assert figure(stats(client, base + "&status=404"), "views") == 0
    pages = {row["label"] for card in locked["cards"] if card["id"] == "pages" for row in card["rows"]}
    assert pages == {"/ch-page"}
    assert stats(client, f"/_kero/share/{token}/api/realtime") == {"visitors": 1, "minutes": 5}
    assert json.loads(get(client, "/_kero/api/realtime").data) == {"visitors": 2, "minutes": 5}
    chips = parse(anonymous(client, f"/_kero/share/{token}/?period=today").data).find_all("span", cls="locked-chip")
    assert len(chips) == 2 and all(c.find_all("a") == [] for c in chips)


def test_revoked_expired_and_unknown_links_get_a_clear_page(traffic: Kero, client: Client, clock: FakeClock) -> None:
    revoked, revoked_token = traffic.create_share()
    _, expiring_token = traffic.create_share(expires=timedelta(days=30))
    assert traffic.revoke_share(revoked.id) is not None
    answer = anonymous(client, f"/_kero/share/{revoked_token}/")
    assert answer.status_code == 403 and answer.headers["X-Robots-Tag"] == "noindex, nofollow"
    assert parse(answer.data).find("h1").text() == "This shared link was revoked"
    assert anonymous(client, f"/_kero/share/{revoked_token}/api/stats").status_code == 403
    assert anonymous(client, f"/_kero/share/{expiring_token}/").status_code == 200
    clock.advance(timedelta(days=30).total_seconds())
    expired = anonymous(client, f"/_kero/share/{expiring_token}/")
    assert expired.status_code == 403
    assert parse(expired.data).find("h1").text() == "This shared link has expired"
    assert "expired on 10 Dec 2026 at 12:00 UTC" in parse(expired.data).find("p", cls="error-message").text()
    for url in (f"/_kero/share/{'A' * 43}/", "/_kero/share/short/", "/_kero/share/", "/_kero/share",
                f"/_kero/share/{revoked_token[:-1]}/"):
        unknown = anonymous(client, url)
        assert unknown.status_code == 404, url
        assert parse(unknown.data).find("h1").text() == "This shared link does not exist"
        assert parse(unknown.data).find_all("a") == []


def test_shared_links_are_off_until_one_is_created(traffic: Kero, client: Client) -> None:
    assert traffic.shares() == []
    assert anonymous(client, f"/_kero/share/{'x' * 43}/").status_code == 404


def test_tokens_are_stored_hashed_and_compared_with_every_hash_in_constant_time(
    traffic: Kero, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = [traffic.create_share() for _ in range(3)]
    with traffic.read() as con:
        stored = con.execute("SELECT * FROM shared_links").fetchall()
    tokens = [token for _, token in made]
    assert len(tokens[0]) == 43 and len(set(tokens)) == 3
    assert not any(token in str(row) for token in tokens for row in stored)
    assert {row[1] for row in stored} == {hashlib.sha256(t.encode()).hexdigest() for t in tokens}
    compared = []
    real = shares.hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        compared.append(b)
        return real(a, b)

    monkeypatch.setattr(shares.hmac, "compare_digest", counting)
    with traffic.read() as con:
        assert shares.find(con, tokens[0]).id == made[0][0].id  # found first, still compared with all
        assert len(compared) == 3
        assert shares.find(con, "nope") is None and len(compared) == 6


def test_bad_share_options_are_one_clear_error(traffic: Kero) -> None:
    for filters, message in (("period=7d", "locks filters only, not 'period'"), ("colour=red", "unknown filter 'colour'"),
                             ("a&&b", "must be a query string"), ("status=ok", "status")):
        with pytest.raises(ValueError, match=message):
            traffic.create_share(filters)
    with pytest.raises(ValueError, match="must expire in the future"):
        traffic.create_share(expires=timedelta(0))
    assert traffic.shares() == []


def test_shared_links_are_rate_limited(traffic: Kero, client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sharing, "LINK_REQUESTS", 5)
    _, token = traffic.create_share()
    answers = [anonymous(client, f"/_kero/share/{token}/api/realtime").status_code for _ in range(6)]
    assert answers == [200] * 5 + [429]
    guesses = [anonymous(client, f"/_kero/share/{'g' * 30}{i:013d}/").status_code for i in range(sharing.UNKNOWN_REQUESTS + 1)]
    assert guesses == [404] * sharing.UNKNOWN_REQUESTS + [429]
    assert get(client, "/_kero/api/realtime").status_code == 200  # the owner's dashboard is not limited
