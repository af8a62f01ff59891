"""A small Flask site with Kero mounted through an application factory: a home page, a blog
with one page per post, pricing with a sign-up form (a custom Kero event), a JSON API, and a
static page counted through the tracking pixel.

    gunicorn -w 4 'app:create_app()'          (from this folder)
    python example_sites/flask_site/run.py    (from the repository root: seeds a demo week, serves)

Settings come from ``app.config``: the defaults below, then any ``FLASK_*`` environment variable
(``FLASK_KERO_DB_PATH=/var/lib/site/kero``), then ``test_config``. The dashboard credentials
default to the ``KERO_ADMIN_USER`` / ``KERO_ADMIN_PASSWORD`` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, NamedTuple

from flask import Blueprint, Flask, abort, jsonify, redirect, render_template, request, url_for
from werkzeug.middleware.shared_data import SharedDataMiddleware
from werkzeug.wrappers import Response

from kero_flask import Kero

HERE = Path(__file__).resolve().parent
kero = Kero()
site = Blueprint("site", __name__)


class Post(NamedTuple):
    slug: str
    title: str
    date: str
    body: str


POSTS = (
    Post("hello-kero", "Hello, Kero", "2026-11-02", "Server-side analytics without cookies, stored in a DuckDB file next to the app."),
    Post("privacy-by-design", "Privacy by design", "2026-11-09", "No IP address and no User-Agent string is ever stored; visitor ids rotate every day."),
    Post("many-workers", "One database, many workers", "2026-11-16", "Each gunicorn worker spools small files; one process at a time stores them."),
)
PLANS = ("hobby", "pro", "team")


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the site; ``test_config`` overrides any setting (tests, the runner)."""
    app = Flask(__name__)
    app.config.from_mapping(
        KERO_DB_PATH=str(HERE / "kero_data"),
        KERO_PIXEL_PATH="/visit.gif",
        KERO_MEASURE_REQUESTS=True,
        KERO_IGNORE_WEB_ASSETS=True,
        KERO_TITLE="Flask site stats",
        # Conversions: the sign-up event, its thank-you page, and reading the blog.
        KERO_GOALS=["signup", "/thanks", "/blog/*"],
        KERO_FUNNELS={"Sign-up": ["/", "/pricing", "signup", "/thanks"]},
    )
    app.config.from_prefixed_env()
    if test_config:
        app.config.update(test_config)
    app.register_blueprint(site)
    kero.init_app(app)
    # public/ is served in front of the app, as nginx or a CDN would in production: its pages never
    # reach Flask, so Kero counts them through the pixel they embed (once, not twice).
    app.wsgi_app = SharedDataMiddleware(app.wsgi_app, {"/": str(HERE / "public")})  # type: ignore[method-assign]
    return app


@site.get("/")
def index() -> str:
    return render_template("index.html", posts=POSTS[:2])


@site.get("/about")
def about() -> str:
    return render_template("about.html")


@site.get("/blog")
def blog() -> str:
    return render_template("blog.html", posts=POSTS)


@site.get("/blog/<slug>")
def post(slug: str) -> str:
    found = next((p for p in POSTS if p.slug == slug), None)
    if found is None:
        abort(404)
    return render_template("post.html", post=found)


@site.route("/pricing", methods=["GET", "POST"])
def pricing() -> str | Response:
    if request.method == "POST":
        plan = request.form.get("plan", "")
        if plan not in PLANS:
            abort(400)
        kero.track("signup", {"plan": plan})  # enriched from this request: browser, country...
        return redirect(url_for("site.thanks", plan=plan), 303)
    return render_template("pricing.html", plans=PLANS)


@site.get("/thanks")
def thanks() -> str:
    return render_template("thanks.html", plan=request.args.get("plan", ""))


@site.get("/api/posts")
def api_posts() -> Response:
    return jsonify([p._asdict() for p in POSTS])
