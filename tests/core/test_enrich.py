"""Tests of kero_core.enrich against the real ua-parser, the real GeoLite2 database of the
maxminddb-geolite2 package, and real salt files; only the clocks are injected."""

from __future__ import annotations

import datetime
import logging
import math
import multiprocessing
import os
import shutil
import threading
from pathlib import Path

import maxminddb
import pytest
from _maxminddb_geolite2 import geolite2_database
from hypothesis import given, settings
from hypothesis import strategies as st
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from kero_core.enrich import (
    DEFAULT_IGNORED_AGENTS,
    EMPTY_CAMPAIGN,
    Agent,
    AgentParser,
    Campaign,
    GeoLookup,
    SaltStore,
    VisitorIds,
    campaign,
    client_ip,
    decode_path,
    referrer_domain,
)

GEOLITE2 = geolite2_database()
DAY = 86_400
MARCH_10 = 1_710_028_800.0  # 2024-03-10 00:00:00 UTC
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def parser() -> AgentParser:
    return AgentParser(list(DEFAULT_IGNORED_AGENTS))


@pytest.fixture(scope="module")
def geolite() -> GeoLookup:
    geo = GeoLookup(GEOLITE2)
    yield geo
    geo.close()


def kero_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "kero" and r.levelno == logging.WARNING]


# -- user agents ----------------------------------------------------------------------------------

BROWSERS = [
    # (User-Agent, browser, version, os, form factor)
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
     "Safari/537.36", "Chrome", "131.0", "Windows", "desktop"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
     "Firefox", "133.0", "Windows", "desktop"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
     "Safari/537.36 Edg/131.0.0.0", "Edge", "131.0", "Windows", "desktop"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 "
     "Safari/605.1.15", "Safari", "18.1", "Mac OS X", "desktop"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:133.0) Gecko/20100101 Firefox/133.0",
     "Firefox", "133.0", "Mac OS X", "desktop"),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox", "133.0", "Linux", "desktop"),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
     "Chrome", "131.0", "Linux", "desktop"),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.81 "
     "Mobile Safari/537.36", "Chrome Mobile", "131.0", "Android", "mobile"),
    ("Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0", "Firefox Mobile", "133.0", "Android",
     "mobile"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/18.1 Mobile/15E148 Safari/604.1", "Mobile Safari", "18.1", "iOS", "mobile"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1", "Chrome Mobile iOS", "131.0", "iOS", "mobile"),
    ("Mozilla/5.0 (iPad; CPU OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.7 "
     "Mobile/15E148 Safari/604.1", "Mobile Safari", "17.7", "iOS", "tablet"),
    ("Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
     "Safari/537.36", "Chrome", "131.0", "Android", "tablet"),
    ("Mozilla/5.0 (Android 14; Tablet; rv:133.0) Gecko/133.0 Firefox/133.0", "Firefox Mobile", "133.0", "Android",
     "tablet"),
]


@pytest.mark.parametrize(("ua", "browser", "version", "os_family", "form_factor"), BROWSERS)
def test_browsers_are_parsed_and_are_not_bots(
    parser: AgentParser, ua: str, browser: str, version: str, os_family: str, form_factor: str
) -> None:
    agent = parser.parse(ua)
    assert (agent.browser, agent.browser_version, agent.os, agent.form_factor) == (
        browser, version, os_family, form_factor)
    assert agent.is_bot is False


# Signals beyond "Mobile" (tests/core/test_agent_corpora.py measures them on public samples).
FORM_FACTOR_SIGNALS = [
    # An app's own User-Agent never says "Mobile": without a tablet model it is a phone.
    ("Dalvik/2.1.0 (Linux; U; Android 9; Zeta X5 Build/PPR1.180610.011)", "mobile"),
    ("Mozilla/5.0 (Linux; Android 11; Zeta X5 Build/RP1A.200720.011; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Version/4.0 Chrome/96.0.4664.45", "mobile"),
    # A browser's User-Agent without "Mobile" stays a tablet.
    ("Mozilla/5.0 (Linux; Android 11; Zeta X5) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/96.0.4664.45 "
     "Safari/537.36", "tablet"),
    # Yandex's apps mark tablets "apad", even where the User-Agent says "Mobile".
    ("Mozilla/5.0 (Linux; arm_64; Android 13; Zeta X5) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/120.0.6099.230 YaSearchBrowser/24.10/apad Mobile Safari/537.36", "tablet"),
    # Makers' schemes: Digma's size digit (1x = 10-inch), Irbis TZ, Xiaomi's "RP" pads, Teclast's _EEA builds.
    ("Mozilla/5.0 (Linux; Android 11; Optima 1026N 3G TT1192PG) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/96.0.4664.45 Mobile Safari/537.36", "tablet"),
    ("Mozilla/5.0 (Linux; Android 11; Optima 5026N 3G TT5192PG) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/96.0.4664.45 Mobile Safari/537.36", "mobile"),
    ("Mozilla/5.0 (Linux; Android 9; TZ968) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/96.0.4664.45 "
     "Mobile Safari/537.36", "tablet"),
    ("Mozilla/5.0 (Linux; Android 14; 24109RP41G) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 "
     "Mobile Safari/537.36", "tablet"),
    ("Mozilla/5.0 (Linux; Android 13; P99_EEA) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 "
     "Mobile Safari/537.36", "tablet"),
    ("Mozilla/5.0 (Linux; Android 14; iPlay_70) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 "
     "Mobile Safari/537.36", "tablet"),
    # A model ua-parser calls "Generic Smartphone" is read from the User-Agent (BQ's 7-inch 7xxx).
    ("Mozilla/5.0 Linux; Android 8.1.0; BQ-7099L AppleWebKit/537.36 KHTML, like Gecko Chrome/75.0.3770.101 "
     "Mobile Safari/537.36", "tablet"),
    # Android laptops are desktops, and Windows' "Tablet PC" token is no tablet.
    ("Mozilla/5.0 (Linux; Android 9; Latitude 5490) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/84.0.4147.89 "
     "Safari/537.36", "desktop"),
    ("Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1; Trident/4.0; SLCC2; Media Center PC 6.0; Tablet PC 2.0)",
     "desktop"),
]


