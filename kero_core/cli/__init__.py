"""The ``kero`` command: try Kero (``demo``), look at a database without the app (``serve``,
``stats``, ``doctor``), bring history in (``import``, ``seed``) and data out (``export``),
apply a retention (``prune``) and move a history into the lake (``lake push``). ``kero COMMAND --help`` documents each command.

A command's module is imported only when that command runs, so ``kero --help`` and ``kero
--version`` answer without loading DuckDB and Arrow."""

from __future__ import annotations

import errno
import importlib
from typing import Any, Sequence

import click

# name -> (module in kero_core.cli, function, the one-line help that `kero --help` lists)
COMMANDS = {
    "demo": ("serving", "demo", "Seed a synthetic history and serve a demo site with Kero and its dashboard."),
    "serve": ("serving", "serve", "Serve the dashboard of a database, read-only, without the app."),
    "import": ("data", "import_", "Import web server access logs (nginx, Apache, Caddy; plain, .gz or stdin)."),
    "seed": ("data", "seed", "Write a realistic synthetic history into a database."),
    "export": ("data", "export_", "Export raw events or the dashboard's aggregates as CSV, Parquet or JSON."),
    "stats": ("reports", "stats", "Print the key figures and the top pages and referrers."),
    "prune": ("data", "prune", "Delete old events now and print how many were removed."),
    "doctor": ("reports", "doctor", "Check a database and print its problems with hints."),
    "annotate": ("annotate", "annotate", "Note a deploy or any moment on the dashboard's chart, or list the notes."),
    "share": ("share", "share", "Create, list and revoke links that open the dashboard read-only without credentials."),
    "lake": ("lake", "lake", "Commands of the scale-out lake: push copies a single-file history into it."),
}


def short_help(name: str) -> str:
    return COMMANDS[name][2]


class _BriefUsageError(click.UsageError):
    """A usage error on one line of stderr, naming the command's help (exit code 2)."""

    def show(self, file: Any = None) -> None:
        where = f" (see '{self.ctx.command_path} --help')" if self.ctx is not None else ""
        message = " ".join(self.format_message().split())  # click lists choices on several lines
        click.echo(f"Error: {message}{where}", err=True)


def _brief(exc: click.UsageError) -> click.UsageError:
    keep = getattr(click.exceptions, "NoArgsIsHelpError", ())  # `kero` alone prints the help
    return exc if isinstance(exc, keep) else _BriefUsageError(exc.format_message(), exc.ctx)


def _translated(exc: Exception, ctx: click.Context) -> click.ClickException | None:
    """The one-line error of a failure a user can cause or meet, None for anything else (a bug,
    which keeps its traceback). The modules named here are loaded already: a command ran."""
    from kero_core.config import KeroConfigError
    from kero_core.dashboard.view import BadRequest
    from kero_core.importer.sources import LogImportError
    from kero_core.store import StoreUnavailable

    if isinstance(exc, (KeroConfigError, BadRequest)):
        return _BriefUsageError(str(exc), ctx)
    if isinstance(exc, (StoreUnavailable, LogImportError)):
        return click.ClickException(str(exc))
    if isinstance(exc, TimeoutError):
        return click.ClickException("the Kero database stayed busy (another process holds it); try again")
    if isinstance(exc, OSError) and exc.errno != errno.EPIPE:  # `kero stats | head`: click leaves quietly
        return click.ClickException(f"{exc.strerror}: {exc.filename}" if exc.strerror and exc.filename else str(exc))
    return None


class KeroGroup(click.Group):
    """Loads commands on demand, and turns the mistakes a user can make and the failures of a busy
    or broken database into one line on stderr: exit code 2 for usage errors, 1 for runtime
    failures, never a traceback."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, function, _ = COMMANDS[cmd_name]
        return getattr(importlib.import_module(f"kero_core.cli.{module}"), function)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, help_text) for name, (_, _, help_text) in COMMANDS.items()])

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as exc:
            raise _brief(exc) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise _brief(exc) from None
        except Exception as exc:
            translated = _translated(exc, ctx)
            if translated is None:
                raise
            raise translated from None


@click.group("kero", cls=KeroGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="kero-analytics", prog_name="kero")
def cli() -> None:
    """Kero: privacy-friendly web analytics stored in an embedded DuckDB file.

    Every command but demo takes --db PATH, the app's db_path folder."""


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``kero`` console script and of ``python -m kero_core``."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="kero")
