"""The app the lake's real-process tests serve under gunicorn: the WSGI example's site behind
Kero, with the lake options from the environment (as a container would get them), and the
``X-Worker`` header of the reliability sites (which worker answered what).

    KERO_DB_PATH=... KERO_LAKE='postgres:dbname=...' KERO_LAKE_DATA_PATH=/shared/lake \\
        gunicorn -w 2 'tests.lake.sites:lake_site()'       (from the repository root)
"""

from __future__ import annotations

import os

from kero_core import Kero
from kero_core.wsgi import KeroMiddleware
from tests.reliability.servers import PASSWORD, USER
from tests.reliability.sites import WorkerHeader, _example_module


def lake_site() -> WorkerHeader:
    """The example site recording into ``KERO_LAKE`` (spool in ``KERO_DB_PATH``)."""
    env = os.environ
    kero = Kero(
        db_path=env["KERO_DB_PATH"],
        lake=env["KERO_LAKE"],
        lake_data_path=env.get("KERO_LAKE_DATA_PATH") or None,
        flush_interval=float(env.get("KERO_FLUSH_INTERVAL", "1")),
        pixel_path="/visit.gif",
        measure_requests=True,
        ignore_web_assets=True,
    )
    return WorkerHeader(KeroMiddleware(_example_module().site, kero, users={USER: PASSWORD}))
