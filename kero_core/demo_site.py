"""The small site ``kero demo`` serves with Kero mounted: a few pages, a sign-up form that records
a custom event, and the tracking pixel on every page."""

from __future__ import annotations

import html
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs

from kero_core.kero import Kero

PIXEL_PATH = "/visit.gif"
PAGES = {
    "/": ("Home", "Welcome to the Kero demo. Browse around, then open the dashboard: your visits show up there."),
    "/pricing": ("Pricing", "Free for hobby sites, Pro for teams."),
    "/about": ("About", "A tiny WSGI site with Kero mounted."),
    "/blog/": ("Blog", "Posts: <a href='/blog/hello-world'>Hello, world</a> · <a href='/blog/privacy'>Privacy first</a>"),
    "/blog/hello-world": ("Hello, world", "Our first post."),
    "/blog/privacy": ("Privacy first", "No cookies, no IP addresses stored, visitor ids that change every day."),
}
_LAYOUT = """<!doctype html><html><head><meta charset="utf-8"><title>{title} · Kero demo</title></head>
<body><nav><a href="/">Home</a> · <a href="/pricing">Pricing</a> · <a href="/blog/">Blog</a> ·
<a href="/about">About</a> · <a href="/signup">Sign up</a> · <a href="{dashboard}/">Dashboard</a></nav>
<h1>{title}</h1><p>{body}</p><img src="{pixel}" alt="" width="1" height="1"></body></html>"""
_SIGNUP = """<form method="post" action="/signup"><label>Plan <select name="plan"><option>free</option>
<option>pro</option><option>team</option></select></label> <button>Sign up</button></form>"""

StartResponse = Callable[..., Any]


def demo_site(kero: Kero) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """The WSGI app of the demo site; ``kero`` records its sign-ups."""

    def page(start_response: StartResponse, status: str, title: str, body: str) -> list[bytes]:
        text = _LAYOUT.format(title=html.escape(title), body=body, dashboard=kero.config.dashboard_path, pixel=PIXEL_PATH)
        start_response(status, [("Content-Type", "text/html; charset=utf-8")])
        return [text.encode()]

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        if path == "/signup" and environ.get("REQUEST_METHOD") == "POST":
            size = int(environ.get("CONTENT_LENGTH") or 0)
            form = parse_qs(environ["wsgi.input"].read(min(size, 4096)).decode("latin-1"))
            plan = (form.get("plan") or ["free"])[0][:20]
            kero.track("signup", {"plan": plan}, request=environ)
            return page(start_response, "200 OK", "Thank you", f"Signed up for the {html.escape(plan)} plan.")
        if path == "/signup":
            return page(start_response, "200 OK", "Sign up", _SIGNUP)
        if path in PAGES:
            title, body = PAGES[path]
            return page(start_response, "200 OK", title, body)
        return page(start_response, "404 Not Found", "Not found", "There is no such page.")

    return app
