"""Kero's DuckDB calls stop looking for pandas when it is not installed.

DuckDB's Python client checks every bound parameter against pandas' NaT and NA, and where
pandas is not installed it tries to import it again for each check: two failed imports per
parameter, each a walk of ``sys.path`` (about 80 µs here). A Today view binds some 140
parameters, an ingest into a live day a few hundred, so this was 20-40 ms of Python per render
and per ingest, holding the GIL the host app's requests wait for (measured by
``benchmarks/duckdb_params.py``).

:func:`install` puts a finder first on ``sys.meta_path`` that answers "no pandas" at once, and
only to imports made while a ``kero_core`` function is on top of the Python stack (DuckDB's C++
imports from inside ``execute``, so that function is Kero's caller). Nothing else changes for the
host app: its own ``import pandas`` takes the usual path, ``sys.modules`` is untouched, and where
pandas is installed nothing is installed (DuckDB imports it once and keeps it)."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
from types import FrameType, ModuleType
from typing import Sequence

PACKAGE = "kero_core"
_lock = threading.Lock()


class NoPandasForKero(importlib.abc.MetaPathFinder):
    """Fails ``import pandas`` at once when Kero's code is the importer (see the module docstring)."""

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname == "pandas" and _importer_is_kero(sys._getframe(1)):
            raise ModuleNotFoundError("No module named 'pandas'", name=fullname)
        return None


def _importer_is_kero(frame: FrameType | None) -> bool:
    """Whether the first frame below the import machinery's runs Kero's code (not this module's:
    :func:`install` asks whether pandas is installed, in any copy of kero_core)."""
    while frame is not None and frame.f_code.co_filename.startswith("<frozen importlib"):
        frame = frame.f_back
    name = "" if frame is None else frame.f_globals.get("__name__", "")
    return name.partition(".")[0] == PACKAGE and name != __name__


def install() -> bool:
    """Install the finder once, unless pandas is installed; returns whether it is installed."""
    with _lock:
        # Another copy of kero_core's finder (a benchmark comparing two versions in one process)
        # does the same job, and would answer this module's find_spec below with an error.
        if any(type(finder).__name__ == NoPandasForKero.__name__ for finder in sys.meta_path):
            return True
        if "pandas" in sys.modules or importlib.util.find_spec("pandas") is not None:
            return False
        sys.meta_path.insert(0, NoPandasForKero())
        return True
