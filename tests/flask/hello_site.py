"""The Flask app of the tracking tests: the pages of Kero's own TrackingTest, a route that
sleeps, one that fails, a streamed one, a custom event and a user-ignored prefix.

Run by the test client in-process, and by real servers (gunicorn, the dev server's reloader)
as ``hello_site:create_app()``; servers configure it with ``FLASK_KERO_*`` variables."""

from __future__ import annotations

import os
import time
from typing import Any, Iterator, Mapping

from flask import Blueprint, Flask, Response, stream_with_context

from kero_flask import Kero

kero = Kero()
pages = Blueprint("pages", __name__)
SLOW_SECONDS = 0.123
STREAM_PAUSE = 0.05


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(
        KERO_PIXEL_PATH="/visit.gif",
        KERO_MEASURE_REQUESTS=True,
        KERO_IGNORE_WEB_ASSETS=True,
        KERO_ADMIN_USER="admin",
        KERO_ADMIN_PASSWORD="secret",
        KERO_FLUSH_INTERVAL=0.2,
    )
    app.config.from_prefixed_env()
    app.config.update(test_config or {})
    app.register_blueprint(pages)
    kero.init_app(app)
    with app.app_context():
        kero.ignored_prefixes.append("/private")
    return app


@pages.get("/")
def index() -> str:
    return "home"


@pages.get("/hello/<name>")
def hello(name: str) -> str:
    return f"hello {name}"


@pages.get("/slow")
def slow() -> str:
    time.sleep(SLOW_SECONDS)
    return "slow"


@pages.get("/boom")
def boom() -> str:
    raise RuntimeError("the host app failed")


@pages.get("/stream")
def stream() -> Response:
    def chunks() -> Iterator[str]:
        yield "a"
        time.sleep(STREAM_PAUSE)
        yield "b"

    return Response(stream_with_context(chunks()), mimetype="text/plain")


@pages.get("/private/<page>")
def private(page: str) -> str:
    return page


@pages.get("/signup")
def signup() -> str:
    kero.track("signup", {"plan": "pro"})
    return "welcome"


@pages.get("/pid")
def pid() -> str:
    return str(os.getpid())
