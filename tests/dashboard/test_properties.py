"""Custom events' labels as a dimension: prop.<key> filters and kero.top("prop.<key>") in the
API, the Properties card and ?prop.<key>= in the dashboard, checked against the raw events."""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import Callable

import pytest
from werkzeug.test import Client

from kero_core import Kero
from kero_core.capture import Hit, hit_from_environ
from tests.conftest import FakeClock, environ
from tests.dashboard.conftest import at, call, get, ingest, view_hit
from tests.dashboard.html import parse

PLANS = ["free", "pro", "team", 'x"<b>']


def events(seed: int = 3) -> list[Hit]:
    rng = random.Random(seed)
    hits = []
    for v in range(60):
        ip = f"81.2.72.{v + 1}"
        t = at(hours=-5) + v * 30
        hits.append(view_hit(t, "/pricing", ip=ip))
        for i in range(rng.randint(0, 3)):
            labels = {"plan": rng.choice(PLANS)} if rng.random() < 0.8 else {"other": "1"}
            if rng.random() < 0.3:
                labels["seats"] = rng.randint(1, 3)
            name = rng.choice(["signup", "purchase"])
            hits.append(hit_from_environ(environ("/pricing", REMOTE_ADDR=ip), t + 10 + i, name=name, labels=labels))
    return hits


def test_api_top_count_and_filters_by_label(kero: Kero) -> None:
    ingest(kero, events())
    raw = kero.query(name="signup", limit=10**6)
    plans = Counter(e.labels.get("plan") for e in raw if "plan" in e.labels)
    assert kero.top("prop.plan", name="signup", metric="events", limit=10) == sorted(
        plans.items(), key=lambda kv: (-kv[1], kv[0]))
    visitors = {p: len({e.visitor_id for e in raw if e.labels.get("plan") == p}) for p in plans}
    assert dict(kero.top("prop.plan", name="signup")) == visitors
    assert kero.count(name="signup", filters={"prop.plan": "pro"}) == plans["pro"]
    assert kero.count(name="signup", filters={"prop.plan!=": "pro"}) == len(raw) - plans["pro"]
    assert kero.count(name="signup", filters={"prop.plan": ""}) == sum(1 for e in raw if "plan" not in e.labels)
    seats = Counter(str(e.labels["seats"]) for e in raw if "seats" in e.labels)  # numbers compare as text
    assert kero.count(name="signup", filters={"prop.seats": "2"}) == seats["2"]
    assert kero.count(filters={"prop.plan": "pro"}) == 0  # page views have no labels


@pytest.mark.parametrize("key", ["prop.", 'prop.a"b', "prop.a\\b", "prop.a\nb", "prop." + "k" * 257])
def test_api_refuses_a_bad_label_key(kero: Kero, key: str) -> None:
    with pytest.raises(ValueError, match="must be prop.<key>"):
        kero.count(name="signup", filters={key: "pro"})
    with pytest.raises(ValueError, match="must be prop.<key>"):
        kero.top(key, name="signup")


def test_properties_card_matches_the_raw_events(kero: Kero) -> None:
    ingest(kero, events())
    data = json.loads(call(kero, "/api/stats", "period=today&limit=100").body)
    card = next(c for c in data["cards"] if c["id"] == "properties")
    raw = [e for e in kero.query(name=None, limit=10**6) if e.name != "http_req"]
    expected: dict[tuple[str, str, str], set[int]] = {}
    counts: Counter[tuple[str, str, str]] = Counter()
    for e in raw:
        for key, value in e.labels.items():
            expected.setdefault((e.name, key, str(value)), set()).add(e.visitor_id)
            counts[(e.name, key, str(value))] += 1
    assert card["total"] == len(expected)
    got = {(r["filters"]["name"], next(k for k in r["filters"] if k.startswith("prop."))[5:],
            r["filters"][next(k for k in r["filters"] if k.startswith("prop."))]): r["values"] for r in card["rows"]}
    assert got == {k: [counts[k], len(v)] for k, v in expected.items()}


def test_a_property_row_filters_the_page(client: Client, kero: Kero) -> None:
    ingest(kero, events())
    page = parse(get(client, "/_kero/?period=today").data)
    rows = page.find("section", id="panel-properties").find_all("a", "filter")
    hostile = next(a for a in rows if 'x"<b>' in a.text())  # escaped text, a working link
    answer = get(client, "/_kero/" + hostile.attrs["href"])
    assert answer.status_code == 200
    filtered = parse(answer.data)
    chips = [c.text() for c in filtered.find_all("span", "chip")]
    assert any("Property plan" in c and 'x"<b>' in c for c in chips)
    raw = kero.query(name=None, limit=10**6)
    name = next(c.find("span", "chip-value").text() for c in filtered.find_all("span", "chip") if "Event" in c.text())
    expected = sum(1 for e in raw if e.name == name and e.labels.get("plan") == 'x"<b>')
    views = filtered.find("div", id="figure-views").find("data")
    assert int(views.attrs["value"]) == expected > 0


@pytest.mark.parametrize("query", ['prop.a"b=1', "prop.=1", "prop.plan=1&prop.plan=2"])
def test_bad_property_parameters_answer_400(client: Client, kero: Kero, query: str) -> None:
    assert get(client, f"/_kero/?{query}").status_code == 400
    answer = get(client, f"/_kero/api/stats?{query}")
    assert answer.status_code == 400 and answer.get_json()["error"]


def test_properties_with_no_custom_events(make_kero: Callable[..., Kero], clock: FakeClock) -> None:
    kero = make_kero(clock=clock)
    ingest(kero, [view_hit(at(minutes=-5), "/")])
    page = parse(call(kero, "/", "period=today").body)
    assert page.find("section", id="panel-properties").find("p", "empty")
