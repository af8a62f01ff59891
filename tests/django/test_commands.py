"""The management commands: kero_stats, kero_prune and kero_export."""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

import kero_django
from kero_core import Kero
from kero_core.capture import hit_from_environ
from kero_core.schema import Event
from tests.conftest import environ

DAY = 86_400


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def section(lines: list[str], title: str) -> list[list[str]]:
    rows = lines[lines.index(title) + 1:]
    return [line.split() for line in rows[: rows.index("") if "" in rows else None]]


def test_stats_shows_the_figures_of_the_dashboards_default_period(browser: Client, kero: Kero) -> None:
    for path in ["/", "/hello/world", "/hello/world?utm_source=x", "/hello/earth"]:
        browser.get(path, HTTP_REFERER="https://news.ycombinator.com/")
    lines = run("kero_stats").splitlines()
    assert lines[0].startswith("Kero: Past 24 hours (")
    figures = {line[:50].strip(): line[50:].strip() for line in lines[1:4]}
    assert figures == {"Page views": "4", "Visitors": "1", "Views per visitor": "4.0"}
    assert section(lines, "Top pages (visitors)") == [["/", "1"], ["/hello/earth", "1"], ["/hello/world", "1"]]
    assert section(lines, "Top referrers (visitors)") == [["news.ycombinator.com", "1"]]
    assert section(lines, "Top browsers (visitors)") == [["Chrome", "1"]]
    [slowest] = [line.split() for line in lines if "Slowest route" in line]
    assert slowest[:4] == ["Slowest", "route,", "p95:", "GET"] and slowest[-1] == "ms"


def test_stats_on_an_empty_database(kero: Kero) -> None:
    out = run("kero_stats", "--timeframe", "7d")
    assert out.startswith("Kero: Past 7 days") and "(none yet)" in out


def test_stats_periods_are_the_dashboards(kero: Kero) -> None:
    """One default for the dashboard, kero stats and kero_stats: the past 24 hours (issue 17)."""
    now = time.time()
    kero.ingest([hit_from_environ(environ(f"/{hours}h-ago"), now - hours * 3600, status=200) for hours in (23, 30, 24 * 12)])
    figures = {}
    for args in ((), ("--timeframe", "24h"), ("--timeframe", "7d"), ("--timeframe", "30d")):
        lines = run("kero_stats", *args).splitlines()
        figures[args] = (lines[0].split(" (")[0], lines[1].split()[-1])
    assert figures == {(): ("Kero: Past 24 hours", "1"), ("--timeframe", "24h"): ("Kero: Past 24 hours", "1"),
                       ("--timeframe", "7d"): ("Kero: Past 7 days", "2"), ("--timeframe", "30d"): ("Kero: Past 30 days", "3")}
    with pytest.raises(CommandError, match="invalid choice: '2d'"):
        run("kero_stats", "--timeframe", "2d")


def test_prune_applies_the_retention_now(settings: Any, kero_settings: dict[str, Any]) -> None:
    settings.KERO = {**kero_settings, "RETENTION_DAYS": 2}
    kero = kero_django.get_kero()
    assert kero.count() == 0  # a first session: the automatic hourly pass has just run
    now = time.time()
    kero.ingest([hit_from_environ(environ("/old"), now - 3 * DAY, status=200), hit_from_environ(environ("/old"), now - 5 * DAY, status=200),
                 hit_from_environ(environ("/new"), now - 1 * DAY, status=200)])
    assert kero.count() == 3
    assert run("kero_prune") == "Removed 2 events older than 2 days.\n"
    assert [e.path for e in kero.query()] == ["/new"]
    assert run("kero_prune") == "Removed 0 events older than 2 days.\n"


def seed_days(kero: Kero) -> list[str]:
    """One page view at noon (UTC) on each of the three days before today; returns the days."""
    today = datetime.now(timezone.utc).replace(hour=12, minute=0, second=0, microsecond=0)
    noons = [today - timedelta(days=n) for n in (3, 2, 1)]
    kero.ingest([hit_from_environ(environ(f"/day{i + 1}"), noon.timestamp(), status=200) for i, noon in enumerate(noons)])
    return [noon.date().isoformat() for noon in noons]


def test_export_csv_of_a_day_range(kero: Kero) -> None:
    days = seed_days(kero)
    rows = list(csv.DictReader(io.StringIO(run("kero_export", "--from", days[1], "--to", days[2]))))
    assert [r["path"] for r in rows] == ["/day2", "/day3"]
    assert list(rows[0]) == [f for f in Event.__dataclass_fields__]
    assert rows[0]["ts"] == f"{days[1]}T12:00:00+00:00" and rows[0]["browser"] == "Chrome"
    only_first = list(csv.DictReader(io.StringIO(run("kero_export", "--to", days[0]))))
    assert [r["path"] for r in only_first] == ["/day1"]
    assert "81.2.69.142" not in json.dumps(rows) and "Mozilla" not in json.dumps(rows)


def test_export_json_of_everything_to_a_file(kero: Kero, tmp_path: Path) -> None:
    seed_days(kero)
    kero_django.track("signup", {"plan": "pro"})
    out = tmp_path / "events.json"
    call_command("kero_export", "--format", "json", "-o", str(out), stdout=io.StringIO(), stderr=io.StringIO())
    records = json.loads(out.read_text())
    assert [(r["name"], r["path"]) for r in records] == [("http_req", "/day1"), ("http_req", "/day2"), ("http_req", "/day3"), ("signup", "")]
    assert records[-1]["labels"] == {"plan": "pro"}


def test_export_rounds_durations(browser: Client, kero: Kero) -> None:
    browser.get("/slow/")
    [record] = json.loads(run("kero_export", "--format", "json"))
    assert record["duration_ms"] >= 123 and record["duration_ms"] == round(record["duration_ms"], 3)


def test_export_csv_neutralises_formulas(browser: Client, kero: Kero) -> None:
    browser.get("/hello/x?utm_source=%3DHYPERLINK(%22http://evil%22)")
    kero_django.track("+cmd", {"a": "b"})
    rows = list(csv.DictReader(io.StringIO(run("kero_export"))))
    assert [r["utm_source"] for r in rows if r["name"] == "http_req"] == ['\'=HYPERLINK("http://evil")']
    assert [(r["name"], r["labels"]) for r in rows if r["name"] != "http_req"] == [("'+cmd", '{"a": "b"}')]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "yesterday"], "--from must be a date like 2026-11-01, got 'yesterday'."),
        (["--to", "2026-13-01"], "--to must be a date like 2026-11-01, got '2026-13-01'."),
        (["--from", "2026-11-02", "--to", "2026-11-01"], "--to must not be before --from."),
        (["-o", "/no/such/folder/out.csv"], "cannot write /no/such/folder/out.csv: No such file or directory."),
    ],
)
def test_export_bad_arguments(kero: Kero, args: list[str], message: str) -> None:
    with pytest.raises(CommandError) as raised:
        run("kero_export", *args)
    assert str(raised.value) == message


def test_export_bad_format_is_refused(kero: Kero) -> None:
    with pytest.raises(CommandError, match="invalid choice: 'xml'"):
        run("kero_export", "--format", "xml")


@pytest.mark.parametrize("command", ["kero_stats", "kero_prune", "kero_export"])
def test_commands_report_a_bad_setting_in_one_line(settings: Any, command: str) -> None:
    settings.KERO = {"PIXEL_PATH": "/v.gif"}
    with pytest.raises(CommandError) as raised:
        run(command)
    assert str(raised.value).startswith("KERO setting: db_path is required")
