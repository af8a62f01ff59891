"""The dashboard over HTTP through KeroMiddleware: auth on every route, headers (CSP, caching),
the HTML (parsed, never matched as text), escaping of attacker-controlled strings, CSV and JSON."""

from __future__ import annotations

import csv
import io
import json
from urllib.parse import quote, urlsplit

import pytest
from werkzeug.test import Client

from kero_core import Kero
from kero_core.capture import hit_from_environ
from kero_core.dashboard import CSP
from kero_core.dashboard.cards import PANELS
from kero_core.dashboard.render import asset, static_files
from kero_core.store import StoreUnavailable
from kero_core.synthetic import generate
from kero_core.wsgi import KeroMiddleware
from tests.conftest import IPHONE_UA, environ
from tests.dashboard.conftest import ADMIN, at, get, ingest, site, view_hit
from tests.dashboard.html import Node, parse

XSS = ['<script>alert(1)</script>', '"><svg onload=alert(2)>', "<img src=x onerror=alert(3)>", "'/><b>bold</b>"]
ROUTES = ["/_kero/", "/_kero/?format=csv", "/_kero/api/stats", "/_kero/api/realtime",
          "/_kero/static/dashboard.css", "/_kero/?show=pages&partial=modal", "/_kero/nothing-here"]


@pytest.fixture
def seeded(kero: Kero) -> Kero:
    ingest(kero, generate(600, days=3, seed=5, end=at()))
    return kero


@pytest.fixture
def hostile(kero: Kero) -> Kero:
    """Page views whose path, referrer, campaign and event name are HTML and formula payloads."""
    hits = []
    for i, payload in enumerate(XSS + ["=HYPERLINK(\"http://x\",\"y\")", "@SUM(1+1)", "+1", "-2"]):
        ip = f"81.2.69.{10 + i}"
        hits.append(view_hit(at(-5 - i), "/" + payload, ip=ip, HTTP_REFERER=f"https://{i}.example.com/{payload}",
                             QUERY_STRING=f"utm_source={quote(payload, safe='')}&utm_campaign={quote(payload, safe='')}"))
        hits.append(hit_from_environ(environ("/e", REMOTE_ADDR=ip), at(-5 - i), name=payload, labels={payload: payload}))
    ingest(kero, hits)
    return kero


@pytest.mark.parametrize("url", ROUTES)
def test_every_route_needs_the_credentials(client: Client, url: str) -> None:
    assert client.get(url).status_code == 401
    assert client.get(url, headers={"Authorization": "Basic YWRtaW46d3Jvbmc="}).status_code == 401  # admin:wrong


def test_the_mount_point_redirects_to_the_page_with_a_slash(client: Client) -> None:
    answer = get(client, "/_kero")
    assert (answer.status_code, answer.headers["Location"]) == (308, "_kero/")
    behind_prefix = client.get("/_kero", headers=ADMIN, environ_base={"SCRIPT_NAME": "/shop"})
    assert behind_prefix.headers["Location"] == "_kero/"  # relative: right under any prefix


def test_page_headers(client: Client, seeded: Kero) -> None:
    answer = get(client, "/_kero/")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
    assert answer.headers["Content-Security-Policy"] == CSP
    assert "script-src 'self';" in CSP and "unsafe-inline" not in CSP and "frame-ancestors 'none'" in CSP
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Referrer-Policy"] == "no-referrer"
    assert answer.headers["Cache-Control"] == "no-store"


def _relative(url: str) -> bool:
    parts = urlsplit(url)
    return not parts.scheme and not parts.netloc and not url.startswith("/")


def test_page_is_csp_clean_and_every_link_relative(client: Client, seeded: Kero) -> None:
    doc = parse(get(client, "/_kero/?period=7d").data)
    scripts = doc.find_all("script")
    assert [s.attrs["src"].split("?")[0] for s in scripts] == ["static/dashboard.js"]
    assert all(not s.text().strip() for s in scripts)  # no inline script
    for node in doc.iter():
        assert "style" not in node.attrs and node.tag != "style", node
        assert not [a for a in node.attrs if a.startswith("on")], node
    links = [n.attrs["href"] for n in doc.find_all("a") if "external" not in n.classes]
    links += [n.attrs["href"] for n in doc.find_all("link")] + [n.attrs["src"] for n in doc.find_all("script")]
    assert links and all(_relative(url) for url in links), [u for u in links if not _relative(u)]
    assert doc.find("form", cls="range").attrs.get("action") is None  # submits to the page itself


