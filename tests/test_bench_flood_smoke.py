"""The flood benchmark keeps working: its smoke size seeds its three tiny folders, renders every
view of each in process and loads each dashboard ten times at once over HTTP (figures are not
checked: not a timed test; every load must answer 200)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_flood_benchmark_smoke() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "flood.py"), "smoke"],
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert sum(line.startswith(("default (24h)", "30d", "show=pages")) for line in lines) == 3, done.stdout
    loads = [line for line in lines if line.startswith(("normal ", "busy ", "flooded "))]
    assert len(loads) == 3 and all(f"statuses {[200] * 10}" in line for line in loads), done.stdout
