"""Fixtures of the fault tests: a small disk of their own (see ``disks``)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.reliability.disks import SmallDisk, mounted_tmpfs


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    """An 8 MB tmpfs (a fresh database takes about 2 MB: DuckDB allocates by blocks of 256 KB), unmounted after the test."""
    with mounted_tmpfs(tmp_path / "disk", "8m") as disk:
        yield disk
