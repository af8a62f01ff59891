"""The lake benchmark keeps working: its ``--smoke`` size (a PostgreSQL of its own, three host
processes, both stores rendered). No figure is checked; what is checked is what the script
verifies itself (every event stored once in each store, the same count in both) and that it
printed its figures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.mark.slow
def test_lake_benchmark_smoke() -> None:
    done = subprocess.run([sys.executable, str(BENCHMARKS / "lake.py"), "--smoke"],
                          capture_output=True, text=True, timeout=300, check=False)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "ingest, 3 hosts into the lake:" in out and "(stored 9,000 of 9,000)" in out, out
    assert "bytes per event: embedded file" in out, out
    for view in ("30d", "30d, one country", "today"):
        assert f"{view:>18} " in out, out
