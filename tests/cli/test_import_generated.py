"""``kero import`` of a large combined log written from the synthetic generator: exact counts per
path and status, and idempotency when the log is imported, appended to, and imported again.
50,000 lines in the default run, 1,000,000 with ``-m slow``."""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable
from urllib.parse import parse_qs, quote

import pytest

from kero_core.capture import DEFAULT_IGNORED_PREFIXES, DEFAULT_IGNORED_SUFFIXES, Hit, PathRules
from kero_core.synthetic import generate
from tests.cli.conftest import invoke, stored

DAY = 86_400


def _quoted(text: str) -> str:
    """A log field as Apache writes it: quotes and backslashes escaped, "-" when empty."""
    return '"' + (text.replace("\\", "\\\\").replace('"', '\\"') or "-") + '"'


def combined_lines(hits: Iterable[Hit]) -> Iterable[str]:
    days: dict[int, str] = {}
    for hit in hits:
        second = int(hit.ts)
        day = second - second % DAY
        if day not in days:
            days[day] = datetime.fromtimestamp(day, timezone.utc).strftime("%d/%b/%Y")
        clock = second - day
        when = f"{days[day]}:{clock // 3600:02d}:{clock % 3600 // 60:02d}:{clock % 60:02d} +0000"
        target = quote(hit.path, safe="/:@!$&'()*+,;=-._~") + (f"?{hit.query}" if hit.query else "")
        yield (f'{hit.remote_addr} - - [{when}] "{hit.method} {target} HTTP/1.1" {hit.status} 512 '
               f"{_quoted(hit.referrer)} {_quoted(hit.user_agent)}\n")


def page_views(count: int) -> list[Hit]:
    """``count`` page views of the synthetic site (custom events are not requests in a log),
    ending at midnight before today."""
    end = float(int(time.time()) // DAY * DAY)
    return [h for h in generate(count + count // 20, days=30, seed=11, end=end) if h.name == "http_req"][:count]


def tracked_by_default(hits: list[Hit]) -> list[Hit]:
    """The hits live tracking (and so ``kero import``) records: web assets and the dashboard are not."""
    rules = PathRules("/_kero", None, True, list(DEFAULT_IGNORED_PREFIXES), list(DEFAULT_IGNORED_SUFFIXES))
    return [h for h in hits if rules.should_track(h.path)]


def check_import_in_two_parts(tmp_path: Path, count: int) -> float:
    """Import the first 60% of the log, append the rest, import again, then once more; the
    database must hold every tracked line exactly once. Returns the lines per second."""
    hits = page_views(count)
    assert len(hits) == count
    lines = list(combined_lines(hits))
    log, db = tmp_path / "access.log", tmp_path / "kero"
    cut = count * 6 // 10
    log.write_text("".join(lines[:cut]), encoding="utf-8")
    started = time.perf_counter()
    first = invoke("import", "--db", db, "--site-host", "example.com", log)
    with log.open("a", encoding="utf-8") as file:
        file.write("".join(lines[cut:]))
    second = invoke("import", "--db", db, "--site-host", "example.com", log)
    speed = count / (time.perf_counter() - started)
    third = invoke("import", "--db", db, "--site-host", "example.com", log)
    assert f"Read {cut:,} lines" in first.output
    assert f"Read {count - cut:,} lines" in second.output
    assert "Read 0 lines" in third.output and "nothing new" in third.output

    tracked = tracked_by_default(hits)
    assert 0 < len(tracked) < count  # the generator's scanners probe for .php, /.env, ...
    events = stored(db)  # every request: page views (GET, HEAD) and the others (the forms' POSTs)
    assert {e.name for e in events} == {"http_req", "http_other"}
    assert len(events) == len(tracked)
    assert Counter(e.path for e in events) == Counter(h.path for h in tracked)
    assert Counter(e.status for e in events) == Counter(h.status for h in tracked)
    assert Counter(e.utm_campaign for e in events) == Counter(
        parse_qs(h.query).get("utm_campaign", [""])[0] for h in tracked
    )
    return speed


def test_a_50_000_line_log(tmp_path: Path) -> None:
    check_import_in_two_parts(tmp_path, 50_000)


@pytest.mark.slow
def test_a_million_line_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    speed = check_import_in_two_parts(tmp_path, 1_000_000)
    with capsys.disabled():
        print(f"\nkero import: 1,000,000 combined log lines at {speed:,.0f} lines/s")