@pytest.mark.parametrize(("ua", "expected"), FORM_FACTOR_SIGNALS)
def test_form_factor_signals(parser: AgentParser, ua: str, expected: str) -> None:
    assert parser.parse(ua).form_factor == expected


def test_os_version_and_device_are_kept(parser: AgentParser) -> None:
    iphone = parser.parse(BROWSERS[9][0])
    assert (iphone.os_version, iphone.device) == ("18.1", "iPhone")
    windows = parser.parse(BROWSERS[0][0])
    assert (windows.os_version, windows.device) == ("10", "")  # ua-parser's "Other" becomes ''


@pytest.mark.parametrize(("ua", "browser"), [
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "Googlebot"),
    ("Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.6778.69 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
     "Googlebot"),
    ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "bingbot"),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 "
     "Safari/537.36", "HeadlessChrome"),
    ("curl/8.5.0", "curl"),
    ("CURL/8.5.0", "curl"),  # named as its list spells it, never in the agent's own words
    ("python-requests/2.32.3", "Python Requests"),
    ("Python-Requests/2.32.3", "python-requests"),  # ua-parser is case-sensitive: Kero's list names it
    ("Go-http-client/1.1", "Go-http-client"),
    ("GO-HTTP-CLIENT/2.0", "go-http-client"),
    ("axios/1.7.7", "axios"),
    ("Axios/1.7.7", "axios"),
    ("python-httpx/0.27.0", "python-httpx"),  # unknown to ua-parser: named by ignored_agents
    ("node-fetch/1.0 (+https://github.com/bitinn/node-fetch)", "node-fetch"),
    ("Mozilla/5.0 (compatible; FooCrawler/2.1)", "Other bot"),  # in no list: its words are not kept
])
def test_bots_and_http_libraries_are_bots(parser: AgentParser, ua: str, browser: str) -> None:
    agent = parser.parse(ua)
    assert (agent.is_bot, agent.form_factor, agent.browser) == (True, "bot", browser)


def test_library_version_comes_from_its_product_token(parser: AgentParser) -> None:
    assert parser.parse("python-httpx/0.27.0").browser_version == "0.27"


@pytest.mark.parametrize("ua", ["", "   ", "\x00\x01"])
def test_an_empty_user_agent_is_a_bot_with_empty_fields(parser: AgentParser, ua: str) -> None:
    assert parser.parse(ua) == Agent("", "", "", "", "", "bot", True)


@pytest.mark.parametrize("ua", ["garbage", "\ud800\udfff", "\xff\xfe\x00 ☃ ((((", "Mozilla/5.0 (;;;;)"])
def test_garbage_user_agents_give_empty_desktop_fields(parser: AgentParser, ua: str) -> None:
    agent = parser.parse(ua)
    assert (agent.browser, agent.os, agent.device, agent.is_bot) == ("", "", "", False)


def test_a_20_kb_user_agent_is_cut_to_512_characters_before_parsing(parser: AgentParser) -> None:
    huge = BROWSERS[0][0] + " (" + "x" * 20_000 + ")"
    assert parser.parse(huge) is parser.parse(huge[:512])  # one cached parse of the cut string
    assert parser.parse(huge).browser == "Chrome"


def test_a_bot_word_past_512_characters_is_not_seen(parser: AgentParser) -> None:
    assert parser.parse(BROWSERS[0][0].ljust(600) + "bot").is_bot is False


def test_parse_results_are_cached(parser: AgentParser) -> None:
    assert parser.parse(BROWSERS[1][0]) is parser.parse(BROWSERS[1][0])


def test_user_extended_ignored_agents_take_effect_at_once() -> None:
    ignored = list(DEFAULT_IGNORED_AGENTS)
    parser = AgentParser(ignored)
    monitor = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0.0.0 Safari/537.36 AcmeMonitor/3.1"
    assert parser.parse(monitor).is_bot is False
    ignored.append("ACMEmonitor")  # users may write any case
    agent = parser.parse(monitor)
    assert (agent.is_bot, agent.form_factor, agent.browser) == (True, "bot", "Chrome")
    ignored.remove("ACMEmonitor")
    assert parser.parse(monitor).is_bot is False


