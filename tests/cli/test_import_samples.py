"""``kero import`` against the hand-written samples of each format: exact counts, every field a
line turns into, and what happens to odd lines (IPv6, escaped quotes, "-" referrers, non-UTF-8
bytes, a truncated last line, gzip, stdin)."""

from __future__ import annotations

import gzip
import json
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.cli.conftest import CHROME_UA, SAMPLES, invoke, stored

def copy(name: str, folder: Path) -> Path:
    target = folder / name
    shutil.copyfile(SAMPLES / name, target)
    return target


def skipped(output: str) -> dict[str, int]:
    """The "Skipped:" table of the summary, as reason -> lines."""
    if "Skipped:" not in output:
        return {}
    out = {}
    for line in output.split("Skipped:\n", 1)[1].split("\n")[1:]:  # after the header
        reason, _, count = line.strip().rpartition(" ")
        if not line.startswith("  ") or not count.isdigit():
            break
        out[reason.strip()] = int(count)
    return out


def test_combined_sample(tmp_path: Path, db: Path) -> None:
    log = copy("combined.log", tmp_path)
    result = invoke("import", "--db", db, "--site-host", "example.com", log)
    assert result.exit_code == 0, result.output
    assert "Read 14 lines" in result.output and "8 events imported, 6 lines skipped" in result.output
    assert skipped(result.output) == {
        "ignored path (web asset, dashboard, pixel)": 3, "not an HTTP request": 1, "malformed line": 1, "blank line": 1,
    }
    assert f"{log}:9: this is not a log line" in result.output
    assert "last line incomplete: imported by the next run" in result.output

    events = stored(db)
    assert [e.path for e in events] == [
        "/blog/hello-world", "/", "/about", "/café", "/blog/privacy", "/pricing", "/café", "/signup",
    ]
    by_path = {e.path: e for e in events}
    ipv6 = by_path["/blog/hello-world"]
    assert ipv6.ts == datetime(2025, 10, 10, 11, 56, 1, tzinfo=timezone.utc)  # +0200 in the log
    assert (ipv6.utm_source, ipv6.utm_medium, ipv6.referrer, ipv6.form_factor) == ("newsletter", "email", "", "mobile")
    assert (by_path["/"].referrer_domain, by_path["/"].browser) == ("google.com", "Chrome")
    assert by_path["/about"].referrer == "" and by_path["/signup"].referrer == ""  # internal navigation
    assert (by_path["/signup"].method, by_path["/signup"].status) == ("POST", 302)
    assert by_path["/blog/privacy"].referrer == 'https://news.ycombinator.com/item?id=1"x'  # nginx's \x22
    assert by_path["/pricing"].is_bot and by_path["/pricing"].browser == "Googlebot"
    escaped, raw_latin1 = [e for e in events if e.path == "/café"]  # %C3%A9, then a raw \xe9 byte
    assert escaped.browser == "Firefox" and escaped.status == 200
    assert raw_latin1.status == 404 and raw_latin1.browser == "Firefox"  # "\xff\xfe" in its User-Agent
    same_visitor = {by_path[p].visitor_id for p in ("/", "/about", "/signup")}
    assert len(same_visitor) == 1 and 0 not in same_visitor
    assert escaped.visitor_id not in same_visitor


def test_completed_last_line_and_appended_lines_are_imported_once(tmp_path: Path, db: Path) -> None:
    log = copy("combined.log", tmp_path)
    assert invoke("import", "--db", db, log).exit_code == 0
    again = invoke("import", "--db", db, log)
    assert "Read 0 lines" in again.output and "last line incomplete" in again.output
    assert len(stored(db)) == 8

    with open(log, "ab") as file:  # the writer finishes the line, and writes one more
        file.write(f'024 "-" "{CHROME_UA}"\n'.encode())
        file.write(f'198.51.100.99 - - [10/Oct/2025:14:06:00 +0000] "GET /about HTTP/1.1" 200 10 "-" "{CHROME_UA}"\n'.encode())
    appended = invoke("import", "--db", db, log)
    assert "Read 2 lines" in appended.output and "2 events imported" in appended.output
    assert " resumed " in appended.output
    events = stored(db)
    assert len(events) == 10
    assert [e.path for e in events][-2:] == ["/pricing", "/about"]

    third = invoke("import", "--db", db, log)
    assert "Read 0 lines" in third.output and "nothing new" in third.output
    assert len(stored(db)) == 10


