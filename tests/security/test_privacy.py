"""What Kero promises never to keep: after a run with known client addresses and full
User-Agent strings, neither is anywhere in the data folder (database, its WAL, spool files
caught before ingestion, quarantined files, salts) nor in the ``kero`` log at DEBUG, checked
both as raw bytes and as decoded values (Parquet and DuckDB compress strings, so a byte search
alone could miss them). And a past day's salt cannot be recovered: its file is deleted and its
bytes appear nowhere."""

from __future__ import annotations

import fcntl
import ipaddress
import logging
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

import duckdb
import pyarrow.parquet as pq
import pytest
from werkzeug.test import Client

from kero_core import Kero
from kero_core.wsgi import KeroMiddleware
from tests.conftest import CHROME_UA, IPHONE_UA, FakeClock
from tests.reliability.host import ok_app

IPS = ["81.2.69.142", "203.0.113.77", "198.51.100.23", "2001:db8:85a3::8a2e:370:7334", "2a02:1810:a00::1"]
USER_AGENTS = [
    CHROME_UA, IPHONE_UA,
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0; kero-canary-7f3a9) Gecko/20100101 Firefox/133.0",
    "python-requests/2.32.3 (kero-canary-b41c)", "Googlebot/2.1 (+http://www.google.com/bot.html; kero-canary-91ee)",
]


def secrets_of(ip: str) -> list[bytes]:
    forms = [ip.encode()]
    address = ipaddress.ip_address(ip)
    if address.version == 6:
        forms += [address.exploded.encode(), address.packed]  # 16 bytes: no chance match
    return forms


FORBIDDEN = [form for ip in IPS for form in secrets_of(ip)] + [ua.encode() for ua in USER_AGENTS] + [b"kero-canary"]


def files_under(folder: Path) -> Iterator[Path]:
    for root, _, names in os.walk(folder):
        for name in names:
            yield Path(root) / name


def leaks(data: bytes) -> list[bytes]:
    return [secret for secret in FORBIDDEN if secret in data]


def database_text(db_file: Path) -> bytes:
    """Every value of every table, as text."""
    with duckdb.connect(str(db_file), read_only=True) as con:
        tables = [row[0] for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
        rows = [con.execute(f'SELECT * FROM "{table}"').fetchall() for table in tables]
    return repr(rows).encode()


@pytest.fixture
def ingest_lock(tmp_path: Path) -> Iterator[Callable[[], None]]:
    """Holds the data folder's ingest lock (as a busy process would) until released, so spool
    files stay on disk to be inspected."""
    (tmp_path / "kero").mkdir()
    fd = os.open(tmp_path / "kero" / "ingest.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    released = False

    def release() -> None:
        nonlocal released
        if not released:
            released = True
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    yield release
    release()


def test_no_address_and_no_user_agent_anywhere(tmp_path: Path, geoip_db: str, caplog: pytest.LogCaptureFixture,
                                               ingest_lock: Callable[[], None]) -> None:
    db_path = tmp_path / "kero"
    with caplog.at_level(logging.DEBUG, logger="kero"), \
            Kero(db_path=db_path, geoip_db=geoip_db, measure_requests=True, flush_interval=0.05) as kero:
        client = Client(KeroMiddleware(ok_app, kero, users={"admin": "pw"}))
        for i, ip in enumerate(IPS):
            for ua in USER_AGENTS:
                headers = {"User-Agent": ua, "X-Forwarded-For": ip, "X-Real-IP": ip, "CF-Connecting-IP": ip}
                client.get(f"/page/{i}", headers=headers, environ_base={"REMOTE_ADDR": ip}, buffered=True)
        kero.track("signup", {"plan": "pro"}, request={"REMOTE_ADDR": IPS[0], "HTTP_USER_AGENT": USER_AGENTS[2]})
        # Log-producing trouble on the way: a label that cannot be stored, an unreadable spool file.
        kero.track("broken", ["not", "a", "mapping"], request={"REMOTE_ADDR": IPS[1], "HTTP_USER_AGENT": USER_AGENTS[3]})
        assert kero.flush(timeout=0.5) is False  # spooled; not ingested while the lock is held
        spooled = kero.store.pending()
        assert spooled
        spool_bytes = b"".join(f.read_bytes() for f in spooled)
        spool_values = repr([pq.read_table(f).to_pylist() for f in spooled]).encode()
        (kero.store.spool_dir / "00000000000000000000-1-0.parquet").write_bytes(b"unreadable")
        ingest_lock()
        assert kero.flush(timeout=10)
        stored = kero.count()
        dashboard = client.get("/_kero/?period=today", headers={"Authorization": "Basic YWRtaW46cHc="})
    files = {p.relative_to(db_path): p.read_bytes() for p in files_under(db_path)}
    log_text = "\n".join(caplog.text.splitlines()).encode()
    found = {
        "spool files (bytes)": leaks(spool_bytes), "spool files (values)": leaks(spool_values),
        **{f"{name} (bytes)": leaks(data) for name, data in files.items()},
        "database (values)": leaks(database_text(db_path / "kero.duckdb")),
        "kero log at DEBUG": leaks(log_text), "dashboard page": leaks(dashboard.data),
    }
    print(f"\n[privacy] {len(IPS) * len(USER_AGENTS)} requests from {len(IPS)} addresses with {len(USER_AGENTS)} "
          f"User-Agents; stored={stored}; searched {len(files)} files {sorted(map(str, files))}, "
          f"{len(spooled)} spool files, {len(caplog.records)} log records; leaks: "
          f"{ {k: v for k, v in found.items() if v} or 'none'}")
    assert stored == len(IPS) * len(USER_AGENTS) and dashboard.status_code == 200
    assert len(caplog.records) >= 2  # the trouble above was logged, so the log was really searched
    assert all(v == [] for v in found.values()), found


def test_a_past_days_salt_is_not_recoverable(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2026, 11, 10, 12, 0, tzinfo=timezone.utc))
    environ = {"REMOTE_ADDR": IPS[0], "HTTP_USER_AGENT": CHROME_UA, "PATH_INFO": "/"}
    with Kero(db_path=tmp_path, clock=clock) as kero:
        kero.record_request(environ, status=200)
        assert kero.flush(10)
        salt = (tmp_path / "salts" / "2026-11-10").read_bytes()
        clock.advance(2 * 86400)  # two days on: the 10th is no longer today or yesterday
        kero.record_request(environ, status=200)
        assert kero.flush(10)
        first, second = sorted(kero.query(), key=lambda e: e.ts)
    salts = sorted(os.listdir(tmp_path / "salts"))
    everything = b"".join(p.read_bytes() for p in files_under(tmp_path)) + database_text(tmp_path / "kero.duckdb")
    print(f"\n[salts] kept: {salts}; the 10th's salt found anywhere: {salt in everything or salt.hex().encode() in everything}")
    assert salts == ["2026-11-12"]
    assert salt not in everything and salt.hex().encode() not in everything
    assert first.visitor_id != second.visitor_id  # same visitor, other day: not linkable
