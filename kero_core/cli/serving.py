"""Commands that run a web server: ``serve`` (the dashboard alone) and ``demo`` (a demo site)."""

from __future__ import annotations

import contextlib
import ipaddress
import secrets
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable, Iterable

import click

from kero_core.cli import short_help
from kero_core.cli.common import (
    bundled_geolite2, db_option, open_kero, synthetic_geoip_option, unwinding_on_sigterm,
)
from kero_core.cli.data import seed_database
from kero_core.demo_site import PIXEL_PATH, demo_site
from kero_core.http import credentials_problem, listen_problem, url_host
from kero_core.wsgi import KeroMiddleware, WSGIApp


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _front_door(dashboard_path: str) -> WSGIApp:
    """The app behind the dashboard of ``kero serve``: / leads to the dashboard, the rest is 404."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if (environ.get("PATH_INFO") or "/") == "/":
            start_response("302 Found", [("Location", dashboard_path + "/"), ("Content-Length", "0")])
            return []
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"Not found. The dashboard is at " + dashboard_path.encode() + b"/"]

    return app


def _check_port_free(host: str, port: int) -> None:
    """Fail before seeding for minutes rather than after, when the port is taken."""
    problem = listen_problem(host, port)
    if problem:
        raise click.ClickException(f"{problem}; pass another --port")


def _werkzeug(app: WSGIApp, host: str, port: int) -> None:
    from werkzeug.serving import WSGIRequestHandler, run_simple

    class QuietHandler(WSGIRequestHandler):
        def log_request(self, *args: Any, **kwargs: Any) -> None:
            """No access log: it would print every visitor's IP address."""

    run_simple(host.strip("[]"), port, app, threaded=True, request_handler=QuietHandler)


def _gunicorn(app: WSGIApp, host: str, port: int, workers: int) -> None:
    from gunicorn.app.base import BaseApplication

    class Server(BaseApplication):  # type: ignore[misc]  # gunicorn has no type hints
        def load_config(self) -> None:
            # No access log: it would record every visitor's IP address.
            # Workers live 120 s per request, not 30: a first render of a big lake (a Today of 10M
            # events on a loaded machine) took longer, and gunicorn killed it mid-way (HTTP 500).
            settings = {"bind": [f"{url_host(host)}:{port}"], "workers": workers, "accesslog": None,
                        "errorlog": "-", "loglevel": "warning", "proc_name": "kero", "timeout": 120}
            for name, value in settings.items():
                self.cfg.set(name, value)

        def load(self) -> WSGIApp:
            return app

    Server().run()


def run_server(app: WSGIApp, host: str, port: int, workers: int) -> None:
    """Serve ``app`` with gunicorn when it is installed, else with werkzeug's development server."""
    try:
        import gunicorn.app.base  # noqa: F401
    except ImportError:
        click.echo("Warning: gunicorn is not installed, so this uses werkzeug's development server; "
                   "for production, pip install gunicorn.", err=True)
        _werkzeug(app, host, port)
    else:
        _gunicorn(app, host, port, workers)


@click.command("serve", short_help=short_help("serve"))
@db_option(existing=True)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; any but a loopback address needs --password.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="Port to listen on.")
@click.option("--user", default="admin", show_default=True, envvar="KERO_USER", help="Dashboard user name (or KERO_USER).")
@click.option("--password", default=None, envvar="KERO_PASSWORD",
              help="Dashboard password (or KERO_PASSWORD); on a loopback address, generated and printed when omitted.")
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True, help="gunicorn worker processes.")
@click.option("--title", default=None, help="Dashboard title.")
def serve(db_path: Path, host: str, port: int, user: str, password: str | None, workers: int, title: str | None) -> None:
    """Serve the dashboard of a database, read-only, without the app: on an admin box, or over a
    copy of production data. Uses gunicorn when installed, else werkzeug's server."""
    shown = password is None
    if password is None:
        if not is_loopback(host):
            raise click.UsageError(f"refusing to serve the dashboard on {host} without credentials: "
                                   "pass --user and --password (or set KERO_PASSWORD)")
        password = secrets.token_urlsafe(12)
    problem = credentials_problem(user, password)
    if problem:
        raise click.UsageError(f"refusing to serve the dashboard: {problem} (--user, --password or KERO_PASSWORD)")
    _check_port_free(host, port)
    kero = open_kero(db_path, reading=True, **({"title": title} if title else {}))
    kero.ignored_prefixes.append("/")  # read-only: no request to this server is recorded
    app = KeroMiddleware(_front_door(kero.config.dashboard_path), kero, users={user: password}, claim=False)
    credentials = f"user {user!r}, password {password!r}" if shown else f"user {user!r}"
    click.echo(f"Dashboard: http://{url_host(host)}:{port}{kero.config.dashboard_path}/  ({credentials})")
    run_server(app, host, port, workers)


@click.command("demo", short_help=short_help("demo"))
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="Port on 127.0.0.1.")
@click.option("--db", "db_path", type=click.Path(file_okay=False, path_type=Path), default=None, metavar="PATH",
              help="Keep the demo's data in this folder (seeded only while empty); default: a temporary folder "
                   "deleted on exit.")
@click.option("--events", type=click.IntRange(min=0), default=100_000, show_default=True,
              help="Synthetic events to seed.")
@click.option("--days", type=click.IntRange(min=1), default=30, show_default=True, help="Days of history to seed.")
@synthetic_geoip_option()
def demo(port: int, db_path: Path | None, events: int, days: int, geoip: Path | None) -> None:
    """Seed a realistic synthetic history and serve a small demo site with Kero and its dashboard
    on 127.0.0.1, printing the URLs and the dashboard's generated password."""
    host = "127.0.0.1"
    _check_port_free(host, port)
    with contextlib.ExitStack() as stack:
        folder = db_path or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kero-demo-")))
        kero = stack.enter_context(open_kero(
            folder, pixel_path=PIXEL_PATH, ignore_web_assets=True, title="Kero demo", geoip_db=geoip or bundled_geolite2(),
        ))
        existing = kero.count(name=None)
        if existing:
            click.echo(f"{folder} already holds {existing:,} events: not seeding.")
        elif events:
            stored, seconds = seed_database(kero, events, days, seed=1)
            click.echo(f"Seeded {stored:,} events over {days} days in {seconds:.1f} s.")
            # Two annotations, so the chart shows what they look like.
            kero.annotate("Newsletter sent", at=kero.now() - timedelta(days=min(days, 10) * 0.8))
            kero.annotate("v1.4 deployed", at=kero.now() - timedelta(days=min(days, 10) * 0.3))
        password = secrets.token_urlsafe(12)
        app = KeroMiddleware(demo_site(kero), kero, users={"admin": password}, claim=False)
        click.echo(f"Site:      http://{host}:{port}/")
        click.echo(f"Dashboard: http://{host}:{port}{kero.config.dashboard_path}/  (user 'admin', password {password!r})")
        stack.enter_context(unwinding_on_sigterm(0))  # the temporary database is deleted
        _werkzeug(app, host, port)
