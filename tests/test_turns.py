"""tests/turns.py under a real two-worker run: the ``alone`` test's call overlaps no other test,
while the other tests do run side by side."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOOKS = ("from tests.turns import (pytest_configure_node, pytest_runtest_call, pytest_runtest_protocol,  # noqa: F401\n"
         "                         pytest_unconfigure)\n")
SPAN = """
    import time
    from pathlib import Path

    import pytest


    def span(name: str) -> None:
        started = time.monotonic()
        time.sleep(0.2)
        with open(Path(__file__).with_name("spans.log"), "a") as log:
            log.write(f"{name} {started} {time.monotonic()}\\n")
"""


def test_an_alone_test_runs_while_no_other_test_runs(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(HOOKS)
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    alone: measured\n")
    # One file to each worker: the alone test comes third on one, while the other runs ten.
    (tmp_path / "test_first.py").write_text(textwrap.dedent(SPAN) + textwrap.dedent("""
        @pytest.mark.parametrize("i", range(2))
        def test_before(i: int) -> None:
            span(f"before{i}")


        @pytest.mark.alone
        def test_alone() -> None:
            span("alone")


        @pytest.mark.parametrize("i", range(4))
        def test_after(i: int) -> None:
            span(f"after{i}")
    """))
    (tmp_path / "test_second.py").write_text(textwrap.dedent(SPAN) + textwrap.dedent("""
        @pytest.mark.parametrize("i", range(10))
        def test_beside(i: int) -> None:
            span(f"beside{i}")
    """))
    env = {name: value for name, value in os.environ.items() if name != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadfile", "-p", "no:cacheprovider", "-q"],
                            cwd=tmp_path, env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    spans = {name: (float(start), float(end))
             for name, start, end in (line.split() for line in (tmp_path / "spans.log").read_text().splitlines())}
    assert len(spans) == 17
    alone = spans.pop("alone")
    assert [name for name, (start, end) in spans.items() if start < alone[1] and end > alone[0]] == []
    first = [span for name, span in spans.items() if not name.startswith("beside")]
    second = [span for name, span in spans.items() if name.startswith("beside")]
    assert any(a[0] < b[1] and a[1] > b[0] for a in first for b in second), "the workers never ran side by side"
