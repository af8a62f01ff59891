"""Serve the example site with the dashboard, after seeding a demo week on an empty database.

    python example_sites/flask_site/run.py [--host 127.0.0.1] [--port 8000] [--db-path DIR] [--no-seed]

The dashboard credentials come from KERO_ADMIN_USER / KERO_ADMIN_PASSWORD, else they are made up
for this run and printed. The seed is synthetic but realistic traffic (browsers, countries
through the real GeoLite2 database of ``maxminddb-geolite2``, referrers, campaigns, bots)."""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from typing import Any

from app import HERE, PLANS, create_app, kero
from kero_core.http import listen_problem
from kero_core.synthetic import SiteProfile, generate

try:
    from _maxminddb_geolite2 import geolite2_database
except ImportError:
    sys.exit('The example site locates visitors with maxminddb-geolite2: pip install "kero-analytics[dev]" (or run make demo).')

SEED_EVENTS = 20_000
# A small site: its own pages first ("/", "/pricing", "/blog", "/about"...), then blog posts,
# docs and product pages; a few dozen referrers and countries.
SEED_SITE = SiteProfile(paths=60, referrer_domains=80, countries=40)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Serve the Kero Flask example site.")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000)")
    parser.add_argument("--db-path", default=str(HERE / "kero_data"), help="Kero's data folder (default: %(default)s)")
    parser.add_argument("--no-seed", action="store_true", help="do not add a synthetic week to an empty database")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    problem = listen_problem(args.host, args.port)
    if problem:  # before minutes of seeding, and before printing credentials that would not work
        sys.exit(f"{problem}; choose another port: make demo PORT={args.port + 1} (or --port {args.port + 1})")
    user = os.environ.get("KERO_ADMIN_USER") or "admin"
    password = os.environ.get("KERO_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
    app = create_app({
        "KERO_DB_PATH": args.db_path,
        "KERO_GEOIP_DB": geolite2_database(),
        "KERO_ADMIN_USER": user,
        "KERO_ADMIN_PASSWORD": password,
        "KERO_RELEASE": os.environ.get("KERO_RELEASE") or "v1.4-demo",  # noted on the chart at start
    })
    with app.app_context():
        if not args.no_seed and kero.count(name=None) == 0:
            seed()
            walk_the_funnel(app)
        dashboard = kero.config.dashboard_path
    base = f"http://{args.host}:{args.port}"
    print(f"Site:      {base}/", flush=True)
    print(f"Dashboard: {base}{dashboard}/  (user {user!r}, password {password!r})", flush=True)
    app.run(args.host, args.port, threaded=True, load_dotenv=False)


def seed() -> None:
    """Store a week of synthetic traffic ending now, through the same enrichment as live hits."""
    print(f"Empty database: adding a week of synthetic traffic ({SEED_EVENTS:,} events)...", file=sys.stderr, flush=True)
    started = time.monotonic()
    stored = kero.ingest(generate(SEED_EVENTS, days=7, seed=int(time.time()), site=SEED_SITE))
    print(f"Stored {stored:,} events in {time.monotonic() - started:.1f} s.", file=sys.stderr, flush=True)
    kero.annotate("Newsletter sent", at=time.time() - 4 * 86400)  # how an annotation shows on the chart


def walk_the_funnel(app: Any, visitors: int = 40) -> None:
    """Visitors going through the real site's sign-up path (home, pricing, the form's event,
    thanks), fewer at each step, so the "Sign-up" funnel has something to show: synthetic
    traffic sends its sign-ups from any page."""
    client = app.test_client()
    agent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
    for v in range(visitors):
        client.environ_base.update({"REMOTE_ADDR": f"81.2.69.{v + 10}", "HTTP_USER_AGENT": agent})
        client.get("/", buffered=True)  # buffered: the response is closed, which ends its timing
        if v % 2 == 0:
            client.get("/pricing", buffered=True)
        if v % 4 == 0:
            client.post("/pricing", data={"plan": PLANS[v % 3]}, buffered=True)
            client.get(f"/thanks?plan={PLANS[v % 3]}", buffered=True)
    kero.flush()


if __name__ == "__main__":
    main()
