"""Fixtures of the fault tests: a small disk of their own (a tmpfs the test mounts, fills, and
remounts read-only), a plain WSGI host app, and a client that counts what that app answered."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import pytest
from werkzeug.test import Client

from kero_core.wsgi import KeroMiddleware
from tests.conftest import CHROME_UA


@dataclass
class SmallDisk:
    """A tmpfs of ``size`` mounted at ``path`` for one test."""

    path: Path

    def remount(self, mode: str) -> None:
        """Remount ``ro`` or ``rw``. The kernel refuses ``ro`` while a file is open for writing
        (a spool file being written, the lock file of a session): retry for a while."""
        deadline = time.monotonic() + 10
        while True:
            result = subprocess.run(["mount", "-o", f"remount,{mode}", str(self.path)], capture_output=True, text=True)
            if result.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"cannot remount {self.path} {mode}: {result.stderr}")
            time.sleep(0.01)

    def fill(self, leave: int = 0) -> Path:
        """Fill the disk with a file, up to its last byte but ``leave``; delete it to free the space."""
        filler = self.path / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while True:
                os.write(fd, b"\0" * 65536)
        except OSError:  # ENOSPC: full
            pass
        try:
            while True:  # the last partial block
                os.write(fd, b"\0")
        except OSError:
            pass
        if leave:
            os.ftruncate(fd, max(0, os.fstat(fd).st_size - leave))
        os.close(fd)
        return filler


def _mount_tmpfs(path: Path, size: str) -> str:
    path.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
                            capture_output=True, text=True)
    return "" if result.returncode == 0 else (result.stderr.strip() or f"exit code {result.returncode}")


@pytest.fixture
def small_disk(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[SmallDisk]:
    """A 2 MB tmpfs (another size through indirect parametrization: ``"8m"``), unmounted after."""
    size = getattr(request, "param", "2m")
    path = tmp_path / "disk"
    refused = _mount_tmpfs(path, size)
    if refused:
        pytest.skip(f"this test mounts a {size} tmpfs to fill it, and mount is not permitted here: {refused}")
    try:
        yield SmallDisk(path)
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def ok_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The host app: answers 200 to everything."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


@dataclass
class Host:
    """``ok_app`` behind KeroMiddleware, called through werkzeug's WSGI client."""

    app: KeroMiddleware
    statuses: list[int] = field(default_factory=list)

    def get(self, count: int, prefix: str = "/page", **headers: str) -> None:
        client = Client(self.app)
        for i in range(count):
            response = client.get(f"{prefix}/{i}", headers={"User-Agent": CHROME_UA, **headers},
                                  environ_base={"REMOTE_ADDR": "81.2.69.142"}, buffered=True)
            self.statuses.append(response.status_code)

    @property
    def sent(self) -> int:
        """Requests the app answered with 200."""
        return self.statuses.count(200)

    @property
    def errors(self) -> int:
        return len(self.statuses) - self.sent
