"""The ``cpcompile`` command: ``validate``, ``test`` and ``fmt`` go to a running validation
daemon when there is one (daemon_client.py, before the command line itself is even imported);
everything else, and a command no daemon takes, runs the command line here (cli.py)."""

from __future__ import annotations

import os
import sys

# the commands a daemon runs: short, and what a pre-commit hook runs on every commit; here, so
# that other commands import nothing more to tell
DAEMON_COMMANDS = ("validate", "test", "fmt")


def main() -> None:
    args = sys.argv[1:]
    if args[:1] and args[0] in DAEMON_COMMANDS:
        from .daemon_client import run_by_daemon

        status = run_by_daemon(args, os.environ)
        if status is not None:
            sys.exit(status)
    from .cli import main as command_line

    command_line()
