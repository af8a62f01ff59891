"""``kero import`` on access logs that public packages ship (tests/data/access-logs/README.md):
every line is either imported or skipped with a counted reason, a second import adds nothing,
and a format Kero does not read is refused in one sentence."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.cli.conftest import invoke, stored
from tests.cli.test_import_samples import skipped

LOGS = Path(__file__).resolve().parents[1] / "data" / "access-logs"
SUMMARY = re.compile(r"Read ([\d,]+) lines .*: ([\d,]+) events imported, ([\d,]+) lines skipped\.")


def imported(db: Path, log: Path) -> tuple[int, int, dict[str, int]]:
    """Lines read, events imported and the skipped lines by reason of one ``kero import``."""
    result = invoke("import", "--db", db, log)
    assert result.exit_code == 0, result.output
    found = SUMMARY.search(result.output)
    assert found, result.output
    read, events, skips = (int(n.replace(",", "")) for n in found.groups())
    assert sum(skipped(result.output).values()) == skips, result.output
    return read, events, skipped(result.output)


@pytest.mark.parametrize(("name", "expected_events", "expected_skips"), [
    # 15 of logswan.org's lines are its 404s for web assets (.png, .css) and /robots.txt
    ("logswan.log", 19, {"ignored path (web asset, dashboard, pixel)": 15}),
    ("nginxparser.log", 1, {"blank line": 1}),
])
def test_every_line_is_imported_or_skipped_with_a_reason(name: str, expected_events: int, expected_skips: dict[str, int],
                                                         tmp_path: Path, db: Path) -> None:
    log = tmp_path / name
    shutil.copyfile(LOGS / name, log)
    lines = len(log.read_bytes().splitlines())
    read, events, skips = imported(db, log)
    print(f"{name}: {lines} lines, {events} imported ({events / lines:.0%}), skipped {skips}")
    assert read == lines == events + sum(skips.values())
    assert (events, skips) == (expected_events, expected_skips)
    first = stored(db)
    assert len(first) == events
    assert imported(db, log) == (0, 0, {})  # a re-import reads nothing new...
    assert stored(db) == first  # ...and adds nothing


def test_the_logswan_sample_as_stored(tmp_path: Path, db: Path) -> None:
    log = tmp_path / "logswan.log"
    shutil.copyfile(LOGS / "logswan.log", log)
    imported(db, log)
    events = stored(db)
    assert sorted({e.browser for e in events if e.is_bot}) == ["curl", "wget"]  # 14 downloads and a HEAD
    # Each browser's one page view of "/" (Chrome's lines are all assets); ua-parser has no name
    # for NetSurf, so it is stored without one, on OpenBSD.
    humans = sorted((e.path, e.browser, e.os, e.form_factor) for e in events if not e.is_bot)
    assert humans == [("/", "", "OpenBSD", "desktop"), ("/", "Dillo", "", "desktop"), ("/", "Firefox", "OpenBSD", "desktop"),
                      ("/", "Lynx", "", "desktop")]
    assert {(e.method, e.status) for e in events} == {("GET", 200), ("HEAD", 200)}


def test_a_format_kero_does_not_read_is_refused_in_one_sentence(tmp_path: Path, db: Path) -> None:
    log = tmp_path / "vhost_combined.log"
    shutil.copyfile(LOGS / "apachelogs-vhost_combined.log", log)
    result = invoke("import", "--db", db, log)
    assert result.exit_code == 1
    assert "unrecognised log format (pass --format)" in result.output and "Traceback" not in result.output
    forced = invoke("import", "--db", db, "--format", "combined", log)
    lines = len(log.read_bytes().splitlines())
    assert f"Read {lines} lines" in forced.output and f"0 events imported, {lines} lines skipped" in forced.output
    assert skipped(forced.output) == {"malformed line": lines}
    assert stored(db) == []