def test_empty_or_non_text_ignored_agents_are_skipped() -> None:
    parser = AgentParser(["", "  ", None, 42, "curl"])  # type: ignore[list-item]
    assert parser.parse(BROWSERS[0][0]).is_bot is False  # "" would match everything
    assert parser.parse("curl/8.5.0").is_bot is True


def test_spiders_and_listed_crawlers_are_bots_even_with_an_empty_ignore_list() -> None:
    parser = AgentParser([])
    assert parser.parse("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)").is_bot
    assert parser.parse("curl/8.5.0").is_bot  # named by the public crawler list
    assert parser.parse("undici").is_bot is False  # a library the public list does not name: only by ours
    assert AgentParser(list(DEFAULT_IGNORED_AGENTS)).parse("undici").is_bot


def test_default_ignored_agents_are_lowercase_words() -> None:
    assert all(n == n.lower() and n.strip() for n in DEFAULT_IGNORED_AGENTS)
    assert {"curl", "python-requests", "go-http-client", "axios", "ruby", "java/"} <= set(DEFAULT_IGNORED_AGENTS)


# Each of these was a bot for the old substring needles ("bot", "ruby", "php/", "java/").
PEOPLE_WITH_BOT_LIKE_WORDS = [
    "Mozilla/5.0 (Linux; Android 10; Cubot X30) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile "
    "Safari/537.36",
    "Mozilla/5.0 (Linux; Android 9; OrangeBotswana) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile "
    "Safari/537.36",
    "Mozilla/5.0 (Linux; U; Android 2.3.4; en-us; HTC Ruby Build/GRJ22) AppleWebKit/533.1 (KHTML, like Gecko) "
    "Version/4.0 Mobile Safari/533.1",
    "HTC_Ruby Mozilla/5.0 (Linux; U; Android 2.3.4; htc_botdugls) AppleWebKit/533.1 (KHTML, like Gecko)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:120.0) Gecko/20100101 Firefox/120.0 FirePHP/0.7.4",
]


@pytest.mark.parametrize("ua", PEOPLE_WITH_BOT_LIKE_WORDS)
def test_words_that_contain_a_bot_word_are_people(parser: AgentParser, ua: str) -> None:
    assert parser.parse(ua).is_bot is False


@pytest.mark.parametrize("ua", [
    # every Android 15 phone of this build (the crawler list names the build number after one instance)
    "Mozilla/5.0 (Linux; Android 15; RMX3890 Build/AP3A.240617.008) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36",
    # Sogou's own mobile browser, not its crawler
    "Mozilla/5.0 (Linux; Android 12; V2148A) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/91.0.4472.114 Mobile "
    "Safari/537.36 SogouMobileBrowser/5.33.1",
])
def test_crawler_list_patterns_that_real_browsers_match_are_left_out(parser: AgentParser, ua: str) -> None:
    assert parser.parse(ua).is_bot is False


def test_sogous_crawler_is_still_a_bot(parser: AgentParser) -> None:
    assert parser.parse("Sogou web spider/4.0(+http://www.example.com/docs/help/webmasters.htm#07)").is_bot


@pytest.mark.parametrize("ua", [
    "Mozilla/5.0 (compatible; ExampleFetcher/1.0; +https://example.org/fetcher)",  # a URL
    "ExampleAgent/2.0 (contact: ops@example.org)",  # an e-mail address
    "Ruby", "Java/17.0.2", "PHP/8.2", "UniversalFeedParser/5.2.1 +https://github.com/kurtmckee/feedparser",
    "Tiny Tiny RSS/22.08 (https://tt-rss.org/)", "Miniflux/2.0.50", "coccocbot-web/1.0", "ips-agent",
])
def test_automated_agents_without_a_bot_word_are_bots(parser: AgentParser, ua: str) -> None:
    assert parser.parse(ua).is_bot is True


# -- paths, referrers, campaigns ------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "path"), [
    ("/caf\xc3\xa9", "/café"),  # WSGI: UTF-8 bytes decoded as latin-1
    ("/café", "/café"),  # already decoded by a framework, and not valid UTF-8 once re-encoded: kept
    ("/日本", "/日本"),  # already decoded, not latin-1 encodable: kept
    ("/a\x00b\r\nc\x7f\x85d", "/abcd"),  # control characters dropped
    ("/bad\ud800", "/bad\ufffd"),  # a lone surrogate cannot be stored
    ("/" + "a" * 5000, "/" + "a" * 2047),
])
def test_decode_path(raw: str, path: str) -> None:
    assert decode_path(raw) == path


