"""Fixtures of the fault tests: a small disk of their own (see ``disks``)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.reliability.disks import SmallDisk, mounted_tmpfs


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    """A 2 MB tmpfs, unmounted after the test."""
    with mounted_tmpfs(tmp_path / "disk", "2m") as disk:
        yield disk
