"""Goals and funnels: the Goals card, ?goal= and ?funnel= checked against counts computed here,
in Python, from the stored raw events (kero.query), and every bad input with its clear answer."""

from __future__ import annotations

import csv
import io
import json
import random
import re
from datetime import timezone
from typing import Any, Callable, Iterable

import pytest
from werkzeug.test import Client

from kero_core import Kero, KeroConfigError, goal_queries, rollups
from kero_core.capture import Hit, hit_from_environ
from kero_core.dashboard import CSP
from kero_core.dashboard.view import parse_view
from kero_core.schema import Event
from kero_core.wsgi import KeroMiddleware
from tests.conftest import FakeClock, environ
from tests.dashboard.conftest import at, call, get, ingest, site, view_hit
from tests.dashboard.html import parse

GOALS = ["signup", "/thanks", "/docs/*"]
FUNNELS = {"Checkout": ["/pricing", "/signup", "signup"], "Docs": ["/", "/docs/*", "/thanks"]}
PATHS = ["/", "/pricing", "/signup", "/docs/a", "/docs/b_c", "/docs", "/thanks", "/blog"]
GAP = 30 * 60


@pytest.fixture
def kero(make_kero: Callable[..., Kero], clock: FakeClock) -> Kero:
    return make_kero(clock=clock, measure_requests=True, retention=400, goals=GOALS, funnels=FUNNELS)


@pytest.fixture
def client(kero: Kero) -> Client:
    return Client(KeroMiddleware(site, kero, users={"admin": "secret"}))


def event_hit(ts: float, name: str, ip: str) -> Hit:
    return hit_from_environ(environ("/signup", REMOTE_ADDR=ip), ts, name=name, labels={"plan": "pro"})


def traffic(seed: int = 7) -> list[Hit]:
    """Three days of 80 visitors making 1 to 3 visits of 1 to 7 steps (page views, signups),
    some from a newsletter campaign, and a bot that visits /thanks; times never tie."""
    rng = random.Random(seed)
    hits: list[Hit] = []
    for v in range(80):
        ip = f"81.2.{v // 200}.{v % 200 + 1}"
        t = at(days=-3) + rng.uniform(0, 2.5 * 86400)
        for _ in range(rng.randint(1, 3)):
            campaign = "utm_source=news" if rng.random() < 0.3 else ""
            for i in range(rng.randint(1, 7)):
                t += rng.uniform(5, 600) + rng.random()
                if t >= at():
                    break
                if rng.random() < 0.12:
                    hits.append(event_hit(t, "signup", ip))
                else:
                    hits.append(view_hit(t, rng.choice(PATHS), ip=ip, QUERY_STRING=campaign if i == 0 else ""))
            t += rng.choice([GAP + 60, 3 * 3600, 20 * 60])  # a new visit, or the same one going on
    bot = "curl/8.5.0"
    hits += [view_hit(at(minutes=-30 - i), "/thanks", ip="81.2.9.9", HTTP_USER_AGENT=bot) for i in range(5)]
    return hits


def stored(kero: Kero, start: float, end: float) -> list[Event]:
    return kero.query(name=None, start=start, end=end, limit=10**6)


def matches(step: str, e: Event) -> bool:
    if not step.startswith("/"):
        return e.name == step
    pattern = "".join(".*" if c == "*" else re.escape(c) for c in step)
    return e.name == "http_req" and re.fullmatch(pattern, e.path) is not None


def expected_goal(events: Iterable[Event], goal: str, visitors: set[int] | None, per_day: bool = False) -> tuple[int, int]:
    """(converting visitors, conversions) of ``goal``; ``visitors``: the view's, None when
    unfiltered; ``per_day``: visitors counted per UTC day and added up (what the rollups keep)."""
    hits = [e for e in events if not e.is_bot and matches(goal, e)]
    if visitors is None:
        return len({(e.ts.date() if per_day else None, e.visitor_id) for e in hits if e.visitor_id}), len(hits)
    counted = [e for e in hits if e.visitor_id in visitors]
    return len({e.visitor_id for e in counted}), len(counted)


