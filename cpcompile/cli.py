"""Command line: the only module that prints or exits. See README for exit codes."""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Any

import click

from . import __version__
from .diagnostics import EXIT_CONFIG_ERRORS, EXIT_INTERNAL, EXIT_OK
from .render import FORMATS, render

BUG_REPORTS = "the cpcompile issue tracker (see 'Reporting bugs' in the README)"


class _Cli(click.Group):
    """Turns an unexpected exception into a one-line apology and exit code 3."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, KeyboardInterrupt):
            raise
        except Exception as err:  # noqa: BLE001 - this is the last line of defence
            if os.environ.get("CPCOMPILE_DEBUG"):
                traceback.print_exc()
            click.echo(
                f"cpcompile: internal error ({type(err).__name__}: {err}). Sorry, this is a bug in "
                f"cpcompile, not in your config; please report it to {BUG_REPORTS} with the command "
                "you ran (set CPCOMPILE_DEBUG=1 for the traceback).",
                err=True,
            )
            ctx.exit(EXIT_INTERNAL)


ROOT = click.argument(
    "root", required=False, default=".", type=click.Path(exists=True, file_okay=False, path_type=Path)
)


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cpcompile")
def cli() -> None:
    """Validate and compile Custom Personalization destinations kept as YAML in git."""


@cli.command()
@ROOT
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option("--strict", is_flag=True, help="Warnings fail too (exit 1).")
@click.pass_context
def validate(ctx: click.Context, root: Path, fmt: str, strict: bool) -> None:
    """Check the config under ROOT (default: .) and report every problem at once.

    Exit status: 0 clean, 1 config errors (or warnings with --strict), 2 usage error,
    3 internal error.
    """
    from .validate import validate_tree

    result = validate_tree(root)
    click.echo(render(result.diagnostics, fmt, files_checked=len(result.files)), nl=False)
    ctx.exit(result.exit_code(strict=strict))


@cli.command()
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), default=Path("docs/schemas"), show_default=True
)
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if the files there are stale.")
@click.pass_context
def schema(ctx: click.Context, out: Path, check: bool) -> None:
    """Write JSON Schemas of the config file kinds (for editors and CI)."""
    from .atomic import write_atomic
    from .schemas import config_schemas, stale

    expected = config_schemas()
    outdated = stale(out, expected)
    if check:
        for name in outdated:
            click.echo(f"{out / name}: stale; run `cpcompile schema --out {out}`", err=True)
        ctx.exit(EXIT_CONFIG_ERRORS if outdated else EXIT_OK)
    out.mkdir(parents=True, exist_ok=True)
    for name in outdated:
        write_atomic(out / name, expected[name])
        click.echo(f"wrote {out / name}")
    ctx.exit(EXIT_OK)


def main() -> None:
    cli(prog_name="cpcompile")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
