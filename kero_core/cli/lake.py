"""``kero lake``: commands of the scale-out lake; ``push`` moves a single-file history into it."""

from __future__ import annotations

from pathlib import Path

import click

from kero_core.cli import short_help
from kero_core.cli.common import KEEP_EVERYTHING, Progress, existing_db_option, lake_data_path_option, lake_option, rate
from kero_core.config import make_config


@click.group("lake", short_help=short_help("lake"))
def lake() -> None:
    """Commands of the lake (several hosts, one DuckLake with its catalog in PostgreSQL):
    see docs/scale-out.md."""


@lake.command("push")
@existing_db_option()
@lake_option(required=True)
@lake_data_path_option()
def push(db_path: Path, lake: str, lake_data_path: str | None) -> None:
    """Copy the history of a single-file database (events of every day, today's visitor salt)
    into the lake, one day per transaction. Running it again copies only the days not copied
    yet, so it can be stopped and run again. The lake rolls the days up from their events.

    Order: stop the app, push, start the app with the lake (same db_path: it delivers what its
    spool still holds). Events the file gains for a day already pushed are reported, not copied.
    The hosts' retention must cover the pushed history, or their maintainer deletes it."""
    from kero_core.lake.push import push as push_history

    config = make_config(db_path=db_path, lake=lake, lake_data_path=lake_data_path, retention=KEEP_EVERYTHING)
    with Progress("Pushing", None, "events") as bar:
        done = [0]

        def advance(events: int, days: int) -> None:
            done[0] += events
            bar.update(events, done[0])

        report = push_history(config, progress=advance)
    click.echo(f"Pushed {report.pushed_events:,} events of {report.pushed_days:,} days from {report.source} "
               f"in {report.seconds:.1f} s ({rate(report.pushed_events, report.seconds)} events/s); "
               f"rolled up {report.rolled_up:,} days in the lake.")
    if report.spool_deleted:
        click.echo(f"Deleted {report.spool_deleted:,} spool files the file held already.")
    if report.spool_waiting:
        click.echo(f"{report.spool_waiting:,} spool files in {db_path / 'spool'} hold events the file never stored: "
                   f"the app delivers them to the lake when it starts with the lake and this db_path.")
    if report.skipped_days:
        click.echo(f"Skipped {report.skipped_days:,} days pushed before ({report.skipped_events:,} events).")
    for day in report.salts_adopted:
        click.echo(f"The lake uses this folder's visitor salt of {day}: visitors seen before the move and after it "
                   f"count once.")
    for day in report.salts_kept_by_lake:
        click.echo(f"The lake had its own visitor salt of {day} already: a visitor seen in the file and in the lake "
                   f"that day counts twice.")
    if report.left_out:
        total = sum(report.left_out.values())
        days = ", ".join(f"{day} ({count:,})" for day, count in sorted(report.left_out.items()))
        click.echo(f"Not pushed: {total:,} events the file gained after their day was pushed: {days}. "
                   f"The app wrote to the file after the push; stop its writes to the file before pushing.", err=True)
        raise SystemExit(1)
