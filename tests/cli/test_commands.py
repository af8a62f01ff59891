"""``kero seed``, ``export``, ``stats``, ``prune`` and ``doctor`` through click's runner, on real
DuckDB files, and the one-line errors of each kind of mistake."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from kero_core.batch import EventBuilder
from kero_core.capture import hit_from_environ
from kero_core.cli.common import BULK_SWITCH_INTERVAL, days_view, open_kero
from kero_core.config import make_config
from kero_core.enrich import SaltStore
from kero_core.dashboard import model
from kero_core.dashboard.export import to_csv
from kero_core.dashboard.view import DEFAULT_TIMEFRAME, TIMEFRAMES, parse_view
from kero_core.schema import COLUMN_NAMES
from kero_core.store import DB_FILE, SCHEMA_VERSION, Store
from tests.cli.conftest import invoke, stored
from tests.conftest import environ

END = "2026-11-01"  # the seeded history ends here: results do not depend on today's date
EVENTS = 3_000


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("seeded") / "kero"
    result = invoke("seed", "--db", db, "--events", EVENTS, "--days", 10, "--seed", 5, "--end", END)
    assert result.exit_code == 0, result.output
    return db


# -- seed ---------------------------------------------------------------------------------------------

def test_seed_writes_exactly_the_events_asked_for_deterministically(seeded: Path, db: Path) -> None:
    result = invoke("seed", "--db", db, "--events", EVENTS, "--days", 10, "--seed", 5, "--end", END)
    assert result.stdout.startswith(f"Stored {EVENTS:,} events in ") and "events/s" in result.stdout
    mine, theirs = stored(db), stored(seeded)
    assert len(mine) == EVENTS
    assert [(e.ts, e.name, e.path, e.status, e.browser, e.referrer) for e in mine] == \
        [(e.ts, e.name, e.path, e.status, e.browser, e.referrer) for e in theirs]
    assert min(e.ts for e in mine) >= datetime(2026, 10, 22, tzinfo=timezone.utc)
    assert max(e.ts for e in mine) < datetime(2026, 11, 1, tzinfo=timezone.utc)
    assert {"signup", "purchase"} <= {e.name for e in mine} and any(e.is_bot for e in mine)
    assert any(e.duration_ms is not None for e in mine)  # response times are kept


def test_seed_switches_threads_briskly_while_it_ingests(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its DuckDB thread waits for the GIL after each of its tasks: while it ingests, Python
    switches threads every BULK_SWITCH_INTERVAL, and the host's interval is back after."""
    seen: list[float] = []
    complete = Store.complete_rollups  # the end of its ingest
    monkeypatch.setattr(Store, "complete_rollups", lambda self: seen.append(sys.getswitchinterval()) or complete(self))
    before = sys.getswitchinterval()
    assert invoke("seed", "--db", db, "--events", 100, "--end", END).exit_code == 0
    assert seen == [BULK_SWITCH_INTERVAL] and BULK_SWITCH_INTERVAL < before == sys.getswitchinterval()
    assert len(stored(db)) == 100


def test_seed_argument_errors_are_one_line(db: Path) -> None:
    result = invoke("seed", "--db", db, "--events", -1)
    assert result.exit_code == 2
    assert result.stderr == ("Error: Invalid value for '--events': -1 is not in the range x>=0. "
                             "(see 'kero seed --help')\n")
    assert not db.exists()


# -- export -------------------------------------------------------------------------------------------

def test_export_csv_json_and_parquet_hold_every_event_and_no_ip(seeded: Path, tmp_path: Path) -> None:
    target = tmp_path / "events.csv"
    result = invoke("export", "--db", seeded, "--format", "csv", "-o", target)
    assert result.exit_code == 0 and result.stderr == f"Exported {EVENTS:,} events to {target}.\n"
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert len(rows) == EVENTS and tuple(rows[0]) == COLUMN_NAMES
    assert not {"ip", "remote_addr", "user_agent"} & set(rows[0])
    assert Counter(r["path"] for r in rows) == Counter(e.path for e in stored(seeded))

    lines = invoke("export", "--db", seeded, "--format", "json").stdout.splitlines()
    assert len(lines) == EVENTS and tuple(json.loads(lines[0])) == COLUMN_NAMES

    invoke("export", "--db", seeded, "--format", "parquet", "-o", tmp_path / "events.parquet")
    table = pq.read_table(tmp_path / "events.parquet")
    assert table.num_rows == EVENTS and tuple(table.column_names) == COLUMN_NAMES
    assert sorted(os.listdir(tmp_path)) == ["events.csv", "events.parquet"]  # no temporary file left