def test_page_shows_figures_chart_cards_and_realtime(client: Client, seeded: Kero) -> None:
    doc = parse(get(client, "/_kero/?period=7d").data)
    assert doc.find("title").text() == "App stats · Past 7 days"
    figures = {n.attrs["id"]: n for n in doc.find_all("div", cls="figure")}
    assert list(figures) == ["figure-visitors", "figure-views", "figure-views_per_visitor", "figure-bounce_rate",
                             "figure-visit_duration", "figure-error_rate", "figure-p50", "figure-p95"]
    assert figures["figure-views"].find("data").attrs["value"].isdigit()
    assert figures["figure-views"].attrs["title"].startswith("Period before: ")
    svg = doc.find("svg", cls="chart")
    assert len(svg.find_all("g", cls="bucket")) == 7 and all(g.find("title").text() for g in svg.find_all("g", cls="bucket"))
    cards = [n.attrs["id"] for n in doc.find_all("article", cls="card")]
    assert cards == ["card-pages", "card-sources", "card-locations", "card-devices", "card-routes", "card-errors",
                     "card-bots", "card-events", "card-properties"]
    pages = doc.find("section", id="panel-pages")
    rows = pages.find("tbody").find_all("tr")
    assert len(rows) == 10 and rows[0].find("td").classes == {"label", "w100"}
    assert pages.find("a", cls="show-all").attrs["href"] == "?period=7d&show=pages"
    assert doc.find("span", id="realtime").attrs["data-url"] == "api/realtime"
    times = [t.attrs["aria-current"] for t in doc.find("details", cls="periods").find_all("a") if "aria-current" in t.attrs]
    assert times == ["true"]
    assert "All times are UTC" in doc.find("footer").text()


def test_countries_and_form_factors_read_as_people_expect(make_kero, clock, geoip_db, tmp_path) -> None:
    geo = make_kero(clock=clock, geoip_db=geoip_db, db_path=tmp_path / "geo")
    ingest(geo, [view_hit(at(-3), "/", ip="81.2.69.142"), view_hit(at(-2), "/", ip="2.125.160.216", HTTP_USER_AGENT=IPHONE_UA)])
    doc = parse(get(Client(KeroMiddleware(site, geo, users={"admin": "secret"})), "/_kero/?period=today").data)
    [country] = doc.find("section", id="panel-countries").find("tbody").find_all("tr")
    assert (country.find("span", cls="icon").text(), country.find("span", cls="text").text()) == ("🇬🇧", "United Kingdom")
    assert country.find("a").attrs["href"] == "?period=today&country=GB"
    factors = [r.find("a").text() for r in doc.find("section", id="panel-form_factors").find("tbody").find_all("tr")]
    assert sorted(factors) == ["📱 Mobile", "🖥️ Desktop"]
    cities = doc.find("section", id="panel-cities").find("tbody").find_all("tr")
    assert {r.find("span", cls="icon").text() for r in cities} == {"🇬🇧"}
    assert cities[0].find("a").attrs["href"].startswith("?period=today&country=GB&city=")


def test_filters_show_as_chips(client: Client, seeded: Kero) -> None:
    doc = parse(get(client, "/_kero/?period=7d&country=CH&path!=/pricing").data)
    chips = doc.find_all("span", cls="chip")
    assert [c.find("span", cls="chip-dimension").text() for c in chips] == ["Country", "Page"]
    assert [c.find("a", cls="chip-op").text() for c in chips] == ["is", "is not"]
    assert chips[0].find("span", cls="chip-value").text() == "🇨🇭 Switzerland"
    assert chips[0].find("a", cls="chip-remove").attrs["href"] == "?period=7d&path%21=%2Fpricing"
    assert chips[1].find("a", cls="chip-op").attrs["href"] == "?period=7d&country=CH&path=%2Fpricing"
    hidden = {i.attrs["name"]: i.attrs["value"] for i in doc.find("form", cls="range").find_all("input", type="hidden")}
    assert hidden == {"country": "CH", "path!": "/pricing"}  # a custom range keeps the filters


def test_attacker_strings_are_text_everywhere(client: Client, hostile: Kero) -> None:
    markup = get(client, "/_kero/?period=today").data
    doc = parse(markup)
    assert [n.tag for n in doc.iter() if n.tag in ("script", "img", "b", "iframe", "object")] == ["script"]
    assert len(doc.find_all("svg")) == 1
    for node in doc.iter():
        assert not [a for a in node.attrs if a.startswith("on")], node
    texts = [n.text() for n in doc.find_all("span", cls="text")]
    for payload in XSS:
        assert "/" + payload in texts  # shown, as text, in Top pages
        assert payload in texts  # in the campaigns and the custom events
    titles = [n.attrs["title"] for n in doc.find_all("a", cls="filter")]
    assert '/"><svg onload=alert(2)>' in titles  # attributes are escaped too


