"""`kero stats`, `doctor` and `export` read a database they cannot write to (a read-only copy,
as an unprivileged user given it would have), change nothing in it, and exit 0."""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

import duckdb
import pytest

from kero_core import Kero
from kero_core.store import DB_FILE, MIGRATIONS, SCHEMA_VERSION, StoreUnavailable
from tests.cli.conftest import KERO, invoke

EVENTS = 400


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


@pytest.fixture(scope="module")
def read_only_copy() -> Iterator[Path]:
    """A seeded database with one batch still in its spool, copied where any user can read it,
    every file and folder then made read-only."""
    top = Path(tempfile.mkdtemp(prefix="kero-ro-"))
    try:
        source = top / "source"
        assert invoke("seed", "--db", source, "--events", EVENTS, "--days", 3, "--end", "2026-11-01").exit_code == 0
        copy = top / "copy"
        with Kero(source, retention=400) as kero:
            kero.track("late")  # a batch left pending: the app would store it, a reader must not
            kero.pipeline.write()  # spooled, not ingested (the app ingests within 5 s, or at exit)
            shutil.copytree(source, copy)
        assert list((copy / "spool").glob("*.parquet"))
        for path in [copy, *copy.rglob("*")]:
            path.chmod(0o555 if path.is_dir() else 0o444)
        top.chmod(0o755)
        yield copy
    finally:
        for path in top.rglob("*"):
            path.chmod(0o755)
        shutil.rmtree(top)


def database_of_schema(folder: Path, version: int) -> None:
    """A Kero folder whose (empty) database an older Kero made, of schema ``version``."""
    with Kero(folder) as kero:
        kero.count()  # the folder as Kero makes it
    (folder / DB_FILE).unlink()
    with duckdb.connect(str(folder / DB_FILE)) as con:
        con.execute("CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
        for step in range(1, version + 1):
            MIGRATIONS[step](con)
        con.execute("INSERT INTO meta VALUES ('schema_version', ?)", [str(version)])


def _run_unprivileged(*args: str) -> subprocess.CompletedProcess[str]:
    """``kero ARGS`` as a user who cannot write the copy: ``nobody`` when the tests run as root
    (root writes anywhere), else the current user."""
    prefix = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"] if os.geteuid() == 0 else []
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "TMPDIR": "/tmp", "LC_ALL": "C.UTF-8"}
    return subprocess.run([*prefix, str(KERO), *args], capture_output=True, text=True, timeout=120, env=env)


def test_stats_doctor_and_export_read_a_read_only_copy(read_only_copy: Path) -> None:
    before = _snapshot(read_only_copy)
    stats = _run_unprivileged("stats", "--db", str(read_only_copy), "--timeframe", "all")
    assert stats.returncode == 0, stats.stderr
    assert "Page views" in stats.stdout and "Top pages" in stats.stdout
    doctor = _run_unprivileged("doctor", "--db", str(read_only_copy))
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "read-only: read as it is, without storing the spool's pending events" in doctor.stdout
    assert f"{EVENTS:,} events" in doctor.stdout  # the pending batch is not stored
    export = _run_unprivileged("export", "--db", str(read_only_copy), "--format", "csv")
    assert export.returncode == 0, export.stderr
    assert len(list(csv.DictReader(io.StringIO(export.stdout)))) == EVENTS
    assert _snapshot(read_only_copy) == before


def test_a_read_only_reader_of_an_older_schema_says_how_to_upgrade_it(tmp_path: Path) -> None:
    """A writable folder (e.g. one `kero lake push` reads read-only) is upgraded by opening it."""
    database_of_schema(tmp_path / "kero", 7)
    with Kero(tmp_path / "kero", read_only=True) as reader, pytest.raises(StoreUnavailable) as refused:
        reader.count()
    assert f"has schema 7 and this Kero reads schema {SCHEMA_VERSION}" in str(refused.value)
    assert f"`kero doctor --db {tmp_path / 'kero'}`" in str(refused.value)
    assert invoke("doctor", "--db", tmp_path / "kero").exit_code == 0  # as the message says
    with Kero(tmp_path / "kero", read_only=True) as reader:
        assert reader.count() == 0


def test_an_older_schema_in_a_folder_one_cannot_write_says_to_copy_it() -> None:
    top = Path(tempfile.mkdtemp(prefix="kero-ro-old-"))  # pytest's own folders are private to root
    old = top / "old"
    database_of_schema(old, 4)
    for path in [old, *old.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    top.chmod(0o755)
    try:
        stats = _run_unprivileged("stats", "--db", str(old))
    finally:
        for path in [old, *old.rglob("*")]:
            path.chmod(0o755)
        shutil.rmtree(top)
    assert stats.returncode != 0
    assert "copy the folder somewhere writable first" in stats.stderr, stats.stderr


def test_reading_a_missing_folder_read_only_is_a_config_error(tmp_path: Path) -> None:
    from kero_core import KeroConfigError

    with pytest.raises(KeroConfigError, match="does not exist"):
        Kero(tmp_path / "nothing", read_only=True)
