"""No empty passwords (issue 14, finding 6): ``kero serve --password ''`` served the dashboard to
``curl -u admin:``, ``KeroMiddleware(users={"admin": ""})`` too, Flask refused it and Django
ignored it. Now every entry point refuses an empty or blank password, and a user name Basic auth
cannot send, at start-up with one sentence naming the setting."""

from __future__ import annotations

import base64
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pytest
from flask import Flask

from kero_core import Kero, KeroConfigError
from kero_core import asgi as kero_asgi
from kero_core import wsgi as kero_wsgi
from kero_flask import Kero as FlaskKero
from tests.reliability.host import ok_app
from tests.reliability.servers import USER, gunicorn
from tests.security.conftest import SITES, raw_request

BAD_USERS = [
    ({"admin": ""}, "the password of 'admin' is empty"),
    ({"admin": "   "}, "the password of 'admin' is empty"),
    ({"admin": "secret", "root": ""}, "the password of 'root' is empty"),
    ({"": "secret"}, "the user name '' must be a non-empty string without ':'"),
    ({"a:b": "secret"}, "the user name 'a:b' must be a non-empty string without ':'"),
    ({"admin": None}, "the password of 'admin' must be a string, not NoneType"),
]


async def _asgi_app(scope: Any, receive: Any, send: Any) -> None:
    """Never called: the middleware refuses its users before any request."""


@pytest.mark.parametrize("middleware", [kero_wsgi.KeroMiddleware, kero_asgi.KeroMiddleware], ids=["wsgi", "asgi"])
@pytest.mark.parametrize(("users", "message"), BAD_USERS)
def test_the_middlewares_refuse_an_empty_password(make_kero: Callable[..., Kero], middleware: Any,
                                                  users: dict[str, Any], message: str) -> None:
    app = ok_app if middleware is kero_wsgi.KeroMiddleware else _asgi_app
    with pytest.raises(KeroConfigError, match=f"^users: {message}"):
        middleware(app, make_kero(), users=users)


def test_the_middlewares_refuse_users_that_are_not_a_mapping(make_kero: Callable[..., Kero]) -> None:
    with pytest.raises(KeroConfigError, match="^users must map user names to passwords, got list"):
        kero_wsgi.KeroMiddleware(ok_app, make_kero(), users=[("admin", "secret")])  # type: ignore[arg-type]


@pytest.mark.parametrize("host", ["0.0.0.0", "127.0.0.1"])
def test_kero_serve_refuses_an_empty_password(make_kero: Callable[..., Kero], tmp_path: Path, host: str) -> None:
    """As a user runs it: the real command, which exits at once instead of serving."""
    kero = make_kero()
    kero.track("x")
    kero.flush()
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "kero_core", "serve", "--db", str(tmp_path / "kero"),
                             "--host", host, "--port", "1", "--password", ""], capture_output=True, text=True, timeout=60)
    print(result.stderr)
    assert result.returncode == 2 and time.monotonic() - started < 30
    assert "refusing to serve the dashboard: the password of 'admin' is empty" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


@pytest.mark.parametrize("password", ["", " \t"])
def test_flask_refuses_an_empty_password_at_init_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, password: str) -> None:
    monkeypatch.delenv("KERO_ADMIN_USER", raising=False)
    monkeypatch.delenv("KERO_ADMIN_PASSWORD", raising=False)
    app = Flask(__name__)
    app.config.update(KERO_DB_PATH=str(tmp_path / "kero"), KERO_ADMIN_USER="admin", KERO_ADMIN_PASSWORD=password)
    with pytest.raises(KeroConfigError, match="KERO_ADMIN_PASSWORD"):
        FlaskKero(app)


def test_django_refuses_an_empty_password_over_http(tmp_path: Path) -> None:
    """Django under gunicorn (no system checks run): an empty ADMIN_PASSWORD used to be dropped
    silently. Now ``curl -u admin:`` and everyone else is refused and the log says why."""
    app, options, env = SITES["django"]
    with gunicorn(app, tmp_path, *options, workers=1, env={**env, "KERO_TEST_DB_PATH": str(tmp_path / "kero"),
                                                           "KERO_ADMIN_PASSWORD": ""}) as server:
        empty = "Basic " + base64.b64encode(f"{USER}:".encode()).decode()
        reply = raw_request(server.url, "GET", "/_kero/", {"Authorization": empty})
        raw_request(server.url, "GET", "/", {})  # the first tracked request builds the Kero
        time.sleep(0.5)
        log = server.log()
    print(reply.status, reply.body, log[-500:])
    assert reply.status == 403 and b"run `manage.py check`" in reply.body
    assert "KERO['ADMIN_USER'] and KERO['ADMIN_PASSWORD']: the password of 'admin' is empty" in log