@pytest.mark.parametrize(("referrer", "domain"), [
    ("https://www.example.com/page?q=1", "example.com"),
    ("http://Example.COM/", "example.com"),
    ("HTTPS://WWW.EXAMPLE.COM", "example.com"),
    ("https://example.com:8443/x", "example.com"),
    ("https://www.www.example.com/", "www.example.com"),  # only one leading "www." goes
    ("https://wwwexample.com/", "wwwexample.com"),
    ("https://news.example.co.uk./a", "news.example.co.uk"),  # the root's trailing dot
    ("https://user:secret@example.com/", "example.com"),  # credentials never come out
    ("http://[2001:DB8::1]:8080/", "2001:db8::1"),
    ("http://[::1]/", "::1"),
    ("http://192.168.1.1:3000/", "192.168.1.1"),
    ("https://bücher.example/", "bücher.example"),
    ("", ""),
    ("javascript:alert(1)", ""),
    ("data:text/html,<script>alert(1)</script>", ""),
    ("android-app://com.google.android.gm/", ""),
    ("ftp://example.com/", ""),
    ("example.com/page", ""),
    ("//example.com/", ""),
    ("http://", ""),
    ("http://[::1/", ""),  # unclosed IPv6 literal
    ("http://[not-an-ip]/", ""),
    ("http://exa mple.com/", ""),
    ("http://<script>/", ""),
    ("http://a..b/", ""),
    ("https://" + "a" * 300 + ".com/", ""),
    ("\x00\xff garbage", ""),
])
def test_referrer_domain(referrer: str, domain: str) -> None:
    assert referrer_domain(referrer) == domain


def test_campaign_reads_all_five_utm_parameters() -> None:
    query = "utm_source=newsletter&utm_medium=email&utm_campaign=spring+sale&utm_term=shoes&utm_content=top-link&x=1"
    assert campaign(query) == Campaign("newsletter", "email", "spring sale", "shoes", "top-link", "")


@pytest.mark.parametrize("kind", ["gclid", "fbclid", "msclkid", "twclid"])
def test_campaign_keeps_the_kind_of_click_id_never_its_value(kind: str) -> None:
    result = campaign(f"{kind}=Cj0KCQiA-secret-value&page=2")
    assert result == Campaign("", "", "", "", "", kind)
    assert "secret" not in repr(result)


@pytest.mark.parametrize(("query", "expected"), [
    ("utm_source=%E2%82%AC%20euro", "€ euro"),  # percent-decoded as UTF-8
    ("utm_source=caf\xc3\xa9", "café"),  # raw UTF-8 bytes as WSGI's latin-1 string
    ("utm_source=caf\xe9", "café"),  # raw latin-1 bytes: not UTF-8, kept as latin-1
    ("utm_source=%zz%4", "%zz%4"),  # invalid escapes stay literal
    ("utm_source=%E2%82", "\ufffd"),  # truncated UTF-8 becomes a replacement character
    ("utm_source=%00a%0Ab%1F", "ab"),  # decoded control characters dropped
    ("utm_source=++padded++", "padded"),
    ("utm_source=" + "x" * 1000, "x" * 256),
    ("utm_source=&utm_source=second&utm_source=third", "second"),  # first non-empty of a repeated key
    ("UTM_Source=upper", "upper"),
    ("utm%5Fsource=encoded-key", "encoded-key"),
])
def test_campaign_decodes_values(query: str, expected: str) -> None:
    assert campaign(query).utm_source == expected


@pytest.mark.parametrize("query", ["", "a=1&b=2", "utm_source=", "gclid=", "&&&==&", "\x00\xff%", "utm_source"])
def test_queries_without_a_campaign_give_the_empty_campaign(query: str) -> None:
    assert campaign(query) is EMPTY_CAMPAIGN


def test_the_first_click_id_kind_in_a_fixed_order_wins() -> None:
    assert campaign("twclid=1&fbclid=2&gclid=3").click_id == "gclid"


# -- client address -------------------------------------------------------------------------------

def test_client_ip_by_default_ignores_the_headers_of_a_direct_client() -> None:
    """The peer is on the internet: nothing it sends is believed (the old default took 3.3.3.3)."""
    assert client_ip("81.2.69.142", "1.1.1.1, 2.2.2.2", "3.3.3.3", "4.4.4.4", None) == "81.2.69.142"
    assert client_ip("81.2.69.142:5000", "1.1.1.1", "", "4.4.4.4", None) == "81.2.69.142"


def test_client_ip_by_default_takes_the_rightmost_public_entry_behind_an_internal_peer() -> None:
    # A client sent "6.6.6.6"; the proxy appended what it saw (81.2.69.142), then an internal hop.
    assert client_ip("127.0.0.1", "6.6.6.6, 81.2.69.142", "3.3.3.3", "4.4.4.4", None) == "81.2.69.142"
    assert client_ip("10.0.0.1", " 6.6.6.6 , 81.2.69.142 , 10.0.0.5", "", "", None) == "81.2.69.142"
    assert client_ip("::1", "6.6.6.6, [2a02:8070::1]:443, fd00::2", "", "", None) == "2a02:8070::1"
    # Only internal entries (a client on the LAN): the right-most, which the proxy wrote.
    assert client_ip("10.0.0.1", "10.9.9.9, 192.168.1.5", "", "", None) == "192.168.1.5"
    # No X-Forwarded-For: X-Real-IP (set by the proxy), else the peer. CF-Connecting-IP never.
    assert client_ip("10.0.0.1", "", "3.3.3.3", " 81.2.69.142 ", None) == "81.2.69.142"
    assert client_ip("10.0.0.1", " , ", "3.3.3.3", "", None) == "10.0.0.1"


