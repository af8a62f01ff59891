"""Fixtures of the ``kero`` command tests: click's runner, the installed console script as a real
subprocess, the hand-written log samples, and reading back what a database holds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from kero_core.cli import cli
from kero_core.cli.common import open_kero
from kero_core.schema import Event

SAMPLES = Path(__file__).parent / "samples"
KERO = Path(sys.executable).parent / "kero"  # the console script of the editable install
CHROME_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)


def invoke(*args: Any, input: bytes | str | None = None) -> Result:
    """Run ``kero ARGS`` in-process with click's runner; exceptions other than exits propagate."""
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)


def run(*args: Any, input: bytes | None = None, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    """Run the installed ``kero`` console script as a real process."""
    return subprocess.run([str(KERO), *map(str, args)], input=input, capture_output=True, timeout=timeout, check=False)


def stored(db: Path, name: str | None = None) -> list[Event]:
    """Every event in ``db`` (page views only with ``name="http_req"``), oldest first. Read
    without pruning: imported history is older than any default retention."""
    with open_kero(db) as kero:
        return sorted(kero.query(name, limit=10_000_000), key=lambda e: (e.ts, e.path))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "kero"
