"""Small disks of the tests' own: a tmpfs mounted for one test, filled, remounted read-only.

As root, chmod stops no write, so a read-only or full folder has to be a real mount."""

from __future__ import annotations

import os
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest


@dataclass
class SmallDisk:
    """A tmpfs mounted at ``path`` for one test (see :func:`mounted_tmpfs`)."""

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


@contextmanager
def mounted_tmpfs(path: Path, size: str = "2m") -> Iterator[SmallDisk]:
    """A tmpfs of ``size`` at ``path`` (created) for the block; the test is skipped, with the
    reason, where mounting is not permitted."""
    path.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"this test mounts a {size} tmpfs, and mount is not permitted here: "
                    f"{result.stderr.strip() or result.returncode}")
    try:
        yield SmallDisk(path)
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)
