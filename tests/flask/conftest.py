"""Fixtures of the Flask tests: the hello site through the test client, and the same scenario
served by a real ``gunicorn -w 4`` (see ``scenario.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from kero_core import Event
from kero_core import Kero as CoreKero
from tests.flask import hello_site, scenario
from tests.flask.scenario import Reply
from tests.flask.servers import gunicorn_args, serving

HERE = Path(__file__).resolve().parent


@dataclass
class Served:
    """What a scenario run left: the replies it got and every event stored."""

    replies: dict[str, Reply]
    events: list[Event]
    server_log: str = ""  # what a real server printed

    def page_views(self) -> list[Event]:
        return [e for e in self.events if e.name == "http_req"]

    def by_path(self, path: str) -> Event:
        [event] = [e for e in self.page_views() if e.path == path]
        return event


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """Build hello-site apps on temporary db_paths; their cores are closed after the test."""
    made: list[Flask] = []

    def make(**config: Any) -> Flask:
        config.setdefault("KERO_DB_PATH", str(tmp_path / f"kero{len(made)}"))
        app = hello_site.create_app(config)
        made.append(app)
        return app

    yield make
    for app in made:
        with app.app_context():
            hello_site.kero.close()


def client_get(client: FlaskClient, remote_addr: str = "81.2.69.142") -> scenario.Get:
    """A ``get(path, **headers)`` through the test client; ``buffered`` closes each response,
    which is when a request is recorded (its duration runs until then)."""

    def get(path: str, **headers: str) -> Reply:
        response = client.get(path, headers=scenario.default_headers(headers), buffered=True,
                              environ_base={"REMOTE_ADDR": remote_addr})
        return Reply(response.status_code, dict(response.headers), response.data)

    return get


def _served_by_test_client(tmp: Path) -> Served:
    app = hello_site.create_app({"KERO_DB_PATH": str(tmp)})
    replies = scenario.run(client_get(app.test_client()), parallel=1)
    with app.app_context():
        events = hello_site.kero.query(name=None, limit=100_000)
        hello_site.kero.close()
    return Served(replies, events)


def _served_by_gunicorn(tmp: Path) -> Served:
    args, port = gunicorn_args("hello_site:create_app()", HERE)
    with requests.Session() as session:
        with serving(args, tmp / "gunicorn.log", port=port, env={"FLASK_KERO_DB_PATH": str(tmp / "kero")}) as server:

            def get(path: str, **headers: str) -> Reply:
                response = session.get(server.url + path, headers=scenario.default_headers(headers),
                                       allow_redirects=False, timeout=30)
                return Reply(response.status_code, response.headers, response.content)

            replies = scenario.run(get, parallel=8)
    # gunicorn has stopped (SIGTERM): every worker wrote what it held on its way out.
    log = server.log()
    with CoreKero(db_path=tmp / "kero") as reader:
        events = reader.query(name=None, limit=100_000)
    return Served(replies, events, log)


@pytest.fixture(scope="module", params=["test_client", "gunicorn"])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Served:
    tmp = tmp_path_factory.mktemp(request.param)
    if request.param == "test_client":
        return _served_by_test_client(tmp)
    return _served_by_gunicorn(tmp)