def test_a_rotated_and_compressed_log_is_recognised(tmp_path: Path, db: Path) -> None:
    log = copy("combined.log", tmp_path)
    with open(log, "ab") as file:
        file.write(f'024 "-" "{CHROME_UA}"\n'.encode())
    assert "9 events imported" in invoke("import", "--db", db, log).output
    rotated = tmp_path / "combined.log.2.gz"
    with open(log, "rb") as plain, gzip.open(rotated, "wb") as packed:
        shutil.copyfileobj(plain, packed)
    log.unlink()
    result = invoke("import", "--db", db, rotated)
    assert result.exit_code == 0 and "Read 0 lines" in result.output and "nothing new" in result.output
    assert len(stored(db)) == 9


def test_gzip_and_stdin_read_their_unterminated_last_line(tmp_path: Path, db: Path) -> None:
    """A .gz file or a pipe cannot grow: a last line without newline is read now (this one is cut,
    so it is malformed)."""
    packed = tmp_path / "access.log.1.gz"
    packed.write_bytes(gzip.compress((SAMPLES / "combined.log").read_bytes()))
    result = invoke("import", "--db", db, packed)
    assert "Read 15 lines" in result.output and "8 events imported" in result.output
    assert skipped(result.output)["malformed line"] == 2

    other = db.parent / "other"
    piped = invoke("import", "--db", other, "-", input=(SAMPLES / "combined.log").read_bytes())
    assert piped.exit_code == 0
    assert "Read 15 lines" in piped.output and "8 events imported" in piped.output
    again = invoke("import", "--db", other, "-", input=(SAMPLES / "combined.log").read_bytes())
    assert "Read 0 lines" in again.output
    assert len(stored(other)) == 8


def test_common_sample(tmp_path: Path, db: Path) -> None:
    result = invoke("import", "--db", db, copy("common.log", tmp_path))
    assert "Read 7 lines" in result.output and "4 events imported" in result.output
    assert skipped(result.output) == {
        "ignored path (web asset, dashboard, pixel)": 1, "not an HTTP request": 1, "malformed line": 1,
    }
    assert "no User-Agent" in result.output
    events = stored(db)
    assert [(e.method, e.path) for e in events] == [("GET", "/docs/"), ("HEAD", "/docs/"), ("GET", "/pricing"), ("GET", "/old")]
    assert all(e.is_bot for e in events)  # no User-Agent: counted as bots, as live tracking does
    assert len({e.visitor_id for e in events}) == 4  # IPv4 and IPv6 clients, each its own


def test_ignore_bots_counts_what_it_drops(tmp_path: Path, db: Path) -> None:
    result = invoke("import", "--db", db, "--ignore-bots", copy("common.log", tmp_path))
    assert "0 events imported" in result.output
    assert skipped(result.output)["bot or HTTP library (--ignore-bots)"] == 4
    assert stored(db) == []


def test_nginx_sample_with_geoip(tmp_path: Path, db: Path, geoip_db: str) -> None:
    result = invoke("import", "--db", db, "--geoip", geoip_db, "--site-host", "example.com", copy("nginx.log", tmp_path))
    assert "4 events imported, 0 lines skipped" in result.output and " nginx " in result.output
    first, cafe, blog, pricing = stored(db)
    assert (first.country, first.region) == ("GB", "England")  # the client is the X-Forwarded-For address
    assert (cafe.path, cafe.referrer_domain) == ("/café", "duckduckgo.com")  # nginx's \xC3\xA9 escapes
    assert first.visitor_id == cafe.visitor_id != pricing.visitor_id
    assert blog.country == "" and blog.browser == "Firefox"  # a private address; \x22 in the User-Agent
    assert pricing.country == "" and pricing.form_factor == "mobile"


def test_caddy_sample(tmp_path: Path, db: Path) -> None:
    result = invoke("import", "--db", db, copy("caddy.json", tmp_path))
    assert "3 events imported, 3 lines skipped" in result.output and "caddy-json" in result.output
    assert skipped(result.output) == {
        "not an access log entry": 1, "malformed line": 1, "ignored path (web asset, dashboard, pixel)": 1,
    }
    assert "Hint: pass --site-host" not in result.output  # Caddy logs carry the host
    blog, cafe, about = stored(db)
    assert blog.duration_ms == pytest.approx(42.1, abs=0.01)
    assert (blog.utm_source, blog.referrer_domain) == ("mastodon", "mastodon.social")
    assert about.ts == datetime(2025, 10, 13, 10, 0, tzinfo=timezone.utc)  # an ISO time_format
    assert about.referrer == ""  # host www.example.com, Referer example.com: navigation
    assert (cafe.path, cafe.status) == ("/café", 404)


