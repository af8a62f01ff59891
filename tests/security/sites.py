"""Apps the security tests serve under real gunicorn: the WSGI example's pages with a Kero that
has the real GeoLite2 database (the example has none), so a test sees what country a request
counted in.

    gunicorn 'tests.security.sites:with_geo()'     (KERO_DB_PATH and KERO_ADMIN_* from the environment)
"""

from __future__ import annotations

import os

from kero_core import Kero
from kero_core.wsgi import KeroMiddleware
from tests.reliability.sites import _example_module


def with_geo() -> KeroMiddleware:
    """The example site, tracked with locations, under the default options otherwise."""
    from _maxminddb_geolite2 import geolite2_database

    kero = Kero(db_path=os.environ["KERO_DB_PATH"], pixel_path="/visit.gif", geoip_db=geolite2_database())
    users = {os.environ["KERO_ADMIN_USER"]: os.environ["KERO_ADMIN_PASSWORD"]}
    return KeroMiddleware(_example_module().site, kero, users=users)
