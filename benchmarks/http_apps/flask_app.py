"""The Flask hello-world the HTTP benchmark serves under gunicorn, in one of three variants.

Environment: ``BENCH_VARIANT`` is ``bare`` (Flask alone), ``kero`` (kero_flask, GeoIP on, as
documented) or ``peer`` (Flask-MonitoringDashboard, its default monitoring level); ``BENCH_DATA``
is the folder where Kero or the peer keep their database."""

from __future__ import annotations

import os

from flask import Flask

VARIANT = os.environ.get("BENCH_VARIANT", "bare")
DATA = os.environ.get("BENCH_DATA", ".")

app = Flask(__name__)


@app.get("/hello")
def hello() -> str:
    return "Hello, world!"


if VARIANT == "kero":
    from _maxminddb_geolite2 import geolite2_database

    from kero_flask import Kero

    app.config.update(KERO_DB_PATH=os.path.join(DATA, "kero"), KERO_GEOIP_DB=geolite2_database(),
                      KERO_MEASURE_REQUESTS=True)
    kero = Kero(app)

    @app.get("/buffered")
    def buffered() -> dict[str, int]:
        """What the memory benchmark samples: events held in this worker's memory, and dropped."""
        return {"buffered": kero.core.pipeline.buffered, "dropped": kero.core.pipeline.dropped}
elif VARIANT == "peer":
    import flask_monitoringdashboard as dashboard

    # Read when its database module is imported, which bind() does: set before it.
    dashboard.config.database_name = "sqlite:///" + os.path.join(DATA, "flask_monitoringdashboard.db")
    dashboard.bind(app)
elif VARIANT != "bare":
    raise SystemExit(f"BENCH_VARIANT must be bare, kero or peer, not {VARIANT!r}")