def test_forcing_the_wrong_format_counts_malformed_lines_and_shows_five(tmp_path: Path, db: Path) -> None:
    result = invoke("import", "--db", db, "--format", "caddy-json", copy("combined.log", tmp_path))
    assert result.exit_code == 0
    assert "0 events imported" in result.output
    assert skipped(result.output) == {"malformed line": 13, "blank line": 1}
    assert result.output.count("combined.log:") == 5


def test_unrecognised_and_unreadable_files_fail_with_exit_code_1(tmp_path: Path, db: Path) -> None:
    garbage = tmp_path / "notes.txt"
    garbage.write_text("hello\nworld\n")
    cut = tmp_path / "cut.log.gz"
    cut.write_bytes(gzip.compress((SAMPLES / "combined.log").read_bytes() * 50)[:1500])
    result = invoke("import", "--db", db, garbage, copy("nginx.log", tmp_path), cut)
    assert result.exit_code == 1
    assert "unrecognised log format (pass --format)" in result.output
    assert "stopped reading after line" in result.output and "end-of-stream marker" in result.output
    read_before_the_cut = [e for e in stored(db) if e.ts.day == 10]
    assert 0 < len(read_before_the_cut) < 8 * 50
    assert len(stored(db)) == 4 + len(read_before_the_cut)  # the other files are imported


def test_a_missing_file_is_a_usage_error_before_anything_is_read(tmp_path: Path, db: Path) -> None:
    result = invoke("import", "--db", db, copy("nginx.log", tmp_path), tmp_path / "missing.log")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "missing.log' does not exist" in result.stderr
    assert not (db / "kero.duckdb").exists()


def test_a_damaged_state_file_stops_the_import(tmp_path: Path, db: Path) -> None:
    db.mkdir()
    (db / "imports.json").write_text('{"files": [{"head": 1}]}')
    result = invoke("import", "--db", db, copy("nginx.log", tmp_path))
    assert result.exit_code == 1
    assert "is not a Kero import state file; move it aside" in result.stderr


def test_one_import_at_a_time(tmp_path: Path, db: Path) -> None:
    import fcntl

    db.mkdir()
    with open(db / "import.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        result = invoke("import", "--db", db, copy("nginx.log", tmp_path))
    assert result.exit_code == 1
    assert result.stderr == "Error: another kero import is writing to this database; wait for it to finish\n"
    assert invoke("import", "--db", db, copy("nginx.log", tmp_path)).exit_code == 0


def test_web_assets_can_be_kept(tmp_path: Path, db: Path) -> None:
    result = invoke("import", "--db", db, "--keep-web-assets", copy("combined.log", tmp_path))
    paths = {e.path for e in stored(db)}
    assert {"/static/app.css", "/wp-login.php"} <= paths and "/_kero/" not in paths  # the dashboard never
    assert skipped(result.output)["ignored path (web asset, dashboard, pixel)"] == 1


def test_an_event_the_writer_cannot_store_is_counted(tmp_path: Path, db: Path) -> None:
    log = tmp_path / "caddy.json"
    far = {"ts": 1e13, "request": {"method": "GET", "uri": "/far", "client_ip": "192.0.2.1"}, "status": 200}
    log.write_bytes((SAMPLES / "caddy.json").read_bytes() + json.dumps(far).encode() + b"\n")
    result = invoke("import", "--db", db, log)
    assert "3 events imported, 4 lines skipped" in result.output
    assert skipped(result.output)["unusable event (a time outside the years 1 to 9999)"] == 1
    assert "bot or HTTP library (--ignore-bots)" not in skipped(result.output)


def test_a_damaged_gzip_fails_alone_and_an_empty_log_is_fine(tmp_path: Path, db: Path) -> None:
    fake = tmp_path / "access.log.3.gz"
    fake.write_bytes(b"\x1f\x8b" + b"not really gzip" * 10)
    empty = tmp_path / "access.log"
    empty.write_bytes(b"")
    result = invoke("import", "--db", db, fake, copy("nginx.log", tmp_path), empty)
    assert result.exit_code == 1
    assert re.search(r"access.log.3.gz +– +failed +0 +0 +cannot read it \(", result.output)
    assert re.search(r"access.log +– +empty +0 +0\n", result.output)  # rotated a moment ago: not a failure
    assert len(stored(db)) == 4
    assert invoke("import", "--db", db, empty).exit_code == 0
