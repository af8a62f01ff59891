"""A tiny plain-WSGI site with Kero mounted: the smallest complete Kero setup.

Run it:  python example_sites/wsgi_site/app.py   (or `make demo` from the repository root)
Then browse http://127.0.0.1:8000/ and open the dashboard at http://127.0.0.1:8000/_kero/
"""

from __future__ import annotations

import html
import os
import secrets
import sys
from pathlib import Path
from typing import Any, Callable, Iterable

from kero_core import Kero
from kero_core.wsgi import KeroMiddleware

HERE = Path(__file__).resolve().parent
PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title></head>
<body><nav><a href="/">Home</a> · <a href="/hello/world">Hello</a> · <a href="/about">About</a></nav>
<h1>{title}</h1><p>{text}</p><img src="/visit.gif" alt="" width="1" height="1"></body></html>"""


def site(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The host app: three pages and a parameterised one; everything else is a 404."""
    path = environ.get("PATH_INFO") or "/"
    pages = {"/": ("Home", "Welcome to the Kero WSGI example."), "/about": ("About", "A tiny WSGI site.")}
    if path in pages:
        title, text = pages[path]
    elif path.startswith("/hello/") and len(path) > len("/hello/"):
        title, text = "Hello", f"Hello, {path[len('/hello/'):]}!"
    else:
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"Not found"]
    body = PAGE.format(title=html.escape(title), text=html.escape(text)).encode()
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
    return [body]


def create_app(db_path: str | os.PathLike[str] | None = None) -> KeroMiddleware:
    """The site wrapped by Kero; credentials come from KERO_ADMIN_USER / KERO_ADMIN_PASSWORD."""
    kero = Kero(
        db_path=db_path or os.environ.get("KERO_DB_PATH") or HERE / "kero_data",
        pixel_path="/visit.gif",
        measure_requests=True,
        ignore_web_assets=True,
        goals=["/about", "/hello/*"],
        funnels={"Say hello": ["/", "/hello/*", "/about"]},
    )
    users = {os.environ.get("KERO_ADMIN_USER", "admin"): os.environ["KERO_ADMIN_PASSWORD"]} if os.environ.get("KERO_ADMIN_PASSWORD") else {}
    return KeroMiddleware(site, kero, users=users)


def main() -> None:
    from werkzeug.serving import run_simple

    os.environ.setdefault("KERO_ADMIN_PASSWORD", secrets.token_urlsafe(9))
    app = create_app()
    host, port = "127.0.0.1", int(os.environ.get("PORT", "8000"))
    user, password = os.environ.get("KERO_ADMIN_USER", "admin"), os.environ["KERO_ADMIN_PASSWORD"]
    print(f"Site:      http://{host}:{port}/", file=sys.stderr)
    print(f"Dashboard: http://{host}:{port}{app.kero.config.dashboard_path}/  (user {user!r}, password {password!r})", file=sys.stderr)
    try:
        run_simple(host, port, app, threaded=True)
    finally:
        app.kero.close()


if __name__ == "__main__":
    main()
