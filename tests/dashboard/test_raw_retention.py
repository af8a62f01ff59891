"""The raw_retention option: events of days older than it are deleted once the days are rolled
up, the rollups of those days stay (for ``retention``) and answer the views they can answer
exactly as before, the views that need events say from which day they count, and nothing (a
late event, an import, a goal added later, a command run without the option) rolls such a day
up again from the little left of it."""

from __future__ import annotations

import json
import shutil
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator

import pytest

from kero_core import Kero, queries, rollups
from kero_core.config import KeroConfigError
from kero_core.dashboard import model
from kero_core.dashboard.view import parse_view
from kero_core.synthetic import generate
from tests.conftest import FakeClock
from tests.dashboard.conftest import call, view_hit

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc)
RAW_DAYS = 4
FIRST_RAW_DAY = (NOW - timedelta(days=RAW_DAYS)).date()  # 2026-11-16


def shown(kero: Kero, query: str) -> model.Dashboard:
    params = {k: [v] for k, v in (p.split("=") for p in query.split("&") if p)}
    return model.build(kero, parse_view(params, NOW.replace(tzinfo=None), goals=kero.config.goals))


def content(dashboard: model.Dashboard) -> tuple[object, ...]:
    """What the page shows of its figures (and the compared ones), chart and cards."""
    figures = [(f.id, f.value, f.previous) for f in dashboard.figures]
    cards = [(p.panel.id, p.total, [(r.label, r.values) for r in p.rows])
             for card in dashboard.cards for p in card.panels if p.panel.id != "slowest_routes"]
    return figures, [(b.start, b.visitors, b.views) for b in dashboard.buckets], cards


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same 20 days of traffic in two folders, seeded once: "kept" keeps its events, "raw"
    keeps 4 days of them (pruned as the hourly pass does)."""
    from _maxminddb_geolite2 import geolite2_database

    folder = tmp_path_factory.mktemp("raw-retention")
    hits = list(generate(5000, days=20, seed=11, end=NOW.timestamp()))
    for name, raw in (("kept", None), ("raw", RAW_DAYS)):
        with Kero(db_path=folder / name, clock=FakeClock(NOW), geoip_db=geolite2_database(), retention=60,
                  raw_retention=raw) as kero:
            kero.ingest(hits)
            kero.prune()
    return folder


@pytest.fixture
def twins(seeded: Path, tmp_path: Path) -> Iterator[tuple[Kero, Kero, FakeClock]]:
    """The seeded folders, copied for this test, opened on one clock."""
    clock = FakeClock(NOW)
    made = []
    for name, raw in (("kept", None), ("raw", RAW_DAYS)):
        shutil.copytree(seeded / name, tmp_path / name)
        made.append(Kero(db_path=tmp_path / name, clock=clock, retention=60, raw_retention=raw))
    yield made[0], made[1], clock
    for kero in made:
        kero.close()


def oldest_event_day(kero: Kero) -> date:
    with kero.read() as con:
        return con.execute("SELECT min(ts)::DATE FROM events").fetchone()[0]


def test_old_days_lose_their_events_and_keep_their_figures(twins: tuple[Kero, Kero, FakeClock]) -> None:
    kept, raw, _ = twins
    assert oldest_event_day(kept) < FIRST_RAW_DAY - timedelta(days=10)
    assert oldest_event_day(raw) == FIRST_RAW_DAY
    with kept.read() as con:
        old_events = con.execute("SELECT count(*) FROM events WHERE ts < ?", [FIRST_RAW_DAY]).fetchone()[0]
    assert old_events > 2500
    assert raw.count() < kept.count() - 2500  # the API counts the events it has
    for query in ("period=30d", "period=7d&compare=off", "period=30d&country=US", "period=30d&name=signup",
                  "from=2026-11-02&to=2026-11-12", "from=2026-11-10&to=2026-11-10"):  # the last: an hourly chart
        assert content(shown(raw, query)) == content(shown(kept, query)), query
        assert shown(raw, query).events_from is None  # the rollups answer it all: nothing to say


def test_a_cut_day_of_an_old_comparison_is_said(twins: tuple[Kero, Kero, FakeClock]) -> None:
    """Past 7 days ends now (15:00), so the week before it starts at 09:00 on 7 November: that
    day's hours are read from events, which are gone. The page says so; the week itself is exact."""
    kept, raw, _ = twins
    week, whole = shown(raw, "period=7d"), shown(kept, "period=7d")
    assert week.events_from == FIRST_RAW_DAY
    assert [f.value for f in week.figures] == [f.value for f in whole.figures]
    assert [f.previous for f in week.figures] != [f.previous for f in whole.figures]
    assert shown(raw, "period=today&compare=custom&compare_from=2026-11-03").events_from == FIRST_RAW_DAY  # 00:00-15:00
    assert shown(raw, "period=today&compare=custom&compare_from=2026-11-17").events_from is None  # a kept day


