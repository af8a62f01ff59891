"""``kero annotate``: note a moment (a deploy, a campaign) on the dashboard's chart, or list the notes."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from kero_core.cli import short_help
from kero_core.cli.common import Moment, db_option, open_kero, table


@click.command("annotate", short_help=short_help("annotate"))
@db_option(existing=False)
@click.option("--at", "at", type=Moment(), default=None, help="When it happened (UTC), YYYY-MM-DD[THH:MM]; default: now.")
@click.option("--list", "listing", is_flag=True, help="List the annotations instead of adding one.")
@click.argument("text", required=False)
def annotate(db_path: Path, at: datetime | None, listing: bool, text: str | None) -> None:
    """Add an annotation TEXT (e.g. "v1.4 deployed"), shown as a marker on the dashboard's chart
    and listed under it; with --list, print every annotation."""
    if listing:
        if text is not None or at is not None:
            raise click.UsageError("--list takes no TEXT and no --at.")
        with open_kero(db_path) as kero:
            found = kero.annotations()
        click.echo(table(["at (UTC)", "text"], [(f"{a.at:%Y-%m-%d %H:%M}", a.text) for a in found])
                   if found else "No annotations yet.")
        return
    if text is None:
        raise click.UsageError('give the annotation\'s TEXT, e.g. kero annotate --db ./kero "v1.4 deployed".')
    with open_kero(db_path) as kero:
        try:
            added = kero.annotate(text, at)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="TEXT") from None
    click.echo(f"Annotated {added.at:%Y-%m-%d %H:%M} UTC: {added.text}")
