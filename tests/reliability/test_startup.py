"""Start-up over a damaged data folder (what an OOM kill or a full disk leaves), under a real
`gunicorn -w 2`: the app starts and answers 200, a corrupt file is moved aside with one loud
log line, no worker crash-loops, and every request sent afterwards is stored.

Also `--preload` with Kero used in the master before the fork (3 workers, 1,000 requests each
on average): exactly what was sent is stored. uWSGI is not installed here; its fork without
``lazy-apps`` is the same fork as gunicorn's ``--preload``."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from kero_core import Kero
from kero_core.store import DB_FILE
from tests.conftest import environ
from tests.reliability.load import Load
from tests.reliability.servers import gunicorn
from tests.reliability.sites import BOOT_EVENT

SEEDED = 30  # page views stored before the damage
SITE = "tests.reliability.sites:example()"


def seed(db_path: Path) -> Path:
    with Kero(db_path=db_path) as kero:
        for i in range(SEEDED):
            kero.record_request(environ(f"/seeded/{i}"), status=200)
    return db_path / DB_FILE


def killed_mid_transaction(db_file: Path) -> Path:
    """Leave a real WAL: a process that copied the events once more and died without closing
    (DuckDB writes the WAL at commit and folds it into the file at close)."""
    code = """
        import duckdb, os, sys
        con = duckdb.connect(sys.argv[1])
        con.execute("INSERT INTO events SELECT * FROM events")
        os._exit(0)
    """
    subprocess.run([sys.executable, "-c", textwrap.dedent(code), str(db_file)], check=True, timeout=60)
    wal = db_file.with_name(DB_FILE + ".wal")
    assert wal.stat().st_size > 0
    return wal


def truncated_wal(db_file: Path) -> None:
    wal = killed_mid_transaction(db_file)
    wal.write_bytes(wal.read_bytes()[: wal.stat().st_size // 2])


def corrupt_wal(db_file: Path) -> None:
    wal = killed_mid_transaction(db_file)
    data = bytearray(wal.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(b ^ 0xFF for b in data[middle : middle + 64])
    wal.write_bytes(bytes(data))


def truncated_database(db_file: Path) -> None:
    db_file.write_bytes(db_file.read_bytes()[: db_file.stat().st_size // 3])


def garbage_database(db_file: Path) -> None:
    db_file.write_bytes(b"\x00garbage" * 4096)


# damage -> (page views kept from before, the file moved aside or None)
DAMAGES: dict[str, tuple[Callable[[Path], None], int, str | None]] = {
    "truncated-wal": (truncated_wal, SEEDED, None),  # DuckDB drops the incomplete transaction itself
    "corrupt-wal": (corrupt_wal, SEEDED, DB_FILE + ".wal.corrupt-"),
    "truncated-db": (truncated_database, 0, DB_FILE + ".corrupt-"),
    "garbage-db": (garbage_database, 0, DB_FILE + ".corrupt-"),
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_the_app_starts_over_a_damaged_data_folder(tmp_path: Path, damage: str) -> None:
    damaged, kept, aside = DAMAGES[damage]
    db_path = tmp_path / "kero"
    damaged(seed(db_path))
    with gunicorn(SITE, tmp_path, workers=2) as server:
        with Load(server.url, clients=4, seconds=60) as load:
            tally = load.until(100)
    log = server.log()
    with Kero(db_path=db_path) as reader:
        stored = reader.count()
    moved = sorted(p.name for p in db_path.iterdir() if ".corrupt-" in p.name)
    kero_errors = [line for line in log.splitlines() if "kero:" in line]
    print(f"\n[{damage}] sent={tally.sent} stored={stored - kept} (+{kept} kept from before) app errors="
          f"{dict(tally.failures)} moved aside={moved} log={kero_errors}")
    assert tally.failures == {} and stored == kept + tally.sent
    assert log.count("Booting worker") == 2, "no worker may die and be replaced"
    if aside is None:
        assert moved == [] and kero_errors == []
    else:
        assert len(moved) == 1 and moved[0].startswith(aside)
        assert len(kero_errors) == 1 and "moved" in kero_errors[0]


def test_preload_with_kero_used_in_the_master_stores_exactly_what_was_sent(tmp_path: Path) -> None:
    with gunicorn("tests.reliability.sites:preloaded()", tmp_path, "--preload", workers=3) as server:
        with Load(server.url, clients=6, seconds=120) as load:
            tally = load.until(3000)
    with Kero(db_path=tmp_path / "kero") as reader:
        stored, boots = reader.count(), reader.count(name=BOOT_EVENT)
    per_worker = sorted(tally.by_worker().values())
    print(f"\n[--preload, 3 workers] sent={tally.sent} stored={stored} lost={tally.sent - stored} "
          f"per worker={per_worker} boot events={boots} app errors={dict(tally.failures)}")
    assert tally.failures == {} and len(per_worker) == 3
    assert stored == tally.sent and boots == 1
