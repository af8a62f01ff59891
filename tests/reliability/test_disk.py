"""The disk under Kero's folder fails, then recovers, while the host app keeps answering 200:
a read-only remount, a full disk, and a disk with room for the spool but not for the database.
The disk is a tmpfs each test mounts (as root, chmod would not stop any write).

Promise: what the buffer (``max_buffer``) can hold is kept and stored once the disk is back,
without anyone calling ``flush()``; what it cannot hold is dropped, counted in ``kero.dropped``
and logged once; nothing is moved aside as corrupt."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from werkzeug.test import Client

from kero_core import Kero, KeroConfigError
from kero_core.store import StoreUnavailable
from kero_core.wsgi import KeroMiddleware
from tests.reliability.disks import SmallDisk
from tests.reliability.host import Host, ok_app
from tests.reliability.load import basic, wait_until

HELD_SECONDS = 0.6  # the writer tries every 0.1 s: several failed attempts


def stored_count(db_path: Path) -> int:
    """Page views a separate process-like reader finds (it never sees the writer's memory)."""
    try:
        with Kero(db_path=db_path) as reader:
            return reader.count()
    except (StoreUnavailable, TimeoutError, KeroConfigError):  # a read-only folder refuses even a reader
        return -1


def kero_lines(caplog: pytest.LogCaptureFixture, words: str) -> int:
    return sum(1 for r in caplog.records if r.name == "kero" and words in r.getMessage())


def report(case: str, host: Host, stored: int, dropped: int) -> None:
    print(f"\n[{case}] sent={host.sent} stored={stored} dropped(counted)={dropped} "
          f"lost uncounted={host.sent - stored - dropped} app errors={host.errors}")


def test_read_only_folder_holds_events_then_stores_them_by_itself(small_disk: SmallDisk, caplog: pytest.LogCaptureFixture) -> None:
    db_path = small_disk.path / "kero"
    with Kero(db_path=db_path, flush_interval=0.1) as kero, caplog.at_level(logging.WARNING, logger="kero"):
        host = Host(KeroMiddleware(ok_app, kero))
        host.get(50, "/before")
        assert kero.flush(10)
        small_disk.remount("ro")
        host.get(200, "/during")
        assert not wait_until(lambda: stored_count(db_path) > 50, timeout=HELD_SECONDS)
        small_disk.remount("rw")
        recovered = wait_until(lambda: stored_count(db_path) == 250, timeout=20)
        report("read-only folder", host, stored_count(db_path), kero.dropped)
        assert host.statuses == [200] * 250
        assert recovered and kero.dropped == 0
        assert kero_lines(caplog, "cannot write to the spool") == 1
    assert not list(db_path.glob("*corrupt*")) and not list(db_path.glob("spool/*.bad"))


def test_full_disk_keeps_what_the_buffer_holds_and_counts_the_rest(small_disk: SmallDisk, caplog: pytest.LogCaptureFixture) -> None:
    db_path = small_disk.path / "kero"
    with Kero(db_path=db_path, flush_interval=0.1, max_buffer=100) as kero, caplog.at_level(logging.WARNING, logger="kero"):
        host = Host(KeroMiddleware(ok_app, kero))
        host.get(50, "/before")
        assert kero.flush(10)
        filler = small_disk.fill()
        host.get(400, "/during")
        assert not wait_until(lambda: stored_count(db_path) > 50, timeout=HELD_SECONDS)
        filler.unlink()
        dropped = kero.dropped
        recovered = wait_until(lambda: stored_count(db_path) == 450 - dropped, timeout=20)
        stored = stored_count(db_path)
        report("full disk, max_buffer=100", host, stored, dropped)
        assert host.statuses == [200] * 450
        assert recovered and 0 < dropped < 400 and kero.dropped == dropped
        assert kero_lines(caplog, "cannot write to the spool") == 1
        assert kero_lines(caplog, "dropped") == 1


def test_room_for_the_spool_but_not_the_database(small_disk: SmallDisk, caplog: pytest.LogCaptureFixture) -> None:
    """The batch's spool file fits, DuckDB's log of it does not: the file waits in the spool
    (not quarantined as unreadable), reads answer StoreUnavailable (the dashboard 503), and the
    next session after the space is back stores it."""
    db_path = small_disk.path / "kero"
    # The writer never wakes by itself here: flush() spools this one batch, as a wake-up would.
    with Kero(db_path=db_path, flush_interval=3600) as kero, caplog.at_level(logging.WARNING, logger="kero"):
        app = KeroMiddleware(ok_app, kero, users={"admin": "pw"})
        host = Host(app)
        host.get(50, "/before")
        assert kero.flush(10)
        filler = small_disk.fill(leave=160_000)  # ~60 KB of Parquet fits, ~280 KB of DuckDB log does not
        host.get(2000, "/during")
        assert kero.flush(timeout=2) is False
        assert len(kero.store.pending()) == 1
        with pytest.raises(StoreUnavailable, match="cannot store events now"):
            kero.count()
        dashboard = Client(app).get("/_kero/", headers={"Authorization": basic("admin", "pw")})
        filler.unlink()
        stored = stored_count(db_path)
        report("room for the spool only", host, stored, kero.dropped)
        print(f"  dashboard meanwhile: HTTP {dashboard.status_code}")
        assert host.statuses == [200] * 2050
        assert dashboard.status_code == 503
        assert stored == 2050 and kero.dropped == 0
    assert not list(db_path.glob("spool/*.bad")) and not list(db_path.glob("*corrupt*"))


def test_an_io_error_while_storing_quarantines_no_good_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An injected I/O error inside the transaction (the kind a failing disk gives while the
    transaction is still open): the readable spool files stay for the next session, none is
    renamed ``.bad``; a truly unreadable file beside them still is."""
    import duckdb

    with Kero(db_path=tmp_path, flush_interval=3600) as kero:
        Host(KeroMiddleware(ok_app, kero)).get(20)
        (kero.store.spool_dir / "00000000000000000001-1-0.parquet").write_bytes(b"not parquet")
        real_insert = kero.store._insert

        def failing_insert(con: duckdb.DuckDBPyConnection, files: list[Path]) -> None:
            con.execute("BEGIN")
            raise duckdb.IOException("IO Error: Could not write file: Input/output error")

        monkeypatch.setattr(kero.store, "_insert", failing_insert)
        assert kero.flush(timeout=2) is False
        assert [p.name for p in kero.store.spool_dir.glob("*.bad")] == ["00000000000000000001-1-0.parquet.bad"]
        assert len(kero.store.pending()) == 1  # the good batch, kept
        monkeypatch.setattr(kero.store, "_insert", real_insert)
        assert kero.count() == 20


def test_closing_while_the_disk_refuses_counts_and_logs_what_is_lost(small_disk: SmallDisk, caplog: pytest.LogCaptureFixture) -> None:
    kero = Kero(db_path=small_disk.path / "kero", flush_interval=3600)
    host = Host(KeroMiddleware(ok_app, kero))
    small_disk.remount("ro")
    host.get(30)
    with caplog.at_level(logging.WARNING, logger="kero"):
        kero.close()  # as at exit: memory is about to go
    small_disk.remount("rw")
    print(f"\n[closed on a read-only disk] sent={host.sent} dropped(counted)={kero.dropped} app errors={host.errors}")
    assert host.statuses == [200] * 30 and kero.dropped == 30
    assert kero_lines(caplog, "30 events could not be written before closing") == 1
