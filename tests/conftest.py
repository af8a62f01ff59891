"""Fixtures shared by every test package: an injectable clock, Kero instances on temporary
folders (closed by the fixture), WSGI environs, and the real GeoLite2 database."""

from __future__ import annotations

import itertools
import shutil
import signal
import socket
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import pytest

from kero_core import Kero
from tests.turns import (pytest_configure_node, pytest_runtest_call, pytest_runtest_protocol,  # noqa: F401 (hooks)
                         pytest_unconfigure)

if TYPE_CHECKING:
    from tests.lake.postgres import PostgresServer

CHROME_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
IPHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


class FakeClock:
    """A settable clock (unix seconds) to inject as ``Kero(clock=...)``."""

    def __init__(self, start: datetime) -> None:
        self.now = start.timestamp()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def set(self, moment: datetime) -> None:
        self.now = moment.timestamp()


@pytest.fixture(autouse=True)
def no_release_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CI that sets GIT_COMMIT must not make every Kero of the tests annotate a release."""
    from kero_core.config import RELEASE_VARIABLES

    for name in RELEASE_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 10, 12, 0, tzinfo=timezone.utc))


@pytest.fixture
def make_kero(tmp_path: Path) -> Iterator[Callable[..., Kero]]:
    """Build Kero instances on a temporary db_path; every one is closed after the test."""
    made: list[Kero] = []

    def make(**options: Any) -> Kero:
        options.setdefault("db_path", tmp_path / "kero")
        kero = Kero(**options)
        made.append(kero)
        return kero

    yield make
    for kero in made:
        kero.close()


@pytest.fixture
def geoip_db() -> str:
    from _maxminddb_geolite2 import geolite2_database

    return geolite2_database()


def environ(path: str = "/", **overrides: Any) -> dict[str, Any]:
    """A WSGI environ of a browser request (headers as HTTP_* keys)."""
    base = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "example.com",
        "SERVER_PORT": "80",
        "HTTP_HOST": "example.com",
        "REMOTE_ADDR": "81.2.69.142",
        "HTTP_USER_AGENT": CHROME_UA,
        "HTTP_ACCEPT_LANGUAGE": "en-GB,en;q=0.9",
        "HTTP_ACCEPT_ENCODING": "gzip, br",
        "wsgi.url_scheme": "http",
    }
    base.update(overrides)
    return base


def default_signals() -> None:
    """``preexec_fn`` of a child that must meet SIGINT as it would in a terminal: a test run
    started in the background (``make test &``) hands SIGINT down ignored, and Python then
    installs no KeyboardInterrupt handler."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the lake: a real PostgreSQL for the session, a catalog database and a data folder per test ----------
_lake_names = itertools.count()


@pytest.fixture(scope="session")
def postgres() -> Iterator["PostgresServer"]:
    # Not under pytest's temporary folder: it is private to root (0700), and the server runs as
    # the unprivileged postgres user, who must reach its cluster folder.
    folder = Path(tempfile.mkdtemp(prefix="kero-postgres-"))
    folder.chmod(0o711)
    from tests.lake.postgres import PostgresServer

    server = PostgresServer(folder / "cluster").init()
    try:
        server.start()
        yield server
    finally:
        server.stop("immediate")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def lake(postgres: "PostgresServer") -> str:
    """A new, empty catalog database: its lake option."""
    return postgres.create_database(f"lake{next(_lake_names)}")


@pytest.fixture
def lake_data(tmp_path: Path) -> str:
    """The shared folder of the lake's Parquet files."""
    folder = tmp_path / "lake-data"
    folder.mkdir()
    return str(folder)
