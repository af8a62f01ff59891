"""The dashboard-at-scale benchmark keeps working: its smoke size seeds a tiny database in two
chunks, rolls it up and renders every view it times (figures are not checked: not a timed test)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_dashboard_scale_smoke() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "dashboard_scale.py"), "smoke"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    row = next(line.split() for line in done.stdout.splitlines() if line.strip().startswith("6,000"))
    assert row.count("ms") == 5, done.stdout  # the five views (goal filter and funnel too), each rendered