def expected_funnel(events: Iterable[Event], steps: list[str], visitors: set[int] | None = None) -> list[int]:
    """Visitors reaching each step in order within one visit (gaps under 30 minutes)."""
    names = {s for s in steps if not s.startswith("/")}
    rows = [e for e in events if not e.is_bot and e.visitor_id and (e.name == "http_req" or e.name in names)
            and (visitors is None or e.visitor_id in visitors)]
    rows.sort(key=lambda e: (e.visitor_id, e.ts, e.name != "http_req", e.path, e.name))
    reached: list[set[int]] = [set() for _ in steps]
    visits: list[list[Event]] = []
    for e in rows:
        last = visits[-1][-1] if visits else None
        if last is None or last.visitor_id != e.visitor_id or (e.ts - last.ts).total_seconds() >= GAP:
            visits.append([])
        visits[-1].append(e)
    for visit in visits:
        position = -1
        for k, step in enumerate(steps):
            position = next((i for i, e in enumerate(visit) if i > position and matches(step, e)), None)
            if position is None:
                break
            reached[k].add(visit[0].visitor_id)
    return [len(r) for r in reached]


def stats(kero: Kero, query: str) -> dict[str, Any]:
    answer = call(kero, "/api/stats", query)
    assert answer.status == 200, answer.body[:300]
    return json.loads(answer.body)


# -- options ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("goals, message", [
    ("signup", "goals must be a list"),
    ([""], "each goal or step must be"),
    ([42], "each goal or step must be"),
    (["sign*"], "wildcards work in page paths only"),
    (["/a", "/a"], "'/a' is listed twice"),
    ([" /a"], "surrounding spaces"),
    (["/" + "x" * 300], "longer than 256"),
])
def test_bad_goals_are_refused_at_start(make_kero: Callable[..., Kero], goals: Any, message: str) -> None:
    with pytest.raises(KeroConfigError, match=re.escape(message)):
        make_kero(goals=goals)


@pytest.mark.parametrize("funnels, message", [
    (["/a", "/b"], "funnels must be a dict"),
    ({"F": ["/a"]}, "2 to 8 steps"),
    ({"F": "/a"}, "2 to 8 steps"),
    ({"": ["/a", "/b"]}, "a funnel's name"),
    ({"F": ["/a", "ev*"]}, "funnels['F']: 'ev*' has a '*'"),
])
def test_bad_funnels_are_refused_at_start(make_kero: Callable[..., Kero], funnels: Any, message: str) -> None:
    with pytest.raises(KeroConfigError, match=re.escape(message)):
        make_kero(funnels=funnels)


# -- the Goals card -----------------------------------------------------------------------------------
# Unfiltered, whole past days come from the rollups, which count a visitor per UTC day like the
# "Unique visitors" figure (a visit going on past midnight keeps its visitor id: two days, two
# visitors); 24h has no whole day, and filtered views read the events.
@pytest.mark.parametrize("query, view_filter, per_day", [
    ("period=7d", None, True),
    ("period=24h", None, False),
    ("period=7d&utm_source=news", lambda e: e.utm_source == "news", False),
    ("period=7d&path=/pricing", lambda e: e.path == "/pricing", False),
])
def test_goal_figures_match_the_raw_events(kero: Kero, query: str, view_filter: Any, per_day: bool) -> None:
    ingest(kero, traffic())
    data = stats(kero, query)
    start, end = data["period"]["start"], data["period"]["end"]
    from datetime import datetime

    events = stored(kero, datetime.fromisoformat(start.replace("Z", "+00:00")), at(minutes=1))
    assert end  # the period ends now
    human_views = [e for e in events if e.name == "http_req" and not e.is_bot and e.visitor_id]
    in_view = {e.visitor_id for e in human_views if view_filter is None or view_filter(e)}
    # the rate's denominator is the view's "Unique visitors" figure (per UTC day, added up)
    visitors = next(f["value"] for f in data["figures"] if f["id"] == "visitors")
    assert len(in_view) <= visitors <= len({(e.ts.date(), e.visitor_id) for e in human_views if e.visitor_id in in_view})
    assert [g["goal"] for g in data["goals"]] == GOALS
    for g in data["goals"]:
        converting, conversions = expected_goal(events, g["goal"], None if view_filter is None else in_view, per_day)
        assert (g["visitors"], g["conversions"]) == (converting, conversions), g
        assert g["conversion_rate"] == pytest.approx(round(converting / visitors, 4) if visitors else None)
    assert any(g["visitors"] > 1 for g in data["goals"])  # the data really converts


