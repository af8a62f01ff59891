"""A cardinality flood (issue 14): a day with more distinct values than a card keeps is rolled up
into its CARD_KEYS first keys and one "(other)" row with the exact sums of the rest, shown
without a filter link on the page and as-is in api/stats and the CSV; totals stay exact. And
dashboard readers do not wait for each other."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import threading
import time
from datetime import datetime

import pytest
from werkzeug.test import Client

from kero_core import Kero, rollups
from kero_core.dashboard.model import WAITING_SHOWN
from kero_core.dashboard.view import parse_view
from kero_core.queries import OTHER, OTHER_LABEL
from kero_core.rollups import CARD_KEYS
from kero_core.synthetic import flood
from tests.conftest import environ
from tests.dashboard.conftest import NOW, at, call, get, ingest, view_hit
from tests.dashboard.html import parse

FLOODED = 3 * CARD_KEYS + 400  # flood page views, unique in every free-text field (half from bots)


def flood_yesterday(kero: Kero) -> None:
    """Twenty views of "/" by four visitors, then the flood, all yesterday (rolled up by ingest)."""
    ingest(kero, [view_hit(at(hours=-20, minutes=i), "/", ip=f"81.2.69.{140 + i % 4}") for i in range(20)])
    ingest(kero, flood(FLOODED, end=at(hours=-13), hours=2))


def test_a_flooded_day_keeps_its_first_keys_and_folds_the_rest_exactly(kero: Kero) -> None:
    flood_yesterday(kero)
    with kero.read() as con:
        day = con.execute("SELECT max(day) FROM rollup_days WHERE rolled").fetchone()[0]
        widest = con.execute("""SELECT max(n) FROM (SELECT count(DISTINCT k) AS n FROM day_cards_all
                                WHERE day = ? GROUP BY name, is_bot, card)""", [day]).fetchone()[0]
        assert widest == CARD_KEYS + 1  # the kept keys and OTHER
        pages = dict(((k, (v1, v2)) for k, v1, v2 in con.execute(
            "SELECT k, v1, v2 FROM day_cards_all WHERE day = ? AND card = 'pages' AND NOT is_bot", [day]).fetchall()))
        kept = [k for k in pages if k != OTHER]
        assert "/" in kept and pages["/"] == (4, 20)  # the most viewed page is kept
        views, visitors = con.execute(
            """SELECT count(*), count(DISTINCT visitor_id) FROM events
               WHERE ts::DATE = ? AND NOT is_bot AND NOT list_contains(?, path)""", [day, kept]).fetchone()
        assert pages[OTHER] == (visitors, views)  # exact: the events' own distinct visitors
        total = con.execute("SELECT count(*) FROM events WHERE ts::DATE = ? AND NOT is_bot", [day]).fetchone()[0]
        assert sum(v2 for _, v2 in pages.values()) == total
        timed = con.execute("SELECT sum(n) FROM day_routes_all WHERE day = ?", [day]).fetchone()[0]
        assert timed == con.execute("SELECT count(*) FROM events WHERE ts::DATE = ?", [day]).fetchone()[0]
        widest = con.execute("""SELECT max(n) FROM (SELECT count(DISTINCT label) AS n FROM day_routes_all
                                WHERE day = ? GROUP BY name, is_bot)""", [day]).fetchone()[0]
        assert widest == CARD_KEYS + 1  # the slowest routes keep what the routes card keeps


def test_a_flooded_days_cards_are_those_of_every_card_counted_with_the_fold(kero: Kero) -> None:
    """The roll-up folds the counted cards without counting them all again (rollups._fold: the
    cards of page views and visits sum their other keys, those of visitors are counted again):
    every row equals what counting each card with the fold gives, "(other)" rows included (one
    visitor of two folded pages is one visitor of "(other)", not two)."""
    ingest(kero, [view_hit(at(hours=-19, minutes=i), f"/zz-last-{i}", ip="81.2.69.160") for i in range(2)])
    flood_yesterday(kero)
    with kero.read() as con:
        day = con.execute("SELECT max(day) FROM rollup_days WHERE rolled").fetchone()[0]
        con.execute(f"""CREATE TEMP TABLE {rollups.KEPT} AS SELECT DISTINCT name, is_bot, card, k FROM day_cards
                        WHERE day = ? AND k <> ?""", [day, OTHER])
        con.execute("CREATE TEMP TABLE fresh_day_cards AS SELECT * FROM day_cards LIMIT 0")
        start = datetime.combine(day, datetime.min.time())
        rollups.cards(con, rollups.Into(rows="fresh"), day, [start, start + rollups.DAY], fold=rollups.KEPT)
        rows = "SELECT * FROM {} WHERE day = ? ORDER BY ALL"
        stored = con.execute(rows.format("day_cards"), [day]).fetchall()
        folded = {row[4] for row in stored if row[5] == OTHER}
        assert {"pages", "entry_pages", "exit_pages", "referrer_urls"} <= folded  # summed and counted cards
        assert stored == con.execute(rows.format("fresh_day_cards"), [day]).fetchall()


def test_most_of_a_flooded_day_is_its_folded_rows_less_the_visitors_it_cuts(
        kero: Kero, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past 24 hours at 01:00 holds 22 hours of yesterday, a flooded day: its cards are the day's
    rows less what the visitors with an event before 02:00 add, with the day's fold: a kept
    page counts its visitors and views of those hours exactly, the others count in "(other)"
    (its visitors distinct), a page seen only before 02:00 is gone."""
    early = [view_hit(at(hours=-35), "/early", ip="81.2.69.150"), view_hit(at(hours=-34.5), "/zz-out", ip="81.2.69.151")]
    late = [view_hit(at(hours=-19.5), "/", ip="81.2.69.150"), view_hit(at(hours=-14), "/zz-in", ip="81.2.69.151"),
            view_hit(at(hours=-14, minutes=5), "/zz-in-too", ip="81.2.69.151")]
    ingest(kero, early + late)
    flood_yesterday(kero)
    cuts: list[rollups.Cut] = []
    cut_cards = rollups._cut_cards
    monkeypatch.setattr(rollups, "_cut_cards", lambda scope, cut, cards: cuts.append(cut) or cut_cards(scope, cut, cards))
    view = parse_view({"period": ["24h"]}, NOW.replace(hour=1, tzinfo=None))
    scope = view.scope()
    with kero.read() as con:
        (total, rows), = rollups.breakdowns(con, scope, ["pages"], 100_000).values()
        day = con.execute("SELECT max(day) FROM rollup_days WHERE rolled").fetchone()[0]
        kept = {k for k, in con.execute("""SELECT k FROM day_cards_all WHERE day = ? AND card = 'pages' AND name = ?
                                           AND NOT is_bot AND k <> ?""", [day, scope.name, OTHER]).fetchall()}
        events = con.execute("SELECT path, visitor_id FROM events WHERE ts >= ? AND ts < ? AND name = ? AND NOT is_bot",
                             [scope.start, scope.end, scope.name]).fetchall()
    assert [(cut.day, cut.start.hour) for cut in cuts] == [(day, 2)]
    visitors: dict[str, set[int]] = {}
    views: dict[str, int] = {}
    for path, visitor in events:
        key = path if path in kept else OTHER
        visitors.setdefault(key, set()).add(visitor)
        views[key] = views.get(key, 0) + 1
    expected = {key: (len(visitors[key]), views[key]) for key in views}
    assert "/" in kept and {"/zz-in", "/zz-in-too", "/zz-out"}.isdisjoint(kept)  # the flood pushes them out
    assert {row.key[0]: (row.value, row.value2) for row in rows} == expected and total == len(expected)
    assert expected["/"] == (5, 21) and "/early" not in expected