def test_export_from_to_takes_whole_utc_days(seeded: Path) -> None:
    result = invoke("export", "--db", seeded, "--format", "json", "--from", "2026-10-25", "--to", "2026-10-26")
    times = [json.loads(line)["ts"] for line in result.stdout.splitlines()]
    expected = [e for e in stored(seeded) if datetime(2026, 10, 25, tzinfo=timezone.utc) <= e.ts
                < datetime(2026, 10, 27, tzinfo=timezone.utc)]
    assert len(times) == len(expected) > 0
    assert times[0].startswith("2026-10-25") and times[-1].startswith("2026-10-26")


def test_export_csv_defuses_spreadsheet_formulas(db: Path) -> None:
    with open_kero(db) as kero:
        hit = hit_from_environ(environ("/landing", QUERY_STRING="utm_source=%3DHYPERLINK(%22x%22)"), time.time() - 60,
                               status=200)
        kero.ingest([hit])
    row = next(csv.DictReader(io.StringIO(invoke("export", "--db", db, "--format", "csv").stdout)))
    assert row["utm_source"] == "'=HYPERLINK(\"x\")"
    raw = json.loads(invoke("export", "--db", db, "--format", "json").stdout)
    assert raw["utm_source"] == '=HYPERLINK("x")'  # data formats keep the value as stored


def test_export_aggregates_are_the_dashboards_csv(seeded: Path) -> None:
    result = invoke("export", "--db", seeded, "--format", "csv", "--aggregates", "--from", "2026-10-24", "--to", "2026-10-30")
    assert result.exit_code == 0
    exported = [(r["card"], r["label"], r["metric"], float(r["value"]) if r["value"] else None)
                for r in csv.DictReader(io.StringIO(result.stdout))]
    with open_kero(seeded) as kero:
        view = parse_view({"from": ["2026-10-24"], "to": ["2026-10-30"], "limit": ["1000"]}, kero.now(), controls=["limit"])
        dashboard_csv = to_csv(model.build(kero, view, rows=1000))
    expected = [(r["card"], r["label"], r["metric"], float(r["value"]) if r["value"] else None)
                for r in csv.DictReader(io.StringIO(dashboard_csv))]
    assert exported == expected
    assert ("figures", "Page views", "current") in {row[:3] for row in exported}


def test_export_mistakes(seeded: Path, tmp_path: Path) -> None:
    missing_format = invoke("export", "--db", seeded)
    assert missing_format.exit_code == 2 and "Missing option '--format'" in missing_format.stderr
    bad_day = invoke("export", "--db", seeded, "--format", "csv", "--from", "2026-13-01")
    assert bad_day.exit_code == 2 and "'2026-13-01' is not a date" in bad_day.stderr
    backwards = invoke("export", "--db", seeded, "--format", "csv", "--aggregates", "--from", "2026-10-30", "--to", "2026-10-01")
    assert backwards.exit_code == 2 and "'from' (2026-10-30) must not be after 'to' (2026-10-01)" in backwards.stderr
    nowhere = invoke("export", "--db", seeded, "--format", "csv", "-o", tmp_path / "no" / "such" / "dir.csv")
    assert nowhere.exit_code == 1 and nowhere.stderr.startswith("Error: No such file or directory")
    no_db = invoke("export", "--db", tmp_path, "--format", "csv")
    assert no_db.exit_code == 2 and "holds no Kero database (kero.duckdb)" in no_db.stderr
    for result in (missing_format, bad_day, backwards, nowhere, no_db):
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.output


# -- stats --------------------------------------------------------------------------------------------

