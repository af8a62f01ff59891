"""The ``kero`` command: try Kero (``demo``), look at a database without the app (``serve``,
``stats``, ``doctor``), bring history in (``import``, ``seed``) and data out (``export``), and
apply a retention (``prune``). ``kero COMMAND --help`` documents each command."""

from __future__ import annotations

from typing import Sequence

import click

from kero_core.cli.common import KeroGroup
from kero_core.cli.data import export_, import_, prune, seed
from kero_core.cli.reports import doctor, stats
from kero_core.cli.serving import demo, serve


@click.group("kero", cls=KeroGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="kero", prog_name="kero")
def cli() -> None:
    """Kero: privacy-friendly web analytics stored in an embedded DuckDB file.

    Every command but demo takes --db PATH, the app's db_path folder."""


for command in (demo, serve, import_, seed, export_, stats, prune, doctor):
    cli.add_command(command)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``kero`` console script and of ``python -m kero_core``."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="kero")
