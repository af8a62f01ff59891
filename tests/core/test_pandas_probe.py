"""DuckDB's Python binding tries to import pandas for every bound parameter; where pandas is not
installed, Kero records it as missing once, so a render does not search sys.path hundreds of
times. Where it is installed, it stays importable."""

from __future__ import annotations

import importlib.abc
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

from kero_core import Kero
from tests.dashboard.conftest import call, view_hit


class AskedFor(importlib.abc.MetaPathFinder):
    """Records every module name the import system searches for (and finds nothing itself)."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def find_spec(self, name: str, path: Any, target: Any = None) -> None:
        self.names.append(name)
        return None


def test_a_render_does_not_search_for_pandas(make_kero: Callable[..., Kero]) -> None:
    assert sys.modules.get("pandas", "searched for") is None  # Kero's dependencies leave pandas out
    kero = make_kero()
    kero.ingest([view_hit(kero.clock() - 60 * n, f"/page/{n % 7}", ip=f"81.2.69.{n % 50}") for n in range(200)])
    call(kero, "/", "period=30d")  # warm: templates, modules
    finder = AskedFor()
    sys.meta_path.insert(0, finder)
    try:
        assert call(kero, "/", "period=30d").status == 200
    finally:
        sys.meta_path.remove(finder)
    assert "pandas" not in finder.names


def test_an_installed_pandas_stays_importable(tmp_path: Path) -> None:
    (tmp_path / "pandas").mkdir()
    (tmp_path / "pandas" / "__init__.py").write_text("NA = 'a stand-in for the real pandas'\n")
    done = subprocess.run([sys.executable, "-c", "import kero_core, pandas; print(pandas.NA)"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.stdout.strip() == "a stand-in for the real pandas", done.stderr
