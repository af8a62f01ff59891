"""No free text from the User-Agent is stored (issue 14, finding 7): ua-parser names agents after
what its regexes capture, so ``acme-internal-token-9f8e7d6c5b4a-bot`` was stored as a bot's name
and shown in the Bots card, and an Android device was stored under any model text. Now browser,
OS and device names come only from known lists (ua-parser's finite families, Kero's bot lists);
a bot none of them names is "Other bot"."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Callable

import pytest
from werkzeug.test import Client

from kero_core import Kero
from kero_core.agent_names import known_names
from kero_core.bots import _crawler_list
from kero_core.enrich import DEFAULT_IGNORED_AGENTS, OTHER_BOT, AgentParser
from kero_core.wsgi import KeroMiddleware
from tests.reliability.host import ok_app
from tests.reliability.servers import PASSWORD, USER, Server
from tests.security.conftest import raw_request
from tests.security.test_privacy import database_text

CORPORA = Path(__file__).parent.parent / "data" / "corpora"
# Each leaked its token through ua-parser before: as a bot's or an app's name, or as a device model.
CANARY_AGENTS = {
    "kero-canary-a1-bot/1.0": ("Other bot", "", "Spider"),
    "Mozilla/5.0 (compatible; kero-canary-a2-crawler/2.0; +http://example.com)": ("Other bot", "", "Spider"),
    "Mozilla/5.0 (Linux; Android 10; kero-canary-a3 Build/QP1A) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0 Mobile Safari/537.36": ("Chrome", "Android", ""),
    "kero-canary-a4-iPhone/1.0 CFNetwork/1.0 Darwin/20.0": ("", "iOS", "iPhone"),
    "kero-canary-a6/1.0 CFNetwork/1220.1 Darwin/20.3.0": ("", "iOS", "iOS-Device"),
    "Dalvik/2.1.0 (Linux; U; Android 11; kero-canary-b1 Build/RP1A)": ("Android", "Android", ""),
}
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}


def test_no_user_agent_words_in_the_data_or_the_dashboard(make_kero: Callable[..., Kero]) -> None:
    kero = make_kero(flush_interval=0.05)
    client = Client(KeroMiddleware(ok_app, kero, users={"admin": "pw"}))
    for ua in CANARY_AGENTS:
        client.get("/page", headers={"User-Agent": ua}, buffered=True)
    assert kero.flush(10)
    stored = {(e.browser, e.os, e.device) for e in kero.query()}
    auth = {"Authorization": "Basic " + base64.b64encode(b"admin:pw").decode()}
    pages = [client.get(f"/_kero/?period=today{extra}", headers=auth).data for extra in ("", "&show=bots", "&format=csv")]
    print(f"\n[agent words] stored (browser, os, device): {sorted(stored)}")
    assert stored == set(CANARY_AGENTS.values())
    assert b"kero-canary" not in database_text(kero.store.db_file)
    assert all(b"kero-canary" not in page for page in pages)


def test_a_bot_named_by_its_own_words_is_other_bot_over_http(servers: dict[str, Server]) -> None:
    """As in the finding: a bot request to the served site, then the dashboard's Bots list."""
    url = servers["wsgi"].url
    token = f"acme-internal-token-{time.time_ns():x}-bot"
    assert raw_request(url, "GET", "/", {"User-Agent": f"{token}/1.0"}).status == 200
    deadline, page = time.monotonic() + 20, b""
    while time.monotonic() < deadline:  # the worker's writer flushes about every second
        page = raw_request(url, "GET", "/_kero/?period=today&show=bots", AUTH).body
        if OTHER_BOT.encode() in page:
            break
        time.sleep(0.3)
    print(f"\n[agent words over HTTP] 'Other bot' shown: {OTHER_BOT.encode() in page}")
    assert OTHER_BOT.encode() in page and token.encode() not in page


def _known_or_generic() -> set[str]:
    """Every name Kero may store: the lists', and the generic ones."""
    names = known_names()
    entries = {e.strip("/:;,. -_") for e in DEFAULT_IGNORED_AGENTS}
    return ({"", OTHER_BOT} | entries | set(_crawler_list().names.values())
            | {n for table in names for n in table.values()})


@pytest.mark.parametrize("corpus", ["crawler-user-agents.json", "intoli-user-agents.tsv", "matomo-device-detector.tsv"])
def test_every_stored_name_of_public_corpora_comes_from_a_list(corpus: str) -> None:
    parser = AgentParser(list(DEFAULT_IGNORED_AGENTS))
    if corpus.endswith(".json"):
        agents = [ua for entry in json.loads((CORPORA / corpus).read_text()) for ua in entry.get("instances", [])]
    else:
        lines = (CORPORA / corpus).read_text(encoding="utf-8").splitlines()
        agents = [line.split("\t", 1)[1] for line in lines if not line.startswith("#")]
    allowed = _known_or_generic()
    parsed = [parser.parse(ua) for ua in agents]
    outside = sorted({n for a in parsed for n in (a.browser, a.os, a.device) if n not in allowed})
    bots = [a for a in parsed if a.is_bot]
    named = sum(a.browser != OTHER_BOT for a in bots)
    print(f"\n[{corpus}] {len(agents)} agents; bots named from a list: {named}/{len(bots)}; outside the lists: {outside[:10]}")
    assert outside == []
    if corpus.startswith("crawler"):
        assert named / len(bots) >= 0.95  # 96.5% measured: YandexMetrika and the like are "Other bot"