def test_stats_prints_the_dashboards_figures_and_top_lists(seeded: Path) -> None:
    result = invoke("stats", "--db", seeded, "--timeframe", "all", "--limit", "3")
    assert result.exit_code == 0
    humans = [e for e in stored(seeded, "http_req") if not e.is_bot]
    lines = result.stdout.splitlines()
    views = next(line for line in lines if line.strip().startswith("Page views"))
    assert f"{len(humans):,}" == views.split()[2]
    pages = lines[lines.index(next(line for line in lines if line.startswith("Top pages"))) + 2:][:3]
    top = Counter(e.path for e in humans).most_common(1)[0][0]
    assert pages[0].split()[0] == top and len(pages) == 3
    assert any(line.startswith("Referrers (") for line in lines)


def test_stats_by_default_shows_the_dashboards_default_period(seeded: Path) -> None:
    result = invoke("stats", "--db", seeded)
    assert result.exit_code == 0
    assert result.stdout.split(":")[1].split(",")[0].strip() == TIMEFRAMES[DEFAULT_TIMEFRAME] == "Past 24 hours"


def test_stats_of_a_history_older_than_ten_years(db: Path) -> None:
    """Logs of 2009 imported beside today's: every stored day, and days picked with --from/--to
    (issue 17: "all" failed, "a custom period can span at most 3660 days")."""
    now = time.time()
    moments = [datetime(2009, 6, 1, 12, tzinfo=timezone.utc).timestamp(), datetime(2015, 6, 1, 12, tzinfo=timezone.utc).timestamp(), now - 60]
    with open_kero(db) as kero:
        kero.ingest([hit_from_environ(environ(f"/p{i}"), ts, status=200) for i, ts in enumerate(moments)])

    def views(*args: str) -> tuple[str, str]:
        result = invoke("stats", "--db", db, *args)
        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        return lines[0].split(": ")[1].split(",")[0], next(line for line in lines if line.strip().startswith("Page views")).split()[2]

    today = datetime.now(timezone.utc)
    assert views("--timeframe", "all") == (f"01 Jun 2009 – {today:%d %b %Y}", "3")
    assert views("--from", "2015-01-01", "--to", "2015-12-31") == ("01 Jan 2015 – 31 Dec 2015", "1")
    assert views("--from", "2010-01-01") == (f"01 Jan 2010 – {today:%d %b %Y}", "2")
    assert views("--to", "2014-12-31") == ("01 Jun 2009 – 31 Dec 2014", "1")
    with open_kero(db) as kero:
        dashboard = model.build(kero, days_view(kero))
    assert dashboard.unit == "year" and [b.start.year for b in dashboard.buckets] == list(range(2009, today.year + 1))
    assert sum(b.views for b in dashboard.buckets) == 3
    both = invoke("stats", "--db", db, "--timeframe", "7d", "--from", "2015-01-01")
    assert both.exit_code == 2 and "give either --timeframe or --from/--to, not both" in both.stderr
    bad = invoke("stats", "--db", db, "--from", "2015-13-01")
    assert bad.exit_code == 2 and "'2015-13-01' does not match the format '%Y-%m-%d'" in bad.stderr


def test_stats_of_a_period_without_events(seeded: Path) -> None:
    result = invoke("stats", "--db", seeded, "--timeframe", "today")
    assert result.exit_code == 0
    assert "Past" not in result.stdout and "Today" in result.stdout
    assert "  none" in result.stdout


# -- prune --------------------------------------------------------------------------------------------

def test_prune_removes_exactly_the_old_events(db: Path) -> None:
    invoke("seed", "--db", db, "--events", 2_000, "--days", 20)
    before = stored(db)
    result = invoke("prune", "--db", db, "--older-than", "7d")
    removed = int(result.stdout.split()[1].replace(",", ""))
    after = stored(db)
    assert 0 < removed < len(before) and len(after) == len(before) - removed
    cutoff = datetime.now(timezone.utc) - timedelta(days=7)
    assert min(e.ts for e in after) >= cutoff - timedelta(minutes=1)
    assert result.stdout.startswith(f"Removed {removed:,} events older than 7 days (before ")
    assert invoke("prune", "--db", db, "--older-than", "7d").stdout.startswith("Removed 0 events")