def test_server_events_without_a_visitor_count_as_conversions_only_unfiltered(kero: Kero) -> None:
    ingest(kero, [view_hit(at(minutes=-10), "/", ip="81.2.69.1")])
    kero.track("signup", {"plan": "pro"})  # no request: no visitor
    kero.flush()
    unfiltered = stats(kero, "period=today")["goals"][0]
    assert (unfiltered["visitors"], unfiltered["conversions"]) == (0, 1)
    filtered = stats(kero, "period=today&path=/")["goals"][0]
    assert (filtered["visitors"], filtered["conversions"]) == (0, 0)


def test_goal_rate_trend_against_the_period_before(kero: Kero) -> None:
    # yesterday: 2 visitors, 1 signs up; today: 2 visitors, both sign up
    hits = []
    for day, converting in ((-1, 1), (0, 2)):
        for v in range(2):
            ip = f"81.2.70.{v + 1}"
            hits.append(view_hit(at(hours=-3, days=day) + v, "/pricing", ip=ip))
            if v < converting:
                hits.append(event_hit(at(hours=-3, days=day) + 60 + v, "signup", ip))
    ingest(kero, hits)
    signup = stats(kero, "period=24h")["goals"][0]
    assert (signup["conversion_rate"], signup["previous_conversion_rate"], signup["change"]) == (1, 0.5, "↑ 50.0 pp")


# -- ?goal= ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("goal", GOALS)
def test_the_goal_filter_keeps_the_visitors_who_converted(kero: Kero, goal: str) -> None:
    ingest(kero, traffic())
    data = stats(kero, f"period=7d&goal={goal}")
    from datetime import datetime

    events = stored(kero, datetime.fromisoformat(data["period"]["start"].replace("Z", "+00:00")), at(minutes=1))
    converted = {e.visitor_id for e in events if not e.is_bot and e.visitor_id and matches(goal, e)}
    views = [e for e in events if e.name == "http_req" and not e.is_bot and e.visitor_id in converted]
    figures = {f["id"]: f["value"] for f in data["figures"]}
    assert data["goal"] == goal
    # Past days come from the goal's rollups: visitors counted per UTC day and added up (a visit
    # across midnight keeps its visitor id, and counts on both days), page views exactly.
    assert (figures["visitors"], figures["views"]) == (len({(e.ts.date(), e.visitor_id) for e in views}), len(views))
    pages = next(c for c in data["cards"] if c["id"] == "pages")
    for row in pages["rows"]:
        assert row["values"][0] == len({(e.ts.date(), e.visitor_id) for e in views if e.path == row["label"]})
    mine = next(g for g in data["goals"] if g["goal"] == goal)
    assert mine["conversion_rate"] in (1, None)


def test_goal_filter_survives_other_links_and_can_be_removed(client: Client, kero: Kero) -> None:
    ingest(kero, traffic())
    page = parse(get(client, "/_kero/?period=7d&goal=/docs/*").data)
    chip = page.find("span", "goal-chip")
    assert "/docs/*" in chip.text()
    assert "goal" not in chip.find("a", "chip-remove").attrs["href"]
    row = page.find("section", id="panel-pages").find("a", "filter")
    assert "goal=%2Fdocs%2F%2A" in row.attrs["href"]
    goals = page.find("article", id="card-goals")
    active = [a for a in goals.find_all("a", "filter") if a.attrs.get("aria-current") == "true"]
    assert len(active) == 1 and "/docs/*" in active[0].text() and "goal=" not in active[0].attrs["href"]


# -- funnels --------------------------------------------------------------------------------------------
def test_a_funnel_counts_steps_in_order_within_one_visit(kero: Kero) -> None:
    t = at(hours=-2)
    ingest(kero, [
        view_hit(t, "/pricing", ip="81.2.71.1"), view_hit(t + 60, "/signup", ip="81.2.71.1"),
        event_hit(t + 120, "signup", "81.2.71.1"),  # all three
        event_hit(t, "signup", "81.2.71.2"), view_hit(t + 60, "/pricing", ip="81.2.71.2"),
        view_hit(t + 120, "/signup", ip="81.2.71.2"),  # signed up before pricing: two steps
        view_hit(t, "/pricing", ip="81.2.71.3"), view_hit(t + GAP + 1, "/signup", ip="81.2.71.3"),  # next visit: one
        view_hit(t, "/signup", ip="81.2.71.4"),  # never saw pricing: none
        view_hit(t, "/pricing", ip="81.2.71.5", HTTP_USER_AGENT="curl/8.5.0"),  # a bot: none
    ])
    funnel = stats(kero, "period=today&funnel=Checkout")["funnel"]
    assert [(s["step"], s["visitors"], s["dropped"]) for s in funnel["steps"]] == [
        ("/pricing", 3, 0), ("/signup", 2, 1), ("signup", 1, 1)]
    assert funnel["conversion_rate"] == pytest.approx(0.3333)
    assert [s["from_previous"] for s in funnel["steps"]] == [None, pytest.approx(0.6667), 0.5]