def test_client_ip_with_zero_trusted_proxies_uses_the_socket_address_only() -> None:
    assert client_ip("10.0.0.1", "1.1.1.1", "3.3.3.3", "4.4.4.4", 0) == "10.0.0.1"


def test_client_ip_with_trusted_proxies_ignores_spoofed_leftmost_entries() -> None:
    # The client sent "X-Forwarded-For: 6.6.6.6"; the two trusted proxies appended what they saw.
    spoofed = "6.6.6.6, 81.2.69.142, 10.0.0.5"
    assert client_ip("10.0.0.9", spoofed, "7.7.7.7", "8.8.8.8", 2) == "81.2.69.142"
    assert client_ip("10.0.0.9", spoofed, "", "", 1) == "10.0.0.5"
    assert client_ip("10.0.0.9", spoofed, "", "", 3) == "6.6.6.6"


def test_client_ip_falls_back_to_the_socket_address_with_too_few_entries() -> None:
    assert client_ip("10.0.0.9", "81.2.69.142", "", "", 2) == "10.0.0.9"
    assert client_ip("10.0.0.9", "", "", "", 1) == "10.0.0.9"
    assert client_ip("10.0.0.9", "1.1.1.1, ", "", "", 1) == "10.0.0.9"  # an empty entry is no address


@pytest.mark.parametrize(("header", "ip"), [
    ("81.2.69.142:51234", "81.2.69.142"),
    ("[2001:db8::1]:443", "2001:db8::1"),
    ("[2001:db8::1]", "2001:db8::1"),
    ("2001:db8::1", "2001:db8::1"),
    ("unknown", "unknown"),  # garbage passes through; geo and the hash handle it
])
def test_client_ip_drops_ports(header: str, ip: str) -> None:
    assert client_ip("127.0.0.1", header, "", "", None) == ip
    assert client_ip("", header, "", "", 1) == ip


# -- geo ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("ip", "location"), [
    # What the 2018-07-03 GeoLite2-City of maxminddb-geolite2 says (read from the file).
    ("81.2.69.142", ("GB", "England", "Willesden")),  # MaxMind's own test address
    ("89.160.20.112", ("SE", "Stockholm", "Stockholm")),
    ("175.16.199.0", ("CN", "Jilin", "Changchun")),
    ("129.132.19.216", ("CH", "Zurich", "Zurich")),
    ("8.8.8.8", ("US", "", "")),  # a country without region and city
    ("2001:620::1", ("CH", "Zurich", "Zurich")),
    ("2a00:1450:4001:81b::200e", ("DE", "Hesse", "Frankfurt am Main")),
    ("2001:218::1", ("JP", "", "")),
    ("::ffff:81.2.69.142", ("GB", "England", "Willesden")),  # IPv4-mapped IPv6
])
def test_geolite2_locations(geolite: GeoLookup, ip: str, location: tuple[str, str, str]) -> None:
    assert geolite.lookup(ip) == location


@pytest.mark.parametrize("ip", [
    "10.0.0.1", "192.168.1.1", "127.0.0.1", "::1", "fe80::1", "2001:db8::1", "0.0.0.0",
    "", "unknown", "81.2.69.142 ", "81.2.69", "300.1.1.1", "1.2.3.4.5", "fe80::1%eth0", "\x00", "\ud800",
])
def test_private_and_invalid_addresses_have_no_location(geolite: GeoLookup, ip: str) -> None:
    assert geolite.lookup(ip) == ("", "", "")


def test_no_database_means_no_location() -> None:
    assert GeoLookup(None).lookup("81.2.69.142") == ("", "", "")


def write_geo_db(path: Path, country: str, city: str) -> None:
    """A tiny GeoLite2-City-shaped database, written to a temporary name then renamed into place."""
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-City", languages=["en"],
                        description="kero test")
    writer.insert_network(IPSet(["81.2.69.0/24"]), {
        "country": {"iso_code": country}, "subdivisions": [{"names": {"en": "Region"}}],
        "city": {"names": {"en": city}}})
    temp = path.with_suffix(".tmp")
    writer.to_db_file(str(temp))
    os.replace(temp, path)


