"""The data folder is private (issue 14, findings 3 and 4): folders 0700 and files 0600 whatever
the umask; a folder another local user owns or can write to is refused at start-up, as ssh
refuses such key files, and `kero doctor` says the same; a spool file another user owns is never
ingested. The other user is real: the set-up runs as ``nobody`` in a forked child (needs root)."""

from __future__ import annotations

import datetime
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kero_core import Kero, KeroConfigError
from kero_core.enrich import SaltStore
from kero_core.lake.store import LOCAL_SALTS, host_id
from tests.conftest import environ

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="acting as another user (nobody) needs root")
KNOWN_SALT = b"k" * 32  # what the other user plants: with it, they could recompute visitor ids


def as_nobody(action: Callable[[], None]) -> None:
    """Run ``action`` in a forked child as the user ``nobody`` (its umask 022, as a login's)."""
    nobody = pwd.getpwnam("nobody")
    pid = os.fork()
    if pid == 0:  # the child: only system calls, then _exit
        code = 1
        try:
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            os.umask(0o022)
            action()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the set-up as nobody failed"


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A folder like /tmp (1777): every local user can create entries in it."""
    folder = Path(tempfile.mkdtemp(prefix="kero-shared-"))
    folder.chmod(0o1777)
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


def plant_salt(db_path: Path) -> None:
    (db_path / "salts").mkdir(parents=True)
    (db_path / "salts" / datetime.datetime.now(datetime.timezone.utc).date().isoformat()).write_bytes(KNOWN_SALT)


def doctor(db_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kero_core", "doctor", "--db", str(db_path)],
                          capture_output=True, text=True, timeout=120)


@needs_root
def test_a_folder_precreated_by_another_user_is_refused(shared_tmp: Path) -> None:
    """Finding 3: another user pre-created <db_path>/salts/<today> with bytes they knew; Kero
    used that salt. Now it refuses the folder, naming it and the fix, and so does doctor."""
    db_path = shared_tmp / "kero"
    as_nobody(lambda: plant_salt(db_path))
    with pytest.raises(KeroConfigError, match=r"db_path '.*/kero' is owned by another user.*chown"):
        Kero(db_path=db_path)
    result = doctor(db_path)
    print(result.stdout)
    assert result.returncode == 1 and "is owned by another user" in result.stdout


@needs_root
def test_a_salts_folder_of_another_user_inside_ours_is_refused(shared_tmp: Path) -> None:
    db_path = shared_tmp / "kero"
    db_path.mkdir(mode=0o777)
    db_path.chmod(0o777)  # as under umask 000, or a careless chmod: nobody can write into it
    as_nobody(lambda: plant_salt(db_path))
    db_path.chmod(0o700)  # the owner tightens the folder, but the planted salts/ stays
    with pytest.raises(KeroConfigError, match=r"db_path's salts/ '.*/salts' is owned by another user"):
        Kero(db_path=db_path)


@pytest.mark.parametrize("sub", ["", "spool", "salts", "lake-salts"])
def test_a_folder_writable_by_others_is_refused(tmp_path: Path, sub: str) -> None:
    db_path = tmp_path / "kero"
    (db_path / sub).mkdir(parents=True, exist_ok=True)
    (db_path / sub).chmod(0o777)
    with pytest.raises(KeroConfigError, match=r"is writable by group or others \(mode 777\).*chmod 700"):
        Kero(db_path=db_path)
    assert "is writable by group or others" in doctor(db_path).stdout


def test_files_and_folders_are_private_under_umask_000(tmp_path: Path) -> None:
    """Finding 4: under umask 000 spool/ was 0777 and kero.duckdb 0666 (0644 under 022)."""
    old = os.umask(0)
    try:
        with Kero(db_path=tmp_path / "kero", flush_interval=0.05) as kero:
            kero.record_request(environ("/"), status=200)
            assert kero.pipeline.write()
            assert list(kero.store.pending())  # a spool file exists, written under umask 000
            spool_modes = {oct(p.stat().st_mode & 0o777) for p in kero.store.spool_dir.iterdir()}
            assert kero.count() == 1
    finally:
        os.umask(old)
    modes = {str(p.relative_to(tmp_path)): p.stat().st_mode & 0o777 for p in (tmp_path / "kero").rglob("*")}
    modes["kero"] = (tmp_path / "kero").stat().st_mode & 0o777
    print(modes, spool_modes)
    assert spool_modes == {"0o600"}
    assert {"kero", "kero/kero.duckdb", "kero/spool", "kero/salts", "kero/ingest.lock"} <= set(modes)
    assert {name: mode for name, mode in modes.items() if mode & 0o077} == {}


def test_a_lake_hosts_files_are_private_under_umask_000(tmp_path: Path) -> None:
    """A lake host keeps its id and its copies of the lake's salts in db_path: both private."""
    old = os.umask(0)
    try:
        host_id(tmp_path)
        SaltStore(tmp_path / LOCAL_SALTS).keep(datetime.date.today(), KNOWN_SALT)
    finally:
        os.umask(old)
    modes = {str(p.relative_to(tmp_path)): p.stat().st_mode & 0o777 for p in tmp_path.rglob("*")}
    assert modes == {"host-id": 0o600, "lake-salts": 0o700, f"lake-salts/{datetime.date.today()}": 0o600}


def test_an_existing_readable_folder_and_database_are_made_private(tmp_path: Path) -> None:
    db_path = tmp_path / "kero"
    with Kero(db_path=db_path) as kero:
        kero.track("x")
        kero.flush()
    db_path.chmod(0o755)
    (db_path / "kero.duckdb").chmod(0o644)  # as Kero before this check left them
    Kero(db_path=db_path).close()
    assert (db_path.stat().st_mode & 0o777, (db_path / "kero.duckdb").stat().st_mode & 0o777) == (0o700, 0o600)


@needs_root
def test_a_spool_file_of_another_user_is_not_ingested(make_kero: Callable[..., Kero], tmp_path: Path) -> None:
    """Finding 4: a Parquet file another user dropped into spool/ was ingested as 10,000 page views."""
    kero = make_kero()
    kero.track("mine")
    assert kero.flush()
    forged = kero.store.spool_dir / "00000000000000000001-1-0.parquet"
    real = pq.read_table(_one_spool_file(kero, tmp_path)).to_pylist()[0]
    pq.write_table(pa.Table.from_pylist([{**real, "name": "http_req", "path": "/forged"}] * 10_000), forged)
    nobody = pwd.getpwnam("nobody")
    os.chown(forged, nobody.pw_uid, nobody.pw_gid)
    assert kero.count() == 0
    assert kero.count(name="mine") == 1
    assert [p.name for p in kero.store.spool_dir.iterdir()] == [forged.name + ".foreign"]
    assert "written by another user" in doctor(tmp_path / "kero").stdout


def _one_spool_file(kero: Kero, folder: Path) -> Path:
    """A spool file of ``kero``'s own, as the writer makes them (its columns and types)."""
    kero.track("template")
    kero.pipeline.write()
    [path] = kero.store.pending()
    copy = folder / "template.parquet"
    shutil.copy(path, copy)
    kero.flush()
    return copy