@pytest.mark.parametrize("name", list(FUNNELS))
@pytest.mark.parametrize("query, view_filter", [
    ("period=7d", None), ("period=24h", None), ("period=7d&utm_source=news", lambda e: e.utm_source == "news"),
])
def test_funnels_match_the_raw_events(kero: Kero, name: str, query: str, view_filter: Any) -> None:
    ingest(kero, traffic(seed=11))
    data = stats(kero, f"{query}&funnel={name}")
    from datetime import datetime

    events = stored(kero, datetime.fromisoformat(data["period"]["start"].replace("Z", "+00:00")), at(minutes=1))
    visitors = None
    if view_filter is not None:
        visitors = {e.visitor_id for e in events if e.name == "http_req" and not e.is_bot and view_filter(e)}
    expected = expected_funnel(events, FUNNELS[name], visitors)
    assert [s["visitors"] for s in data["funnel"]["steps"]] == expected
    assert expected[0] > expected[-1] > 0  # the data has a funnel that leaks, and converts


def test_rollups_follow_the_goals_and_funnels_the_options_define(make_kero: Callable[..., Kero], clock: FakeClock) -> None:
    """Goals and funnels are options: each past day keeps the counts of those defined when it
    was rolled up; one defined later is read from the events until its days are rolled up
    again (the next session does it), and the figures are the same either way."""
    first = make_kero(clock=clock, goals=["signup"], funnels={"Checkout": FUNNELS["Checkout"]})
    ingest(first, traffic(seed=11))
    first.close()
    kero = make_kero(clock=clock, goals=GOALS, funnels={"Checkout": FUNNELS["Docs"]})  # same name, other steps
    kero.store.complete_rollups()  # what the next sessions' maintenance does, a day at a time
    view = parse_view({"period": ["7d"]}, kero.now())
    scope = view.scope()
    goals = kero.config.goals
    with kero.store.session() as con:
        on_days = con.execute("SELECT goal, count(DISTINCT day) FROM day_goals GROUP BY goal ORDER BY goal").fetchall()
        days = con.execute("SELECT count(*) FROM rollup_days WHERE rolled").fetchone()[0]
        assert days >= 3 and on_days == [("/docs/*", days), ("/thanks", days), ("signup", days)]
        rolled = rollups.goals(con, scope, goals, view.previous_start)
        funnel = rollups.funnel(con, scope, kero.config.funnels[0])
        last = con.execute("SELECT max(day) FROM day_goals").fetchone()[0]  # one day lacks them, as before its roll-up
        con.execute("DELETE FROM day_goals WHERE goal = '/thanks' AND day = ?", [last])
        con.execute("DELETE FROM day_funnels WHERE day = ?", [last])
        assert rollups.goals(con, scope, goals, view.previous_start)[1] == goal_queries.goals(
            con, scope, goals[1:2], view.previous_start)[0]
        assert rollups.goals(con, scope, goals, view.previous_start) == rolled
        assert rollups.funnel(con, scope, kero.config.funnels[0]) == goal_queries.funnel(
            con, scope, kero.config.funnels[0]) == funnel
    events = stored(kero, view.start.replace(tzinfo=timezone.utc), at(minutes=1))
    assert [now.visitors for now, _ in rolled] == [expected_goal(events, g.text, None, per_day=True)[0] for g in goals]
    assert [s.visitors for s in funnel] == expected_funnel(events, FUNNELS["Docs"])
    assert rolled[1][0].visitors > 0 and funnel[-1].visitors > 0


def test_a_funnel_with_a_goal_filter(kero: Kero) -> None:
    ingest(kero, traffic(seed=11))
    data = stats(kero, "period=7d&funnel=Checkout&goal=/thanks")
    from datetime import datetime

    events = stored(kero, datetime.fromisoformat(data["period"]["start"].replace("Z", "+00:00")), at(minutes=1))
    thanked = {e.visitor_id for e in events if not e.is_bot and e.visitor_id and matches("/thanks", e)}
    assert [s["visitors"] for s in data["funnel"]["steps"]] == expected_funnel(events, FUNNELS["Checkout"], thanked)


