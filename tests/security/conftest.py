"""Shared by the security tests: the three ways Kero is served (the core's WSGI middleware, the
Flask extension, the Django app), each under a real gunicorn on 127.0.0.1 with the same
dashboard credentials, and raw HTTP requests (paths sent byte for byte, no client-side
normalisation of ``..`` or ``//``)."""

from __future__ import annotations

import http.client
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

import pytest

from tests.reliability.servers import Server, gunicorn

FLASK_SITE = Path(__file__).resolve().parents[2] / "example_sites" / "flask_site"
# name -> (app, gunicorn options, environment)
SITES: dict[str, tuple[str, tuple[str, ...], dict[str, str]]] = {
    "wsgi": ("tests.reliability.sites:example()", (), {}),
    "flask": ("app:create_app()", ("--chdir", str(FLASK_SITE)), {}),
    "django": ("tests.django.project.wsgi:application", (), {"DJANGO_SETTINGS_MODULE": "tests.security.django_settings"}),
}


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


def raw_request(base_url: str, method: str, path: str, headers: dict[str, str | bytes] | None = None) -> Reply:
    """``method path`` exactly as given (header values may be raw bytes)."""
    netloc = urlsplit(base_url).netloc
    connection = http.client.HTTPConnection(netloc, timeout=30)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        connection.close()


@pytest.fixture(scope="package")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Server]]:
    """The three sites, one worker each, started once for the security tests."""
    from contextlib import ExitStack

    with ExitStack() as stack:
        running = {}
        for name, (app, options, env) in SITES.items():
            tmp = tmp_path_factory.mktemp(name)
            env = {**env, "FLASK_KERO_DB_PATH": str(tmp / "kero"), "KERO_TEST_DB_PATH": str(tmp / "kero")}
            running[name] = stack.enter_context(gunicorn(app, tmp, *options, workers=1, db_path=tmp / "kero", env=env))
        yield running
