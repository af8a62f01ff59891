"""Bot detection and form factors measured on public User-Agent corpora no one here wrote.

Sources and licences: tests/data/corpora/README.md. Each test reports its rate (``-rP`` shows it)
and asserts the target of issue 17; the misses are printed so a failing run says which samples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kero_core.enrich import DEFAULT_IGNORED_AGENTS, AgentParser

CORPORA = Path(__file__).parent.parent / "data" / "corpora"


def _tsv(name: str) -> list[tuple[str, str]]:
    """(label, User-Agent) rows of a corpus file; lines starting with # are comments."""
    with open(CORPORA / name, encoding="utf-8") as file:
        rows = [line.rstrip("\n").split("\t", 1) for line in file if not line.startswith("#")]
    return [(label, ua) for label, ua in rows]


@pytest.fixture(scope="module")
def parser() -> AgentParser:
    return AgentParser(list(DEFAULT_IGNORED_AGENTS))


def _report(what: str, hits: int, total: int, misses: list[str]) -> float:
    rate = hits / total
    print(f"{what}: {hits}/{total} = {rate:.2%}")
    for miss in misses[:20]:
        print("   ", miss)
    return rate


def test_crawler_list_instances_are_bots(parser: AgentParser) -> None:
    """Every instance of crawler-user-agents (the list whose patterns Kero carries: a check that
    the rules and the list are wired, recall by construction)."""
    with open(CORPORA / "crawler-user-agents.json", encoding="utf-8") as file:
        agents = [ua for entry in json.load(file) for ua in entry.get("instances", [])]
    misses = [ua for ua in agents if not parser.parse(ua).is_bot]
    assert _report("crawler-user-agents recall", len(agents) - len(misses), len(agents), misses) >= 0.99


def test_matomo_bots_kept_aside_are_mostly_bots(parser: AgentParser) -> None:
    """matomo device-detector's bot fixtures: a second list, not used by the rules. A floor, not
    the 99% target: it names many tools (ApacheBench, collectd, Spotify) no rule here knows."""
    agents = [ua for label, ua in _tsv("matomo-device-detector.tsv") if label == "bot"]
    misses = [ua for ua in agents if not parser.parse(ua).is_bot]
    assert _report("matomo bots recall (held out)", len(agents) - len(misses), len(agents), misses) >= 0.80


@pytest.mark.parametrize("corpus", ["intoli-user-agents.tsv", "matomo-device-detector.tsv"])
def test_real_browsers_and_apps_are_rarely_bots(parser: AgentParser, corpus: str) -> None:
    agents = [ua for label, ua in _tsv(corpus) if label != "bot"]
    bots = [ua for ua in agents if parser.parse(ua).is_bot]
    assert _report(f"{corpus} false bots", len(bots), len(agents), bots) <= 0.005


def test_form_factor_of_real_browsers(parser: AgentParser) -> None:
    """intoli's market-share sample (what sites see today) must be right; matomo's long tail of old
    and exotic devices is reported (see the closing note of issue 17) with a floor."""
    rows = _tsv("intoli-user-agents.tsv")
    wrong = [f"{label} {ua}" for label, ua in rows if parser.parse(ua).form_factor != label]
    assert _report("intoli form factor right", len(rows) - len(wrong), len(rows), wrong) >= 0.99
    expected = {"smartphone": "mobile", "phablet": "mobile", "tablet": "tablet", "desktop": "desktop"}
    rows = [(expected[label], ua) for label, ua in _tsv("matomo-device-detector.tsv") if label in expected]
    wrong = [f"{label} {ua}" for label, ua in rows if parser.parse(ua).form_factor != label]
    # 96.4% (94.3% before the rules beyond the "Mobile" word, 91.5% before device models). The
    # rules were written from the other four fifths of matomo's fixtures, never from these rows
    # (tests/data/corpora/README.md); those score 96.5%. The misses are a long tail that only a
    # per-model database would know: no-name tablets saying "Mobile" (178), phones and foldables
    # not saying it (29), real apps the bot rules flag (20), Windows touch PCs matomo calls tablets.
    assert _report("matomo form factor right", len(rows) - len(wrong), len(rows), wrong) >= 0.96