def test_a_view_read_from_events_says_from_which_day(twins: tuple[Kero, Kero, FakeClock]) -> None:
    kept, raw, _ = twins
    filtered = shown(raw, "period=30d&path=/")
    assert filtered.events_from == FIRST_RAW_DAY
    page = call(raw, "/", "period=30d&path=/").body.decode()
    assert 'id="events-from"' in page and "Events before 2026-11-16 are no longer kept (raw_retention)" in page
    assert json.loads(call(raw, "/api/stats", "period=30d&path=/").body)["events_from"] == "2026-11-16"
    assert json.loads(call(raw, "/api/stats", "period=30d").body)["events_from"] is None
    views = next(f.value for f in filtered.figures if f.id == "views")
    with kept.read() as con:  # counted independently, from the twin that kept every event
        expected = con.execute("""SELECT count(*) FROM events WHERE name = 'http_req' AND NOT is_bot AND path = '/'
                                  AND ts >= ? AND ts < ?""", [FIRST_RAW_DAY, NOW.replace(tzinfo=None)]).fetchone()[0]
    assert views == expected > 0
    assert shown(raw, "period=24h&path=/").events_from is None  # within the kept days
    assert shown(kept, "period=30d&path=/").events_from is None  # no raw_retention: every event is there


def test_a_late_event_for_an_expired_day_changes_nothing_and_goes(twins: tuple[Kero, Kero, FakeClock]) -> None:
    _, raw, clock = twins
    before = content(shown(raw, "period=30d"))
    late = NOW - timedelta(days=10)
    raw.ingest([view_hit(late.timestamp(), "/late-arrival", ip="81.2.69.160")])
    with raw.read() as con:
        assert con.execute("SELECT rolled FROM rollup_days WHERE day = ?", [late.date()]).fetchone()[0]
    assert content(shown(raw, "period=30d")) == before
    clock.advance(3600)
    raw.prune()
    assert [e.path for e in raw.query(start=late - timedelta(hours=1), end=late + timedelta(hours=1))] == []


def test_nothing_rolls_an_expired_day_up_again(twins: tuple[Kero, Kero, FakeClock], tmp_path: Path) -> None:
    """Not a goal added later (its days lack the goal's rows), not a command without the option:
    the day's events are gone, so its rollups are final, whatever the options of who opens it."""
    kept, raw, clock = twins
    before = content(shown(raw, "period=30d"))
    raw.close()
    with_goal = Kero(db_path=tmp_path / "raw", clock=clock, retention=60, raw_retention=RAW_DAYS, goals=["/pricing"])
    with_goal.store.complete_rollups()
    with with_goal.read() as con:  # the goal's rows: the days that still have their events, not the others
        goal_days = sorted(r[0] for r in con.execute("SELECT DISTINCT day FROM day_goals").fetchall())
    assert goal_days == [FIRST_RAW_DAY + timedelta(days=n) for n in range(RAW_DAYS)]
    without_option = Kero(db_path=tmp_path / "raw", clock=clock, retention=60)
    late = NOW - timedelta(days=12)
    without_option.ingest([view_hit(late.timestamp(), "/imported-late")])
    try:
        for kero in (with_goal, without_option):
            assert content(shown(kero, "period=30d")) == before
        with without_option.read() as con:
            assert rollups.events_kept_from(con) == FIRST_RAW_DAY
        # the goal's own rollups lack the expired days: a view of its converters says so
        assert shown(with_goal, "period=30d&goal=/pricing").events_from == FIRST_RAW_DAY
        assert shown(with_goal, "period=today&goal=/pricing").events_from is None
    finally:
        with_goal.close()
        without_option.close()


def test_a_later_prune_moves_the_day_on(twins: tuple[Kero, Kero, FakeClock]) -> None:
    _, raw, clock = twins
    clock.advance(2 * 86400)
    raw.prune()
    assert oldest_event_day(raw) == FIRST_RAW_DAY + timedelta(days=2)
    with raw.read() as con:
        assert rollups.events_kept_from(con) == FIRST_RAW_DAY + timedelta(days=2)


@pytest.mark.parametrize(("options", "message"), [
    ({"raw_retention": 1}, "raw_retention must be between 2 and 36525 days, got 1."),
    ({"raw_retention": timedelta(hours=36)}, "raw_retention must be between 2 and 36525 days, got 1.5 days."),
    ({"raw_retention": "a week"}, "raw_retention must be a timedelta or a number of days, got 'a week'."),
    ({"raw_retention": 30}, "raw_retention (30 days) must not be longer than retention (15 days)"),
    ({"raw_retention": 7, "lake": "postgres:dbname=kero"}, "raw_retention is not available with lake yet"),
])
def test_bad_raw_retention(make_kero: Callable[..., Kero], options: dict[str, object], message: str) -> None:
    with pytest.raises(KeroConfigError) as caught:
        make_kero(**options)
    assert message in str(caught.value)


def test_a_day_without_its_events_is_not_cut(twins: tuple[Kero, Kero, FakeClock]) -> None:
    """Today seen at 18:00 on the day before the first raw day compares with that day's eve from
    06:00, most of a rolled-up day that has lost its events: it is not read as the day's rows
    less its visitors' events outside the period (rollups.Cut: there are none left, so the
    whole day would count), but from the events, as the views that need them are."""
    _, raw, _ = twins
    moment = datetime.combine(FIRST_RAW_DAY, datetime.min.time()) - timedelta(hours=6)
    view = parse_view({"period": ["today"]}, moment)
    with raw.read() as con:
        assert rollups.events_kept_from(con) == FIRST_RAW_DAY
        eve = view.previous_start.date()
        assert con.execute("SELECT count(*) FROM events WHERE ts::DATE = ?", [eve]).fetchone()[0] == 0
        assert con.execute("SELECT sum(views) FROM day_figures WHERE day = ?", [eve]).fetchone()[0] > 0
        assert rollups.figures(con, view.scope(), view.previous_start)[1] == \
            queries.figures(con, view.scope(), view.previous_start)[1] == queries.Figures()
