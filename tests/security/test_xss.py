"""XSS, checked in a real Chromium against the WSGI example under gunicorn: payloads in every
string an attacker controls (path, the five UTM parameters, referrer URL, User-Agent-derived
names, method, custom event names and labels, 404 paths) render as inert text on the page, in
every card's full list (the modal), in filter chips and the SVG chart; referrers with a scheme
other than http(s) never become links; the CSV defuses spreadsheet formulas; the JSON stays
data. A payload that ran would set ``window.__xss`` or open a dialog."""

from __future__ import annotations

import csv
import io
import json
import time
from typing import Iterator
from urllib.parse import quote

import pytest
from playwright.sync_api import BrowserContext, Page, sync_playwright

from kero_core import Kero
from kero_core.capture import hit_from_environ
from kero_core.dashboard.cards import PANELS
from tests.conftest import environ
from tests.reliability.servers import PASSWORD, USER, Server, gunicorn

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
XSS = ["<script>window.__xss=1</script>", '"><svg onload="window.__xss=2">', "<img src=x onerror=window.__xss=3>",
       "'-alert(4)-'", "</title><script>window.__xss=5</script>", "{{7*7}}<b>b</b>"]
FORMULAS = ['=HYPERLINK("http://evil.example","x")', "+cmd|' /C calc'!A0", "@SUM(1+1)", "-2+3", "\t=1+1"]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what spreadsheets run (OWASP's CSV injection list)
BAD_REFERRERS = ["javascript:window.__xss=6//https://x.example/", "data:text/html,<script>window.__xss=7</script>",
                 "JaVaScRiPt:window.__xss=8", "vbscript:msgbox(9)"]
LEAKY_CHECKS = """() => ({
    xss: window.__xss === undefined ? null : window.__xss,
    scripts: document.scripts.length,
    handlers: [...document.querySelectorAll('*')].flatMap(e => [...e.attributes].filter(a => a.name.startsWith('on')).map(a => e.tagName + ' ' + a.name)),
    links: [...document.querySelectorAll('[href],[src],[action],[formaction]')].map(e => e.getAttribute('href') || e.getAttribute('src') || e.getAttribute('action') || e.getAttribute('formaction')).filter(u => !/^(https?:|[?#]|\\.?\\/|static\\/|api\\/|data:image\\/)/i.test(u) && /^[a-z][a-z0-9+.-]*:/i.test(u)),
    svg_active: document.querySelectorAll('svg script, svg foreignObject, svg [onload], svg a').length,
})"""


def hostile_hits(now: float) -> list:
    hits = []
    for i, payload in enumerate(XSS + FORMULAS):
        p = quote(payload, safe="")
        query = "&".join(f"utm_{k}={p}" for k in ("source", "medium", "campaign", "term", "content"))
        ip = f"81.2.69.{100 + i}"
        hits.append(hit_from_environ(environ("/" + payload, REMOTE_ADDR=ip, QUERY_STRING=query,
                                             HTTP_REFERER=f"https://ref{i}.example/{payload}",
                                             HTTP_USER_AGENT=f"Mozilla/5.0 {payload}/1.0 ({payload}Bot/2.0)"),
                                     now - 60 - i, status=200, duration_ms=5.0, route=f"/r/{payload}"))
        hits.append(hit_from_environ(environ("/" + payload, REMOTE_ADDR=ip, REQUEST_METHOD=payload[:16]),
                                     now - 50 - i, status=404, route="/<x>"))
        hits.append(hit_from_environ(environ("/", REMOTE_ADDR=ip), now - 40 - i, name=payload, labels={payload: payload}))
    for i, referrer in enumerate(BAD_REFERRERS):
        hits.append(hit_from_environ(environ("/landing", REMOTE_ADDR=f"81.2.69.{200 + i}", HTTP_REFERER=referrer),
                                     now - 30, status=200))
    return hits


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("xss")
    with Kero(db_path=tmp / "kero") as kero:
        kero.ingest(hostile_hits(time.time()))
    with gunicorn("tests.reliability.sites:example()", tmp, workers=1, db_path=tmp / "kero") as running:
        yield running


@pytest.fixture(scope="module")
def context() -> Iterator[BrowserContext]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(http_credentials={"username": USER, "password": PASSWORD})
        yield context
        context.close()
        browser.close()


# The cards whose rows come from attacker-controlled strings (countries, regions, cities, form
# factors and status codes come from GeoLite2 and fixed lists).
HOSTILE_PANELS = [p for p in PANELS if p not in ("countries", "regions", "cities", "form_factors", "status_codes")]


def visit(page: Page, url: str) -> dict:
    response = page.goto(url)
    assert response is not None and response.status == 200, (url, response and response.status)
    return page.evaluate(LEAKY_CHECKS)


def test_payloads_render_inert_everywhere(server: Server, context: BrowserContext) -> None:
    page = context.new_page()
    problems: list[str] = []
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    base = server.url + "/_kero/?period=today"
    urls = [base] + [f"{base}&show={panel}" for panel in HOSTILE_PANELS]
    payload = XSS[1]  # filters show their value in a chip, in the title and in the chart's labels
    urls += [f"{base}&{dimension}={quote(value, safe='')}" for dimension, value in
             (("path", "/" + payload), ("utm_campaign", payload), ("name", payload), ("browser", payload),
              ("referrer", f"https://ref1.example/{payload}"), ("route", f"/r/{payload}"))]
    urls.append(f"{base}&path=/landing&show=referrer_urls")  # the javascript: and data: referrers
    results = {url: visit(page, url) for url in urls}
    bad = {url: r for url, r in results.items() if r["xss"] is not None or r["scripts"] != 1 or r["handlers"]
           or r["links"] or r["svg_active"]}
    # The payload paths as text: the 404s (requests with payload methods: no page views, and the
    # page views' User-Agents make them bots) are listed in the not-found card.
    text = page.goto(f"{base}&show=not_found") and page.locator("dialog").inner_text()
    print(f"\n[XSS] {len(urls)} dashboard views in Chromium, {len(XSS) + len(FORMULAS)} payloads in every tracked "
          f"string: executed={sum(1 for r in results.values() if r['xss'] is not None)}, dialogs/errors={problems}, "
          f"views with handlers/foreign-scheme links/active SVG={len(bad)}")
    assert problems == [] and bad == {}
    assert all("/" + payload in text for payload in XSS)  # shown, as text


def test_csv_defuses_formulas_and_json_stays_data(server: Server, context: BrowserContext) -> None:
    base = server.url + "/_kero/?period=today&limit=1000"
    csv_answer = context.request.get(base + "&format=csv")
    cells = [cell for row in csv.reader(io.StringIO(csv_answer.text())) for cell in row]
    formulas = [cell for cell in cells if cell.startswith(FORMULA_STARTS)]
    api = context.request.get(server.url + "/_kero/api/stats?period=today&limit=1000")
    data = api.text()
    print(f"\n[CSV/JSON] {len(cells)} CSV cells, {len(formulas)} starting like a formula; JSON {len(data)} bytes, "
          f"{api.headers['content-type']}, nosniff={api.headers.get('x-content-type-options')}")
    assert csv_answer.status == 200 and formulas == []
    assert all("'" + formula in cells or "'/" + formula in cells or "/" + formula in cells for formula in FORMULAS)
    assert api.headers["content-type"].startswith("application/json")
    assert api.headers["x-content-type-options"] == "nosniff"
    strings = json.dumps(json.loads(data))
    assert all(json.dumps(payload)[1:-1] in strings for payload in XSS)
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(server.url + "/_kero/api/stats?period=today")
    assert dialogs == [] and page.evaluate("window.__xss === undefined")