def test_the_other_row_is_shown_without_a_link_and_exported_with_exact_totals(kero: Kero, client: Client) -> None:
    flood_yesterday(kero)
    humans = kero.count(filters={"is_bot": False}, start=at(days=-7))
    page = parse(call(kero, "/", "period=7d").body)
    rows = page.find(cls="panel", id="panel-pages").find_all("tr")[1:]
    labels = [row.find("td", cls="label").text().strip() for row in rows]
    assert labels[0] == OTHER_LABEL  # the flood's thousand unique pages, counted together, lead
    other = rows[0].find("td", cls="label")
    assert other.find_all("a") == [] and "other" in other.find("span", cls="filter").classes
    assert rows[1].find("td", cls="label").find("a", cls="filter")  # a kept page still filters

    stats = json.loads(get(client, "/_kero/api/stats?period=7d").data)
    assert next(f for f in stats["figures"] if f["id"] == "views")["value"] == humans
    pages = next(c for c in stats["cards"] if c["id"] == "pages")
    assert pages["rows"][0]["label"] == OTHER_LABEL and pages["rows"][0]["filters"] == {}

    table = list(csv.reader(io.StringIO(get(client, "/_kero/?period=7d&format=csv").data.decode())))
    assert [OTHER_LABEL, "visitors"] in [row[1:3] for row in table if row[0] == "pages"]


def test_a_reader_does_not_wait_for_another_reader_and_says_what_is_not_stored_yet(kero: Kero) -> None:
    """One thread holds a read session; the dashboard renders meanwhile (before, every read held
    the ingest lock alone, and this one waited for the other to end). It cannot ingest then, and
    says so once the oldest event waiting in the spool is WAITING_SHOWN old."""
    ingest(kero, [view_hit(at(minutes=-5))])
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with kero.read(shared=True):
            holding.set()
            release.wait(60)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(30)
        answer = call(kero, "/", "period=today")
        assert holder.is_alive() and not release.is_set()  # rendered while the other read was open
        assert answer.status == 200
        page = parse(answer.body)
        assert page.find(cls="figure", id="figure-views").find("data").attrs["value"] == "1"
        assert page.find_all(id="waiting") == []
        kero.record_request(environ("/late"), status=200)
        kero.pipeline.write()
        waited = time.time() - WAITING_SHOWN - 5
        for spooled in kero.store.pending():
            os.utime(spooled, (waited, waited))
        note = parse(call(kero, "/", "period=today").body).find(id="waiting").text()
        shown = re.fullmatch(r"Events of the last (\d+) s are not stored yet: reload in a moment\.", note)
        assert shown and round(WAITING_SHOWN) + 5 <= int(shown[1]) <= round(WAITING_SHOWN) + 65  # the render's own time
    finally:
        release.set()
        holder.join(30)
    page = parse(call(kero, "/", "period=today").body)  # the lock is free: it ingests first
    assert page.find_all(id="waiting") == []
    assert page.find(cls="figure", id="figure-views").find("data").attrs["value"] == "2"
