"""Another program holds the DuckDB file open (someone left the duckdb shell open on it): the
host app answers 200 throughout, events wait in the spool, the dashboard answers 503, and
ingestion catches up by itself once the file is free.

Default run: held for 5 s. `make test-slow`: 30 s."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest
from werkzeug.test import Client

from kero_core import Kero
from kero_core.pipeline import INGEST_EVERY
from kero_core.wsgi import KeroMiddleware
from tests.reliability.host import Host, ok_app
from tests.reliability.load import basic, wait_until

# What the duckdb shell does to the file: open it read-write, and keep it open.
HOLD = "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); print('held', flush=True); time.sleep(float(sys.argv[2]))"


def stored_count(db_path: Path) -> int:
    with Kero(db_path=db_path) as reader:
        return reader.count()


def held_database(tmp_path: Path, caplog: pytest.LogCaptureFixture, seconds: float) -> None:
    db_path = tmp_path / "kero"
    with Kero(db_path=db_path, flush_interval=0.2) as kero, caplog.at_level(logging.WARNING, logger="kero"):
        app = KeroMiddleware(ok_app, kero, users={"admin": "pw"})
        host = Host(app)
        host.get(20, "/before")
        assert kero.flush(10)
        holder = subprocess.Popen([sys.executable, "-c", HOLD, str(kero.store.db_file), str(seconds)],
                                  stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
            held_until = time.monotonic() + seconds
            dashboard = []
            while time.monotonic() < held_until - 0.5:  # traffic all along, the dashboard now and then
                host.get(50, "/while-held")
                dashboard.append(Client(app).get("/_kero/", headers={"Authorization": basic("admin", "pw")}).status_code)
            waiting = len(kero.store.pending())
            holder.wait(seconds + 30)
        finally:
            holder.kill()
            holder.wait()
            holder.stdout.close()
        released = time.monotonic()
        caught_up = wait_until(lambda: not kero.store.pending(), timeout=20)
        took = time.monotonic() - released
        stored = stored_count(db_path)
        print(f"\n[database held {seconds:.0f} s] sent={host.sent} stored={stored} lost={host.sent - stored} "
              f"app errors={host.errors} spool files waiting at release={waiting} caught up {took:.1f} s after "
              f"release | dashboard while held: {dict((s, dashboard.count(s)) for s in set(dashboard))}")
        assert host.statuses == [200] * host.sent
        assert caught_up and stored == host.sent and kero.dropped == 0
        assert waiting > 0 and set(dashboard) == {503}
        ingest_lines = [r for r in caplog.records if "could not ingest" in r.getMessage()]
        # The writer tries to ingest every INGEST_EVERY seconds: a short hold may see no attempt
        # at all (the dashboard's 503s above are then the sign); a long one logs exactly once.
        assert len(ingest_lines) == (1 if seconds > 2 * INGEST_EVERY else len(ingest_lines[:1]))
        assert all("held open by another program" in line.getMessage() for line in ingest_lines)


def test_database_held_by_another_program_for_5_s(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    held_database(tmp_path, caplog, seconds=5)


@pytest.mark.slow
def test_database_held_by_another_program_for_30_s(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    held_database(tmp_path, caplog, seconds=30)
