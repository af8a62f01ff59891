"""Faults while the app runs, with the host app answering 200 throughout: the GeoIP file is
deleted, overwritten, truncated and replaced; the clock jumps back an hour (across midnight,
and in the middle of a request)."""

from __future__ import annotations

import logging
import os
import shutil
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

import pytest
from werkzeug.test import Client

from kero_core import Kero, enrich
from kero_core.wsgi import KeroMiddleware
from tests.conftest import CHROME_UA, FakeClock
from tests.reliability.host import Host, ok_app

LONDON = "81.2.69.142"  # GB in GeoLite2


def countries(kero: Kero, prefix: str) -> Counter[str]:
    return Counter(e.country for e in kero.query(limit=10_000) if e.path.startswith(prefix))


def test_geoip_file_deleted_overwritten_and_replaced_while_running(
    tmp_path: Path, geoip_db: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Kero looks at the file at most every 10 s; every lookup here, so the test needs no waiting.
    monkeypatch.setattr(enrich, "_CHECK_SECONDS", 0.0)
    geo_file = tmp_path / "GeoLite2-City.mmdb"
    shutil.copy(geoip_db, geo_file)
    real = Path(geoip_db).read_bytes()

    def replace_atomically() -> None:  # what geoipupdate does
        shutil.copy(geoip_db, tmp_path / "new.mmdb")
        os.replace(tmp_path / "new.mmdb", geo_file)

    changes: list[tuple[str, Callable[[], Any]]] = [
        ("/1-present", lambda: None),
        ("/2-deleted", geo_file.unlink),
        ("/3-replaced", replace_atomically),
        ("/4-overwritten-in-place-with-garbage", lambda: geo_file.write_bytes(b"garbage" * 1000)),
        ("/5-truncated", lambda: geo_file.write_bytes(real[: len(real) // 2])),
        ("/6-replaced-again", replace_atomically),
    ]
    # writer_process=False: _CHECK_SECONDS is patched in this process, so the batches are built here.
    with Kero(db_path=tmp_path / "kero", geoip_db=geo_file, flush_interval=0.05, writer_process=False) as kero, \
            caplog.at_level(logging.DEBUG, logger="kero"):
        host = Host(KeroMiddleware(ok_app, kero))
        found = {}
        for prefix, change in changes:
            change()
            host.get(20, prefix)
            assert kero.flush(10)
            found[prefix] = countries(kero, prefix)
    print("\n[GeoIP file changes] " + "; ".join(f"{p}: {dict(c)}" for p, c in found.items()))
    print(f"  sent={host.sent} stored={sum(sum(c.values()) for c in found.values())} app errors={host.errors} "
          f"kero log={[r.getMessage()[:90] for r in caplog.records]}")
    assert host.statuses == [200] * 120
    assert found == {
        "/1-present": {"GB": 20}, "/2-deleted": {"": 20}, "/3-replaced": {"GB": 20},
        "/4-overwritten-in-place-with-garbage": {"": 20}, "/5-truncated": {"": 20}, "/6-replaced-again": {"GB": 20},
    }
    assert all(r.exc_info is None for r in caplog.records), "degrades, never an exception"
    assert len(caplog.records) == 3  # one warning per unusable state


def test_clock_jumping_back_an_hour(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """From 00:30 back to 23:30 of the day before: between requests, and in the middle of one."""
    clock = FakeClock(datetime(2026, 11, 10, 0, 30, tzinfo=timezone.utc))

    def app_moving_the_clock(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ["PATH_INFO"] == "/jump":
            clock.advance(-3600)  # e.g. an NTP correction while the request runs
        return ok_app(environ, start_response)

    with Kero(db_path=tmp_path / "kero", clock=clock, measure_requests=True, flush_interval=0.05) as kero, \
            caplog.at_level(logging.WARNING, logger="kero"):
        host = Host(KeroMiddleware(app_moving_the_clock, kero))
        host.get(20, "/before")
        assert kero.flush(10)
        Client(host.app).get("/jump", headers={"User-Agent": CHROME_UA}, buffered=True)
        host.get(20, "/after")
        clock.advance(3600 + 60)
        host.get(20, "/later")
        assert kero.flush(10)
        events = kero.query(limit=1000)
    by_path = Counter(e.path.split("/")[1] for e in events)
    durations = [e.duration_ms for e in events]
    print(f"\n[clock back 1 h] sent={host.sent + 1} stored={len(events)} by part={dict(by_path)} "
          f"min duration={min(durations):.3f} ms app errors={host.errors} kero warnings={len(caplog.records)}")
    assert host.statuses == [200] * 60 and len(events) == 61
    assert all(d is not None and d >= 0 for d in durations)
    jumped = next(e for e in events if e.path == "/jump")
    assert jumped.ts == datetime(2026, 11, 9, 23, 30, tzinfo=timezone.utc)
    assert {e.ts.date() for e in events if e.path.startswith("/after")} == {datetime(2026, 11, 9).date()}
    assert all(e.visitor_id for e in events) and caplog.records == []
    assert sorted(os.listdir(tmp_path / "kero" / "salts")) == ["2026-11-09", "2026-11-10"]
    assert timedelta(0) <= events[0].ts - jumped.ts < timedelta(hours=1, minutes=2)