def test_the_funnel_view_in_html(client: Client, kero: Kero) -> None:
    ingest(kero, traffic(seed=11))
    answer = get(client, "/_kero/?period=7d&funnel=Checkout")
    assert answer.status_code == 200 and answer.headers["Content-Security-Policy"] == CSP
    page = parse(answer.data)
    box = page.find("section", id="funnel")
    assert "Funnel: Checkout" in box.find("h2").text()
    bars = box.find("svg").find_all("rect", "visitors")
    assert len(bars) == 3 and float(bars[0].attrs["height"]) == 220.0
    assert float(bars[0].attrs["height"]) >= float(bars[1].attrs["height"]) >= float(bars[2].attrs["height"])
    rows = box.find("table", "funnel-steps").find_all("tr")[1:]
    assert [r.find_all("td")[0].text() for r in rows] == ["1. Page /pricing", "2. Page /signup", "3. Event signup"]
    data = stats(kero, "period=7d&funnel=Checkout")
    assert [int(r.find("data").attrs["value"]) for r in rows] == [s["visitors"] for s in data["funnel"]["steps"]]
    links = page.find("article", id="card-funnels").find_all("a")
    assert [a.text() for a in links] == list(FUNNELS)
    assert "funnel" not in box.find("a", "close-funnel").attrs["href"]


def test_goals_and_funnel_in_the_csv(client: Client, kero: Kero) -> None:
    ingest(kero, traffic())
    answer = get(client, "/_kero/?period=7d&funnel=Checkout&format=csv")
    rows = list(csv.reader(io.StringIO(answer.data.decode())))
    data = stats(kero, "period=7d&funnel=Checkout")
    signup = data["goals"][0]
    assert ["goals", "signup", "visitors", str(signup["visitors"])] in rows
    assert ["goals", "signup", "conversions", str(signup["conversions"])] in rows
    first = data["funnel"]["steps"][0]
    assert ["funnel", "1. /pricing", "visitors", str(first["visitors"])] in rows


def test_goal_text_is_escaped(make_kero: Callable[..., Kero], clock: FakeClock) -> None:
    payload = '<script>alert("goal")</script>'
    kero = make_kero(clock=clock, goals=[payload], funnels={payload: ["/" + payload, payload]})
    ingest(kero, [view_hit(at(minutes=-3), "/" + payload), event_hit(at(minutes=-2), payload, "81.2.69.142")])
    answer = call(kero, "/", f"period=today&funnel={payload}&goal={payload}")
    assert answer.status == 200
    assert b"<script>alert" not in answer.body
    page = parse(answer.body)
    assert payload in page.find("article", id="card-goals").text()
    assert not [n for n in page.iter() if n.tag == "script" and "src" not in n.attrs]


# -- bad requests -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("query, message", [
    ("goal=nope", "unknown goal 'nope'; the goals are: signup, /thanks, /docs/*."),
    ("goal=signup&goal=/thanks", "'goal' is given 2 times; give it once."),
    ("funnel=Nope", "unknown funnel 'Nope'; the funnels are: Checkout, Docs."),
    ("funnel=", "unknown funnel ''; the funnels are: Checkout, Docs."),
])
def test_bad_goal_and_funnel_parameters_answer_400(client: Client, kero: Kero, query: str, message: str) -> None:
    page = get(client, f"/_kero/?{query}")
    assert page.status_code == 400 and message in parse(page.data).text()
    api = get(client, f"/_kero/api/stats?{query}")
    assert api.status_code == 400 and api.get_json() == {"error": message}


def test_goal_and_funnel_without_definitions(make_kero: Callable[..., Kero], clock: FakeClock) -> None:
    kero = make_kero(clock=clock)
    assert json.loads(call(kero, "/api/stats", "goal=signup").body) == {
        "error": "'goal' needs goals: none are defined (the goals option)."}
    assert json.loads(call(kero, "/api/stats", "funnel=x").body) == {
        "error": "'funnel' needs funnels: none are defined (the funnels option)."}
    data = json.loads(call(kero, "/api/stats", "").body)
    assert "goals" not in data and "funnel" not in data
    page = parse(call(kero, "/", "").body)
    assert not page.find_all("article", id="card-goals") and not page.find_all("article", id="card-funnels")