def test_a_missing_file_logs_one_warning_and_is_picked_up_when_it_appears(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    geo = GeoLookup(tmp_path / "GeoLite2-City.mmdb", clock=clock)
    for _ in range(3):
        assert geo.lookup("81.2.69.142") == ("", "", "")
        clock.now += 11
    assert len(kero_warnings(caplog)) == 1
    write_geo_db(tmp_path / "GeoLite2-City.mmdb", "AA", "Alpha")
    clock.now += 11
    assert geo.lookup("81.2.69.142") == ("AA", "Region", "Alpha")
    geo.close()


def test_a_replaced_file_is_reloaded_within_10_seconds(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path, clock = tmp_path / "GeoLite2-City.mmdb", Clock()
    write_geo_db(path, "AA", "Alpha")
    geo = GeoLookup(path, clock=clock)
    assert geo.lookup("81.2.69.142") == ("AA", "Region", "Alpha")
    write_geo_db(path, "BB", "Beta")  # what geoipupdate does: a new file renamed over the old one
    clock.now += 9
    assert geo.lookup("81.2.69.142") == ("AA", "Region", "Alpha")  # not checked yet: cached
    clock.now += 2
    assert geo.lookup("81.2.69.142") == ("BB", "Region", "Beta")
    assert kero_warnings(caplog) == []
    geo.close()


def test_a_deleted_file_turns_geo_off_with_one_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path, clock = tmp_path / "GeoLite2-City.mmdb", Clock()
    write_geo_db(path, "AA", "Alpha")
    geo = GeoLookup(path, clock=clock)
    assert geo.lookup("81.2.69.142") == ("AA", "Region", "Alpha")
    path.unlink()  # e.g. MaxMind's licence: outdated copies must be deleted
    for _ in range(5):
        clock.now += 11
        assert geo.lookup("81.2.69.142") == ("", "", "")
    assert len(kero_warnings(caplog)) == 1
    write_geo_db(path, "BB", "Beta")
    clock.now += 11
    assert geo.lookup("81.2.69.142") == ("BB", "Region", "Beta")
    geo.close()


def test_a_file_overwritten_in_place_by_garbage_degrades_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path, clock = tmp_path / "GeoLite2-City.mmdb", Clock()
    shutil.copyfile(GEOLITE2, path)
    geo = GeoLookup(path, clock=clock)
    assert geo.lookup("81.2.69.142") == ("GB", "England", "Willesden")
    with open(path, "r+b") as file:  # truncated in place, same inode: SIGBUS under an mmap
        file.truncate(1000)
        file.write(b"not a MaxMind database" * 10)
    assert geo.lookup("89.160.20.112") == ("SE", "Stockholm", "Stockholm")  # uncached, from memory
    for _ in range(5):
        clock.now += 11
        assert geo.lookup("81.2.69.142") == ("", "", "")
        assert geo.lookup("8.8.8.8") == ("", "", "")
    warnings = kero_warnings(caplog)
    assert len(warnings) == 1 and "not usable" in warnings[0]
    geo.close()


def test_a_corrupt_data_section_turns_geo_off_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "GeoLite2-City.mmdb"
    write_geo_db(path, "AA", "Alpha")
    with maxminddb.open_database(str(path), maxminddb.MODE_MEMORY) as reader:
        tree_end = reader.metadata().search_tree_size + 16  # the data section starts after a separator
    data = bytearray(path.read_bytes())
    data[tree_end:tree_end + 24] = b"\xff" * 24  # valid metadata, garbage records
    path.write_bytes(bytes(data))
    geo = GeoLookup(path)
    for _ in range(3):
        assert geo.lookup("81.2.69.142") == ("", "", "")
    warnings = kero_warnings(caplog)
    assert len(warnings) == 1 and "corrupt" in warnings[0]
    geo.close()


def test_close_frees_the_database_and_a_later_lookup_reopens_it(tmp_path: Path) -> None:
    path = tmp_path / "GeoLite2-City.mmdb"
    write_geo_db(path, "AA", "Alpha")
    geo = GeoLookup(path)
    assert geo.lookup("81.2.69.142") == ("AA", "Region", "Alpha")
    geo.close()
    geo.close()
    assert geo.lookup("81.2.69.142") == ("AA", "Region", "Alpha")
    geo.close()


# -- salts ----------------------------------------------------------------------------------------

def test_a_salt_is_random_private_and_shared_by_instances_on_the_same_folder(tmp_path: Path) -> None:
    day = datetime.date(2024, 3, 10)
    first, second = SaltStore(tmp_path / "salts"), SaltStore(tmp_path / "salts")
    salt = first.salt_for(day)
    assert len(salt) >= 16
    assert second.salt_for(day) == salt
    assert first.salt_for(day + datetime.timedelta(days=1)) != salt
    assert (tmp_path / "salts" / "2024-03-10").stat().st_mode & 0o777 == 0o600
    assert sorted(os.listdir(tmp_path / "salts")) == ["2024-03-10", "2024-03-11"]  # no temporary file left


def test_concurrent_creators_in_threads_agree(tmp_path: Path) -> None:
    folder, threads_per_day = tmp_path / "salts", 6
    for offset in range(10):
        day = datetime.date(2024, 3, 10) + datetime.timedelta(days=offset)
        barrier, salts = threading.Barrier(threads_per_day), []

        def create(day: datetime.date = day, barrier: threading.Barrier = barrier, salts: list = salts) -> None:
            store = SaltStore(folder)
            barrier.wait()
            salts.append(store.salt_for(day))

        threads = [threading.Thread(target=create) for _ in range(threads_per_day)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(salts) == threads_per_day and len(set(salts)) == 1
    assert len(os.listdir(folder)) == 10


def _salt_in_child(folder: str, barrier: multiprocessing.synchronize.Barrier, results: multiprocessing.Queue) -> None:
    store = SaltStore(folder)
    barrier.wait()
    results.put(store.salt_for(datetime.date(2024, 3, 10)))


def test_concurrent_creators_in_processes_agree(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")  # no fork of a threaded pytest process
    barrier, results = context.Barrier(4), context.Queue()
    processes = [context.Process(target=_salt_in_child, args=(str(tmp_path), barrier, results)) for _ in range(4)]
    for process in processes:
        process.start()
    salts = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    assert len(set(salts)) == 1
    assert (tmp_path / "2024-03-10").read_bytes() == salts[0]
    assert os.listdir(tmp_path) == ["2024-03-10"]


def test_destroy_before_deletes_older_salts_from_disk_and_memory(tmp_path: Path) -> None:
    store = SaltStore(tmp_path)
    days = [datetime.date(2024, 3, 8) + datetime.timedelta(days=n) for n in range(4)]
    old_salts = [store.salt_for(day) for day in days]
    (tmp_path / "2024-03-01.abc123.tmp").write_bytes(b"x" * 32)  # a creator killed before its cleanup
    (tmp_path / "README").write_text("not a salt")
    assert store.destroy_before(days[2]) == 3
    assert sorted(os.listdir(tmp_path)) == ["2024-03-10", "2024-03-11", "README"]
    assert store.salt_for(days[2]) == old_salts[2]
    assert store.salt_for(days[0]) != old_salts[0]  # destroyed: a new salt, never the old one
    assert not (tmp_path / "2024-03-08").exists()  # and not written to disk again
    assert store.destroy_before(days[2]) == 0


def test_destroy_before_on_a_missing_folder_deletes_nothing(tmp_path: Path) -> None:
    assert SaltStore(tmp_path / "never-created").destroy_before(datetime.date(2024, 3, 10)) == 0


def test_an_unusable_salt_folder_keeps_salts_in_memory_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "salts"
    blocker.write_text("a file where the folder should be")
    store = SaltStore(blocker)
    day = datetime.date(2024, 3, 10)
    salt = store.salt_for(day)
    assert len(salt) >= 16 and store.salt_for(day) == salt
    store.salt_for(day + datetime.timedelta(days=1))
    assert len(kero_warnings(caplog)) == 1
    assert store.destroy_before(day) == 0


def test_a_too_short_salt_file_is_not_used(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "2024-03-10").write_bytes(b"short")
    salt = SaltStore(tmp_path).salt_for(datetime.date(2024, 3, 10))
    assert len(salt) >= 16 and salt != b"short"
    assert len(kero_warnings(caplog)) == 1


# -- visitor ids ----------------------------------------------------------------------------------

def make_ids(folder: Path, now: float = MARCH_10 + 10 * DAY) -> VisitorIds:
    return VisitorIds(SaltStore(folder), clock=Clock(now))


ALICE = ("81.2.69.142", BROWSERS[0][0], "en-GB,en;q=0.9", "gzip, br")
BOB = ("89.160.20.112", BROWSERS[0][0], "en-GB,en;q=0.9", "gzip, br")


def test_a_visitor_keeps_one_id_all_day_across_instances(tmp_path: Path) -> None:
    ids = make_ids(tmp_path)
    morning = ids.visitor_id(MARCH_10 + 3600, *ALICE)
    assert ids.visitor_id(MARCH_10 + 20 * 3600, *ALICE) == morning
    assert make_ids(tmp_path).visitor_id(MARCH_10 + 12 * 3600, *ALICE) == morning  # another process
    assert 0 < morning < 2**64


def test_distinct_visitors_get_distinct_ids(tmp_path: Path) -> None:
    ids = make_ids(tmp_path)
    variants = {ALICE, BOB, (ALICE[0], "curl/8.5.0", *ALICE[2:]), (*ALICE[:2], "de", ALICE[3]),
                (*ALICE[:3], "identity"), ("81.2.69.14", "2" + ALICE[1], *ALICE[2:])}
    assert len({ids.visitor_id(MARCH_10 + 60, *v) for v in variants}) == len(variants)


def test_fields_cannot_pass_for_one_another(tmp_path: Path) -> None:
    ids = make_ids(tmp_path)
    assert ids.visitor_id(MARCH_10, "1.2.3.4", "ab", "", "") != ids.visitor_id(MARCH_10, "1.2.3.4a", "b", "", "")
    assert ids.visitor_id(MARCH_10, "a\x00b", "", "", "") != ids.visitor_id(MARCH_10, "a", "b", "", "")


def test_ids_change_across_days_and_only_two_salts_are_kept(tmp_path: Path) -> None:
    ids = make_ids(tmp_path)
    daily = [ids.visitor_id(MARCH_10 + n * DAY + 12 * 3600, *ALICE) for n in range(3)]
    assert len(set(daily)) == 3
    assert sorted(os.listdir(tmp_path)) == ["2024-03-11", "2024-03-12"]  # 2024-03-10's salt is destroyed


def test_a_visit_crossing_midnight_keeps_its_id(tmp_path: Path) -> None:
    ids = make_ids(tmp_path)
    midnight = MARCH_10 + DAY
    evening = ids.visitor_id(midnight - 10 * 60, *ALICE)
    assert ids.visitor_id(midnight + 10 * 60, *ALICE) == evening
    assert ids.visitor_id(midnight + 35 * 60, *ALICE) == evening  # 25 minutes after the last hit
    fresh = make_ids(tmp_path).visitor_id(midnight + 36 * 60, *ALICE)  # what the new day's salt gives
    assert fresh != evening
    assert ids.visitor_id(midnight + 70 * 60, *ALICE) == fresh  # 35 minutes of silence: a new visit


def test_no_carry_over_after_30_minutes_or_for_new_visitors(tmp_path: Path) -> None:
    ids, other = make_ids(tmp_path), make_ids(tmp_path)
    midnight = MARCH_10 + DAY
    evening = ids.visitor_id(midnight - 20 * 60, *ALICE)
    after = ids.visitor_id(midnight + 11 * 60, *ALICE)
    assert after != evening
    assert after == other.visitor_id(midnight + 11 * 60, *ALICE)
    assert ids.visitor_id(midnight + 60, *BOB) == other.visitor_id(midnight + 60, *BOB)


def test_unusable_times_give_id_zero_without_touching_the_salts(tmp_path: Path) -> None:
    now = MARCH_10 + 3600
    ids = make_ids(tmp_path, now=now)
    today = ids.visitor_id(now, *ALICE)
    year_one = (datetime.datetime(1, 1, 1, tzinfo=datetime.timezone.utc) - EPOCH).total_seconds()
    for ts in (math.nan, math.inf, -math.inf, 1e300, -1e300, now + 2 * DAY, year_one):
        assert ids.visitor_id(ts, *ALICE) == 0
    assert ids.visitor_id(year_one + DAY, *ALICE) != 0  # the first day whose day before is a date
    assert ids.visitor_id(now, *ALICE) == today
    assert os.listdir(tmp_path) == ["2024-03-10"]  # the future did not destroy today's salt


def test_an_old_day_gets_ids_but_no_salt_file(tmp_path: Path) -> None:
    ids = make_ids(tmp_path)
    ids.visitor_id(MARCH_10 + 5 * DAY, *ALICE)
    old = ids.visitor_id(MARCH_10, *ALICE)
    assert old != 0 and ids.visitor_id(MARCH_10 + 60, *ALICE) == old
    assert os.listdir(tmp_path) == ["2024-03-15"]


# -- nothing raises on arbitrary input ------------------------------------------------------------

def assert_storable(*values: object) -> None:
    """Every string returned can be stored as UTF-8 and holds no control character."""
    for value in values:
        if isinstance(value, str):
            value.encode("utf-8")
            assert not any(ord(c) < 32 or 127 <= ord(c) < 160 for c in value)


@pytest.fixture(scope="module")
def ids_for_fuzz(tmp_path_factory: pytest.TempPathFactory) -> VisitorIds:
    return VisitorIds(SaltStore(tmp_path_factory.mktemp("salts")))


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_text_functions_never_raise(text: str) -> None:
    assert_storable(decode_path(text), referrer_domain(text), referrer_domain("http://" + text))
    result = campaign(text)
    assert_storable(result.utm_source, result.utm_medium, result.utm_campaign, result.utm_term,
                    result.utm_content, result.click_id)


@settings(max_examples=200, deadline=None)
@given(st.text(), st.text(), st.text(), st.text(), st.one_of(st.none(), st.integers(-3, 5)))
def test_client_ip_never_raises(remote: str, forwarded: str, cf: str, real: str, trusted: int | None) -> None:
    assert isinstance(client_ip(remote, forwarded, cf, real, trusted), str)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=1000))
def test_agent_parser_never_raises(parser: AgentParser, ua: str) -> None:
    agent = parser.parse(ua)
    assert agent.form_factor in ("desktop", "mobile", "tablet", "bot")
    assert_storable(agent.browser, agent.browser_version, agent.os, agent.os_version, agent.device)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(), st.ip_addresses().map(str)))
def test_geo_lookup_never_raises(geolite: GeoLookup, ip: str) -> None:
    assert_storable(*geolite.lookup(ip))


@settings(max_examples=200, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True, min_value=None, max_value=None) | st.just(MARCH_10),
       st.text(), st.text(), st.text(), st.text())
def test_visitor_id_never_raises(ids_for_fuzz: VisitorIds, ts: float, ip: str, ua: str, lang: str, enc: str) -> None:
    assert 0 <= ids_for_fuzz.visitor_id(ts, ip, ua, lang, enc) < 2**64