def test_attacker_strings_in_the_full_list_and_drill_down(client: Client, hostile: Kero) -> None:
    doc = parse(get(client, "/_kero/?period=today&show=custom_events&partial=modal").data)
    assert [n.tag for n in doc.iter() if n.tag in ("script", "img", "svg")] == []
    drilled = parse(get(client, "/_kero/?period=today&referrer_domain=1.example.com").data)
    [external] = drilled.find_all("a", cls="external")
    assert external.attrs["href"] == 'https://1.example.com/"><svg onload=alert(2)>'
    assert external.attrs["rel"] == "noopener noreferrer nofollow"


def test_only_http_referrers_become_links() -> None:
    label = PANELS["referrer_urls"].label
    assert label(("javascript:alert(1)",)).href is None
    assert label(("data:text/html,<b>",)).href is None
    assert label(("android-app://com.google",)).href is None
    assert label(("https://example.com/a",)).href == "https://example.com/a"


def test_csv_export_is_the_view_in_long_format_without_formulas(client: Client, hostile: Kero) -> None:
    answer = get(client, "/_kero/?period=today&format=csv")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert answer.headers["Content-Disposition"].startswith('attachment; filename="kero-today-20261110-1200.csv"')
    rows = list(csv.reader(io.StringIO(answer.data.decode())))
    assert rows[0] == ["card", "label", "metric", "value"]
    assert ["figures", "Page views", "current", "8"] in rows
    assert ["figures", "Page views", "previous", "0"] in rows
    cells = [cell for row in rows[1:] for cell in row[:3]]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@")]
    assert ["utm_sources", "'=HYPERLINK(\"http://x\",\"y\")", "visitors", "1"] in rows
    assert ["custom_events", "'@SUM(1+1)", "events", "1"] in rows
    assert ["custom_events", "'+1", "events", "1"] in rows
    assert ["pages", "/=HYPERLINK(\"http://x\",\"y\")", "visitors", "1"] in rows  # not a formula: kept as is
    assert any(r[0] == "chart" and r[1] == "2026-11-10T11:00:00Z" and r[2] == "page_views" for r in rows)


def test_csv_limit(client: Client, seeded: Kero) -> None:
    rows = list(csv.reader(io.StringIO(get(client, "/_kero/?period=7d&format=csv&limit=3").data.decode())))
    assert len([r for r in rows if r[0] == "pages"]) == 3
    assert get(client, "/_kero/?period=7d&limit=3").status_code == 400  # limit is for exports


def test_json_api_schema(client: Client, seeded: Kero) -> None:
    answer = get(client, "/_kero/api/stats?period=7d&browser!=Chrome&limit=2")
    assert (answer.status_code, answer.headers["Content-Type"]) == (200, "application/json")
    data = answer.get_json()
    assert set(data) == {"title", "period", "comparison", "filters", "realtime", "events_from", "figures", "chart", "annotations", "cards"}
    assert data["period"]["id"] == "7d" and data["period"]["timezone"] == "UTC"
    assert data["period"]["start"] == "2026-11-04T00:00:00Z"
    assert data["filters"] == [{"dimension": "browser", "operator": "is not", "value": "Chrome"}]
    assert set(data["figures"][0]) == {"id", "label", "value", "previous", "change"}
    assert data["chart"]["unit"] == "day" and len(data["chart"]["buckets"]) == 7
    assert set(data["chart"]["buckets"][0]) == {"start", "visitors", "page_views", "previous_visitors", "previous_page_views"}
    pages = next(c for c in data["cards"] if c["id"] == "pages")
    assert set(pages) == {"id", "card", "title", "columns", "total", "rows"}
    assert len(pages["rows"]) == 2 and set(pages["rows"][0]) == {"label", "values", "filters"}
    assert pages["rows"][0]["filters"] == {"path": pages["rows"][0]["label"]}
    assert "Chrome" not in [r["label"] for c in data["cards"] if c["id"] == "browsers" for r in c["rows"]]


def test_json_escapes_markup(client: Client, hostile: Kero) -> None:
    body = get(client, "/_kero/api/stats?period=today").data
    assert b"<" not in body and b">" not in body and b"\\u003cscript\\u003e" in body
    assert "<script>alert(1)</script>" in json.dumps(json.loads(body))


