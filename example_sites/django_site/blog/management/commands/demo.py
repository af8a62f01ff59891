"""``manage.py demo``: the example in one command.

It migrates the SQLite database, creates (or resets) the demo staff user, seeds Kero with a week
of synthetic traffic when its database is empty, prints the URLs and the credentials, and serves
the site with runserver (no autoreloader: the printed password must stay valid)."""

from __future__ import annotations

import os
import secrets
import time
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse

from kero_core.synthetic import SiteProfile, generate
from kero_core.http import listen_problem
from kero_django import get_kero

SEED_EVENTS = 20_000
# A small site: a few dozen pages, referrers and countries (real GeoLite2 networks).
SEED_SITE = SiteProfile(paths=60, referrer_domains=80, countries=40)


class Command(BaseCommand):
    help = "Set up and serve the Kero example site (seeding a demo week on an empty Kero database)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")), help="port (default: 8000, or $PORT)")
        parser.add_argument("--events", type=int, default=SEED_EVENTS, help=f"synthetic events for an empty database (default: {SEED_EVENTS:,}; 0: none)")

    def handle(self, *args: Any, host: str, port: int, events: int, **options: Any) -> None:
        problem = listen_problem(host, port)
        if problem:  # before seeding, and before printing credentials that would not work
            raise CommandError(f"{problem}; choose another port: make demo-django PORT={port + 1} (or --port {port + 1})")
        call_command("migrate", verbosity=0, interactive=False)
        user, password = self._staff_user()
        if events and get_kero().count(name=None) == 0:
            self._seed(events)
        base = f"http://{host}:{port}"
        self.stdout.write(f"Site:      {base}/")
        self.stdout.write(f"Dashboard: {base}{reverse('kero:dashboard', kwargs={'subpath': ''})}  (staff user {user!r}, password {password!r})")
        self.stdout.write(f"Admin:     {base}{reverse('admin:index')}")
        self.stdout.flush()
        call_command("runserver", f"{host}:{port}", use_reloader=False, skip_checks=True)

    def _staff_user(self) -> tuple[str, str]:
        """The demo staff user, with the password of DEMO_ADMIN_PASSWORD or a new random one."""
        name = os.environ.get("DEMO_ADMIN_USER", "admin")
        password = os.environ.get("DEMO_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        user, _ = get_user_model().objects.get_or_create(username=name)
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        return name, password

    def _seed(self, events: int) -> None:
        """A week of synthetic traffic ending now, enriched exactly like live requests."""
        self.stderr.write(f"Empty Kero database: adding a week of synthetic traffic ({events:,} events)...")
        started = time.monotonic()
        stored = get_kero().ingest(generate(events, days=7, seed=int(time.time()), site=SEED_SITE))
        self.stderr.write(f"Stored {stored:,} events in {time.monotonic() - started:.1f} s.")
