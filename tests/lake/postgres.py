"""A real PostgreSQL server for the lake tests: ``initdb`` in a temporary folder, run as an
unprivileged user (PostgreSQL refuses to run as root), on a free port of 127.0.0.1, stopped,
restarted and killed the way the fault tests need."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path

from tests.conftest import free_port


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError("PostgreSQL's server binaries are missing: run scripts/install-system-deps.sh")
    return Path(initdb).parent


class PostgresServer:
    """One PostgreSQL cluster in ``folder``; :meth:`dsn` names a database on it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.port = free_port()
        self.bin = _bin_dir()
        self._user = None if os.geteuid() != 0 else pwd.getpwnam("postgres" if _has_user("postgres") else "nobody")

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        def demote() -> None:
            if self._user is not None:
                os.setgid(self._user.pw_gid)
                os.setuid(self._user.pw_uid)

        return subprocess.run([str(self.bin / args[0]), *args[1:]], preexec_fn=demote, check=check,
                              capture_output=True, text=True, cwd=self.folder, timeout=120)

    def init(self) -> "PostgresServer":
        self.folder.mkdir(parents=True, exist_ok=True)
        if self._user is not None:
            os.chown(self.folder, self._user.pw_uid, self._user.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "kero", "--auth=trust", "-E", "UTF8", "--no-sync")
        return self

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.folder / "server.log"), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def restart(self) -> None:
        # With its log file: without -l the new server writes to pg_ctl's output, which this
        # process reads to the end, and so waits for the server to exit.
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-l", str(self.folder / "server.log"), "-w", "restart")

    def create_database(self, name: str) -> str:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "kero", name)
        return self.dsn(name)

    def dsn(self, dbname: str) -> str:
        return f"postgres:dbname={dbname} host=127.0.0.1 port={self.port} user=kero"

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._run("pg_isready", "-h", "127.0.0.1", "-p", str(self.port), check=False).returncode == 0:
                return
            time.sleep(0.2)
        raise TimeoutError("PostgreSQL did not come back")


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