def test_realtime_endpoint(client: Client, kero: Kero) -> None:
    ingest(kero, [view_hit(at(-2), "/", ip="81.2.69.1"), view_hit(at(-1), "/", ip="81.2.69.2")])
    answer = get(client, "/_kero/api/realtime")
    assert answer.get_json() == {"visitors": 2, "minutes": 5}
    assert answer.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("url, message", [
    ("/_kero/?colour=red", "unknown filter 'colour'"),
    ("/_kero/?period=forever", "unknown period 'forever'"),
    ("/_kero/?format=xlsx", "'format' must be one of csv"),
    ("/_kero/?show=everything", "'show' must be one of"),
    ("/_kero/?partial=modal", "'partial=modal' needs 'show'"),
])
def test_bad_requests_answer_400_with_the_reason(client: Client, url: str, message: str) -> None:
    answer = get(client, url)
    assert answer.status_code == 400
    assert message in parse(answer.data).find("p", cls="error-message").text()


def test_bad_api_requests_answer_json(client: Client) -> None:
    answer = get(client, "/_kero/api/stats?%3Cscript%3E=1")
    assert answer.status_code == 400
    assert answer.get_json() == {"error": "unknown filter '<script>'; filter by one of browser, browser_version, city, "
                                 "click_id, country, device, form_factor, is_bot, method, name, os, os_version, path, "
                                 "referrer, referrer_domain, region, route, status, utm_campaign, utm_content, "
                                 "utm_medium, utm_source, utm_term or prop.<label key> (add '!' to exclude, e.g. country!=CH)."}
    page = get(client, "/_kero/?%3Cscript%3E=1")
    assert [n.tag for n in parse(page.data).iter() if n.tag == "script"] == ["script"]  # only ours


def test_show_all_without_script_and_as_a_fragment(client: Client, seeded: Kero) -> None:
    doc = parse(get(client, "/_kero/?period=7d&show=pages").data)
    dialog = doc.find("dialog", cls="modal")
    assert "open" in dialog.attrs
    assert dialog.find("a", cls="close").attrs["href"] == "?period=7d"
    assert len(dialog.find("tbody").find_all("tr")) > 10
    fragment = parse(get(client, "/_kero/?period=7d&show=pages&partial=modal").data)
    assert [n.tag for n in fragment.children if isinstance(n, Node)] == ["dialog"]
    assert "open" not in fragment.find("dialog").attrs


def test_empty_state(client: Client) -> None:
    doc = parse(get(client, "/_kero/").data)
    assert doc.find("p", cls="notice").text() == "No data yet — visit your site, then reload."
    assert doc.find("section", id="panel-pages").find("p", cls="empty").text() == "No data yet — visit your site, then reload."


def test_static_files(client: Client) -> None:
    for name, content_type in [("dashboard.css", "text/css; charset=utf-8"), ("dashboard.js", "text/javascript; charset=utf-8"),
                               ("noscript.css", "text/css; charset=utf-8"), ("icon.svg", "image/svg+xml")]:
        answer = get(client, "/_kero/" + asset(name))
        assert (answer.status_code, answer.headers["Content-Type"]) == (200, content_type)
        assert answer.headers["Cache-Control"] == "private, max-age=31536000, immutable"
        assert answer.data == static_files()[name]
    for missing in ("/_kero/static/nope.css", "/_kero/static/../view.py", "/_kero/static/", "/_kero/static/kero/dashboard.css"):
        assert get(client, missing).status_code == 404


@pytest.mark.parametrize("fault", [TimeoutError("the Kero database is busy"), StoreUnavailable("kero.duckdb is held open")])
def test_a_busy_or_broken_database_answers_503(client: Client, kero: Kero, monkeypatch: pytest.MonkeyPatch, fault: Exception) -> None:
    def read(*args: object, **kwargs: object) -> None:
        raise fault

    monkeypatch.setattr(kero, "read", read)  # an injected fault: the store cannot be read
    for url in ("/_kero/", "/_kero/api/stats", "/_kero/api/realtime", "/_kero/?format=csv"):
        answer = get(client, url)
        assert (answer.status_code, answer.headers["Retry-After"]) == (503, "5")
        assert answer.data == b"The Kero database is busy or unavailable; try again in a moment."
    assert get(client, "/_kero/" + asset("dashboard.css")).status_code == 200  # assets need no database
