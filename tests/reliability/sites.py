"""The apps the reliability tests serve under real gunicorn: the WSGI example site, unchanged,
behind one outer middleware that names the worker in an ``X-Worker`` response header (so a test
knows which worker answered what: the bound of a SIGKILL's loss is per worker).

    gunicorn -w 4 'tests.reliability.sites:example()'            (from the repository root)
    gunicorn -w 3 --preload 'tests.reliability.sites:preloaded()'
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterable

from kero_core.wsgi import KeroMiddleware

EXAMPLE = Path(__file__).resolve().parents[2] / "example_sites" / "wsgi_site" / "app.py"
BOOT_EVENT = "server_boot"


def _example_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kero_wsgi_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class WorkerHeader:
    """Adds ``X-Worker: <pid>`` to every response; the app inside is left untouched."""

    def __init__(self, app: KeroMiddleware) -> None:
        self.app = app
        self.kero = app.kero

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        def with_pid(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            return start_response(status, [*headers, ("X-Worker", str(os.getpid()))], exc_info)

        return self.app(environ, with_pid)


def example() -> WorkerHeader:
    """The WSGI example as ``make demo`` runs it (db_path and credentials from the environment)."""
    return WorkerHeader(_example_module().create_app())


def preloaded() -> WorkerHeader:
    """The example, with Kero used in the master before gunicorn forks (``--preload``): it
    records a boot event and stores it, so the master has run the writer and opened DuckDB."""
    app = example()
    app.kero.track(BOOT_EVENT)
    if not app.kero.flush(timeout=30):
        raise RuntimeError("the boot event could not be stored")
    return app