def test_prune_span_mistakes(seeded: Path) -> None:
    for span in ("7", "0d", "7y", "-1d"):
        result = invoke("prune", "--db", seeded, "--older-than", span)
        assert result.exit_code == 2 and "is not a time span such as 30m, 12h, 7d, 2w" in result.stderr
    assert len(stored(seeded)) == EVENTS


# -- doctor -------------------------------------------------------------------------------------------

def test_doctor_on_a_healthy_database(seeded: Path) -> None:
    result = invoke("doctor", "--db", seeded)
    assert result.exit_code == 0, result.stdout
    assert f"ok       schema version {SCHEMA_VERSION} (current)" in result.stdout
    assert f"ok       {EVENTS:,} events (" in result.stdout and "from 2026-10-22" in result.stdout
    assert "note     GeoIP database not checked" in result.stdout
    assert result.stdout.endswith("No problem found.\n")


def test_doctor_reports_problems_with_hints(tmp_path: Path, geoip_db: str) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = invoke("doctor", "--db", empty)
    assert result.exit_code == 1 and "problem  no kero.duckdb in" in result.stdout
    assert "hint: is this the app's db_path?" in result.stdout

    db = tmp_path / "kero"
    invoke("seed", "--db", db, "--events", 100, "--days", 1)
    (db / "spool" / "00000000000000000001-1-0.parquet.bad").write_bytes(b"not parquet")
    (db / "salts").mkdir(exist_ok=True)
    (db / "salts" / "2020-01-01").write_bytes(b"x" * 32)
    not_mmdb = tmp_path / "GeoLite2-City.mmdb"
    not_mmdb.write_bytes(b"not a database")
    result = invoke("doctor", "--db", db, "--geoip", not_mmdb)
    assert result.exit_code == 1
    assert "problem  1 unreadable spool file(s) set aside (*.bad)" in result.stdout
    assert "warning  visitor salts of 1 past day(s) are still on disk (2020-01-01...)" in result.stdout
    assert f"problem  {not_mmdb} is not a usable MaxMind database" in result.stdout
    assert result.stdout.endswith("2 problem(s) found.\n")

    stale = invoke("doctor", "--db", db, "--geoip", geoip_db)  # the packaged GeoLite2 is from 2018
    assert "warning  GeoIP database GeoLite2-City was built" in stale.stdout and "run geoipupdate" in stale.stdout


def test_doctor_stores_a_spool_backlog_and_says_so(db: Path) -> None:
    invoke("seed", "--db", db, "--events", 100, "--days", 1)
    config = make_config(db_path=db)  # a writer that spooled a batch, and nothing ingested it yet
    table = EventBuilder(config, [], SaltStore(db / "salts")).build([hit_from_environ(environ("/late"), time.time(), status=200)])
    Store(db, config.retention).spool(table)
    result = invoke("doctor", "--db", db)
    assert "ok       spool backlog: 1 batch file(s)" in result.stdout and "stored now" in result.stdout
    assert not list((db / "spool").glob("*.parquet"))
    assert "ok       101 events" in result.stdout


def test_a_database_held_by_another_program_is_one_line_and_exit_1(seeded: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); time.sleep(30)",
         str(seeded / DB_FILE)], stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        result = invoke("stats", "--db", seeded)
    finally:
        holder.kill()
        holder.wait(10)
        holder.stdout.close()  # type: ignore[union-attr]
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and "is held open by another program" in result.stderr
    assert result.stderr.count("\n") == 1


def test_seed_writes_countries_with_the_packaged_geolite2(seeded: Path) -> None:
    countries = Counter(e.country for e in stored(seeded, "http_req"))
    assert countries[""] < sum(countries.values()) * 0.05, countries.most_common(5)
    assert len(countries) > 10


def test_seed_takes_a_geoip_file(db: Path, tmp_path: Path) -> None:
    result = invoke("seed", "--db", db, "--events", 10, "--geoip", tmp_path / "missing.mmdb")
    assert result.exit_code == 2
    assert "'--geoip': File" in result.stderr and "does not exist" in result.stderr
