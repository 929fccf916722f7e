"""Starting, asking and stopping the validation daemon (daemon.py) from the command line.

``cpcompile daemon start|stop|status`` (daemon_cli.py) and ``validate --daemon`` (cli.py) use
these; the daemon's address and the private folder it lives in are daemon_client.py's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Mapping

from .daemon_client import PROTOCOL, address, connect, is_private, read_int, send_request, supported, switched_off

IDLE_SECONDS = 900
STOP, PING = "stop", "ping"


class DaemonError(RuntimeError):
    """The daemon cannot be started or reached (a usage error)."""


def status(environ: Mapping[str, str]) -> int | None:
    """The process ID of the daemon for this code, if one is running."""
    return _ask(address(environ), PING)


def start(environ: Mapping[str, str], idle_seconds: int = IDLE_SECONDS) -> tuple[int, bool]:
    """(process ID, started now) of the daemon for this code, started if none was running."""
    if not supported():
        raise DaemonError("the validation daemon needs Linux (file descriptors passed over Unix sockets)")
    path = address(environ)
    running = _ask(path, PING)
    if running:
        return running, False
    _spawn(path, environ, idle_seconds)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        running = _ask(path, PING)
        if running:
            return running, True
        time.sleep(0.02)
    raise DaemonError(f"the validation daemon did not start listening at {path} within 30 s")


def start_in_background(environ: Mapping[str, str]) -> None:
    """Start the daemon for this code without waiting for it, or do nothing: never an error,
    for ``validate --daemon``, whose own run has already been answered. Two at once are
    harmless: the second finds the address taken (``serve``) and ends. Nothing with
    CPCOMPILE_DAEMON=0."""
    if switched_off(environ) or not supported():
        return
    path = address(environ)
    if _ask(path, PING):  # the usual case when a daemon ran this validation itself
        return
    try:
        _spawn(path, environ, IDLE_SECONDS)
    except (OSError, DaemonError):
        pass


# what a Unix socket's address may hold (sockaddr_un.sun_path on Linux, its final NUL excluded)
MAX_SOCKET_PATH = 107


def _spawn(path: Path, environ: Mapping[str, str], idle_seconds: int) -> None:
    size = len(os.fsencode(path))
    if size > MAX_SOCKET_PATH:  # else the daemon could not bind, and start would wait in vain
        raise DaemonError(
            f"the daemon's socket {path} would be {size} bytes long, more than the {MAX_SOCKET_PATH} a Unix "
            "socket's address can hold; set CPCOMPILE_DAEMON_DIR to a shorter folder"
        )
    private_folder(path.parent)
    subprocess.Popen(
        [sys.executable, "-m", "cpcompile.daemon", str(path), str(idle_seconds)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        cwd="/", start_new_session=True, env=dict(environ),
    )


def stop(environ: Mapping[str, str]) -> int | None:
    """Stop the daemon for this code; its process ID, or None if none was running."""
    return _ask(address(environ), STOP)


def _ask(path: Path, what: str) -> int | None:
    sock = connect(path)
    if sock is None:
        return None
    with sock:
        try:
            send_request(sock, {"protocol": PROTOCOL, what: True}, [])
            answer = read_int(sock)
        except OSError:
            return None
    return answer if answer and answer > 0 else None


def private_folder(directory: Path) -> None:
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as err:
        raise DaemonError(f"cannot make {directory} for the daemon's socket: {err.strerror or err}") from None
    if not is_private(directory):
        raise DaemonError(
            f"{directory} is not a private folder of this user (mode 0700, owned by you, not a link), so a "
            "socket there cannot be trusted; fix it, or set CPCOMPILE_DAEMON_DIR to one"
        )
