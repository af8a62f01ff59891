"""``kero share``: links that open a read-only dashboard without credentials."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote

import click

from kero_core.cli import short_help
from kero_core.cli.common import Span, db_option, open_kero, table

URL_HELP = "The dashboard's URL (its dashboard_path, or the whole https://.../_kero), which the link starts with."


@click.group("share", short_help=short_help("share"))
def share() -> None:
    """Shared links: a long random token in a URL that opens the dashboard read-only, without
    credentials, optionally locked to filters, until it expires or is revoked. Only a hash of
    each token is stored: the URL is printed once, by create."""


@share.command("create")
@db_option(existing=False)
@click.option("--filters", default="", metavar="QUERY",
              help="Filters the link is locked to, as in the dashboard's URL: 'country=CH&path!=/admin'.")
@click.option("--expires", type=Span(), default=None, help="Expire after this long (30m, 12h, 30d, 2w); default: never.")
@click.option("--url", "base", default="/_kero", show_default=True, metavar="URL", help=URL_HELP)
def create(db_path: Path, filters: str, expires: timedelta | None, base: str) -> None:
    """Create a shared link and print its URL (shown only now) and its id (for revoke)."""
    with open_kero(db_path) as kero:
        try:
            link, token = kero.create_share(filters, expires)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--filters") from None
    click.echo(f"{base.rstrip('/')}/share/{token}/")
    until = f"until {link.expires_at:%Y-%m-%d %H:%M} UTC" if link.expires_at else "until revoked"
    locked = f", locked to {unquote(link.filters)}" if link.filters else ""
    click.echo(f"Shared link {link.id}: read-only, {until}{locked}. Revoke it with: kero share revoke --db {db_path} {link.id}",
               err=True)


@share.command("list")
@db_option(existing=False)
def list_(db_path: Path) -> None:
    """List the shared links (their tokens are not stored, so not shown)."""
    with open_kero(db_path) as kero:
        links, now = kero.shares(), kero.now()
    if not links:
        click.echo("No shared links.")
        return
    rows = [(link.id, link.status(now), f"{link.created_at:%Y-%m-%d %H:%M}",
             f"{link.expires_at:%Y-%m-%d %H:%M}" if link.expires_at else "never", unquote(link.filters) or "(none)")
            for link in links]
    click.echo(table(["id", "status", "created (UTC)", "expires (UTC)", "locked filters"], rows))


@share.command("revoke")
@db_option(existing=False)
@click.argument("link_id", metavar="ID")
def revoke(db_path: Path, link_id: str) -> None:
    """Revoke the shared link ID now: its URL answers 403 from the next request."""
    with open_kero(db_path) as kero:
        revoked = kero.revoke_share(link_id)
    if revoked is None:
        raise click.BadParameter(f"no shared link has the id {link_id!r} (see kero share list)", param_hint="ID")
    click.echo(f"Revoked shared link {link_id}.")
