"""``cpcompile daemon start|stop|status``: the validation daemon's command line (daemon.py)."""

from __future__ import annotations

import os

import click

from .diagnostics import EXIT_USAGE


@click.group("daemon")
def daemon_group() -> None:
    """A resident process that validates without start-up cost.

    While it runs, `cpcompile validate`, `test` and `fmt` hand each run to it: the same output,
    files and exit status, without the 0.05-0.15 s a new process spends on imports. It serves this user and this installation only, and stops after IDLE seconds without
    work. CPCOMPILE_DAEMON=0 makes those commands run by themselves anyway.
    """


@daemon_group.command("start")
@click.option("--idle", type=click.IntRange(1, 86_400), default=900, show_default=True, help="Seconds without work before it stops.")
def start_command(idle: int) -> None:
    """Start the daemon for this installation, unless it is running."""
    from .daemon_control import DaemonError, start

    try:
        pid, started = start(os.environ, idle)
    except DaemonError as err:
        raise _DaemonProblem(str(err)) from None
    click.echo(f"{'started' if started else 'already running'}: validation daemon, process {pid}")


@daemon_group.command("stop")
def stop_command() -> None:
    """Stop the daemon for this installation, if it is running."""
    from .daemon_control import stop

    pid = stop(os.environ)
    click.echo(f"stopped: validation daemon, process {pid}" if pid else "not running")


@daemon_group.command("status")
@click.pass_context
def status_command(ctx: click.Context) -> None:
    """Say whether the daemon for this installation is running (exit status 0) or not (1)."""
    from .daemon_control import status
    from .daemon_client import address

    pid = status(os.environ)
    click.echo(f"running: validation daemon, process {pid}, at {address(os.environ)}" if pid else "not running")
    ctx.exit(0 if pid else 1)


class _DaemonProblem(click.ClickException):
    exit_code = EXIT_USAGE
