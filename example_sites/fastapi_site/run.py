"""Serve the FastAPI example site with uvicorn, after seeding a demo week on an empty database.

    python example_sites/fastapi_site/run.py [--host 127.0.0.1] [--port 8000] [--db-path DIR] [--no-seed]

The dashboard credentials come from KERO_ADMIN_USER / KERO_ADMIN_PASSWORD, else they are made up
for this run and printed. The seed is synthetic traffic, as in the Flask example site."""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from pathlib import Path

from kero_core.http import listen_problem

HERE = Path(__file__).resolve().parent
SEED_EVENTS = 20_000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Serve the Kero FastAPI example site.")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000)")
    parser.add_argument("--db-path", default=str(HERE / "kero_data"), help="Kero's data folder (default: %(default)s)")
    parser.add_argument("--no-seed", action="store_true", help="do not add a synthetic week to an empty database")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    problem = listen_problem(args.host, args.port)
    if problem:  # before minutes of seeding, and before printing credentials that would not work
        sys.exit(f"{problem}; choose another port: make demo-fastapi PORT={args.port + 1} (or --port {args.port + 1})")
    try:
        import uvicorn
    except ImportError:
        sys.exit('The example site runs on FastAPI and uvicorn: pip install "kero-analytics[fastapi]" (or run make demo-fastapi).')
    # app.py reads these when it is imported.
    os.environ["KERO_DB_PATH"] = args.db_path
    os.environ.setdefault("KERO_ADMIN_USER", "admin")
    os.environ.setdefault("KERO_ADMIN_PASSWORD", secrets.token_urlsafe(12))
    sys.path.insert(0, str(HERE))
    from app import app, kero

    if not args.no_seed and kero.count(name=None) == 0:
        seed(kero)
    base = f"http://{args.host}:{args.port}"
    print(f"Site:      {base}/", flush=True)
    print(f"Dashboard: {base}{kero.config.dashboard_path}/  (user {os.environ['KERO_ADMIN_USER']!r}, "
          f"password {os.environ['KERO_ADMIN_PASSWORD']!r})", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


def seed(kero: object) -> None:
    """Store a week of synthetic traffic ending now, through the same enrichment as live hits."""
    from kero_core.synthetic import SiteProfile, generate

    print(f"Empty database: adding a week of synthetic traffic ({SEED_EVENTS:,} events)...", file=sys.stderr, flush=True)
    started = time.monotonic()
    stored = kero.ingest(generate(SEED_EVENTS, days=7, seed=int(time.time()), site=SiteProfile(paths=60, referrer_domains=80, countries=40)))  # type: ignore[attr-defined]
    print(f"Stored {stored:,} events in {time.monotonic() - started:.1f} s.", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
